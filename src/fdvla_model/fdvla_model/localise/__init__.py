"""The ViTaL scene localiser (issue 19; "Touch begins where vision ends", arXiv 2506.13762).

ViTaL splits a contact-rich task in two: a localiser finds the task's target in the scene camera
image and the arm reaches a pose above it; a local policy then does the contact. This package is
the first half, ROS-free (docs/vital.md). Its labels (the recorded target pose, or the TCP at
first contact) are the dataset's: fdvla_model.dataset.target_label, re-exported here.

  configuration_localiser.py  LocaliserConfig (strict JSON round trip)
  modeling_localiser.py       SceneLocaliser (CNN + spatial-softmax keypoints -> xyz [+ yaw], or
                              a pointer: one heat map -> the target's pixel, lifted with depth
                              by the caller), save_localiser / load_localiser (safetensors + JSON)
  oracle.py                   OracleLocaliser: truth + seeded noise, for ablations
  train_localiser.py          train_localiser(...) and `python -m fdvla_model.localise.train_localiser`
                              (import it from there: the package does not import the trainer,
                              whose module and function share a name)
"""

from .configuration_localiser import (LOCALISER_FORMAT_VERSION, MIN_POSITION_STD, LocaliserConfig,
                                      LocaliserConfigError)
from fdvla_model.dataset.target_label import CONTACT_FORCE, DatasetLabels, TargetLabel, dataset_targets, episode_target
from .modeling_localiser import (LocaliserLoadError, SceneLocaliser, decode_yaw, encode_yaw,
                                 load_localiser, normalised_to_pixel, pixel_to_normalised,
                                 save_localiser, yaw_error)
from .oracle import OracleLocaliser

__all__ = [
    "CONTACT_FORCE",
    "LOCALISER_FORMAT_VERSION",
    "MIN_POSITION_STD",
    "DatasetLabels",
    "LocaliserConfig",
    "LocaliserConfigError",
    "LocaliserLoadError",
    "OracleLocaliser",
    "SceneLocaliser",
    "TargetLabel",
    "dataset_targets",
    "decode_yaw",
    "encode_yaw",
    "episode_target",
    "load_localiser",
    "normalised_to_pixel",
    "pixel_to_normalised",
    "save_localiser",
    "yaw_error",
]
