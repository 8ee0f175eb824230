"""The episode recorder: one rosbag2 (MCAP) bag per episode from raw CDR messages (ROS-free)."""

from fdvla_teleop.recorder.bag import EpisodeBagWriter, BagWriteError
from fdvla_teleop.recorder.core import EpisodeRecorder, RecorderRefusal

__all__ = ["EpisodeBagWriter", "BagWriteError", "EpisodeRecorder", "RecorderRefusal"]
