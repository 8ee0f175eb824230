"""QoS profiles of the topic contract.

Publishers are RELIABLE: a reliable writer matches both reliable readers (rviz, rqt and
ros2 bag defaults) and best-effort ones. Our own sensor readers are BEST_EFFORT with a short
history, so a slow reader never back-pressures the 500 Hz / 30 Hz writers and always gets the
newest sample.
"""

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)

#: State, wrench, poses, images, predictions: what a driver or the policy publishes.
SENSOR_PUB = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
#: Reading sensors inside the stack: newest sample wins.
SENSOR_SUB = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
#: Sampled on demand (the policy reads the robot state when it assembles an observation): only
#: the newest sample is kept, nothing queues.
LATEST = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                    reliability=ReliabilityPolicy.BEST_EFFORT,
                    durability=DurabilityPolicy.VOLATILE)
#: Commands (action chunks, servo twists): every message matters, none is replayed late.
COMMAND = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.VOLATILE)
#: The task instruction: a late joiner gets the current one (transient local).
LATCHED = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
DIAGNOSTICS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
#: /sim/task_state: reliable, every reader gets every state (depth 10).
SIM_TASK_STATE = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                            reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.VOLATILE)
