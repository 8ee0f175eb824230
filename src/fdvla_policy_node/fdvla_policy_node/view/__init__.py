"""Live view without ROS installed: the contract topics served to Foxglove over WebSocket."""
