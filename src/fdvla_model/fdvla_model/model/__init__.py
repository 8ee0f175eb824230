"""FD-VLA model core: configuration, the policy, checkpoints and pretrained-weight loading (no rclpy)."""

from .checkpoint import CheckpointMismatchError
from .configuration_fdvla import VARIANTS, ConfigMismatchError, FDVLAConfig
from .modeling_fdvla import FDVLAPolicy, MissingWrenchError
from .normalize import NormalizationStats

__all__ = [
    "VARIANTS",
    "CheckpointMismatchError",
    "ConfigMismatchError",
    "FDVLAConfig",
    "FDVLAPolicy",
    "MissingWrenchError",
    "NormalizationStats",
]
