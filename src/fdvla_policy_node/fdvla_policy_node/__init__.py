"""FD-VLA: the model (model/), its dataset format and training. No rclpy import here."""
