"""The FD-VLA policy node: a thin ROS adapter (policy_node) over the ROS-free deployment core
(inference/: checkpoint loading, observations, the runner, the chunk pipeline) and the live view
(view/). The model, dataset and training are the `fdvla_model` package."""
