"""SpaceMouse teleoperation, the episode recorder and the bag -> dataset tools.

ROS-free cores, thin nodes (docs/demos.md)."""
