"""Robot and camera backends, the simulated UR5e cell, the servo controller and their nodes."""
