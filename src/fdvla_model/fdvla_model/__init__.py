"""FD-VLA without ROS: the model (model/), the vector spaces it sees (action_space), its dataset
format (dataset/) and training (train/). Nothing here imports rclpy."""

from pathlib import Path

#: The small policy shipped with the package (`--policy default`).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "default"
