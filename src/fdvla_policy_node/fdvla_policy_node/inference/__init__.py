"""ROS-free core of the policy node: checkpoint loading, observation assembly, inference,
asynchronous chunk scheduling (with blend / RTC-style guidance) and the figures it reports."""

from .loading import PolicyLoadError, load_for_inference, resolve_checkpoint  # noqa: F401
from .observation import Observation, ObservationAssembler, ObservationConfig  # noqa: F401
from .runner import Inference, PolicyRunner  # noqa: F401
from .chunking import ChunkScheduler, SchedulerConfig  # noqa: F401
from .stats import InferenceStats  # noqa: F401
from .settings import PolicySettings  # noqa: F401
from .pipeline import ChunkPipeline, Prediction  # noqa: F401
