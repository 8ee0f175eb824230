"""The FD-VLA topic contract. `types` is ROS-free; `topics`, `qos` and `conversions` hold the
ROS side (names, QoS profiles, frame ids, message conversions)."""
