"""Closed-loop evaluation of a policy in the simulated cell (`fdvla eval`): lock-step (ROS-free,
simulated inference latency) and real-time (the real node graph over DDS), JSON + plots + MP4."""
