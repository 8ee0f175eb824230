"""Topic and service names and frame ids of the FD-VLA topic contract (ARCHITECTURE.md).

ROS-free constants, so core code and tests can name topics without importing rclpy.
"""

JOINT_STATES = "/joint_states"
TCP_POSE = "/tcp_pose"
WRENCH = "/wrench"
INSTRUCTION = "/fdvla/instruction"
ACTION_CHUNK = "/fdvla/action_chunk"
PREDICTED_WRENCH = "/fdvla/predicted_wrench"
FORCE_TOKEN = "/fdvla/force_token"
PREDICTED_PATH = "/fdvla/predicted_path"
SERVO_TWIST = "/servo/twist"
SPACENAV_TWIST = "/spacenav/twist"
SPACENAV_JOY = "/spacenav/joy"
CONTROLLER_TARGET_POSE = "/controller/target_pose"
DIAGNOSTICS = "/diagnostics"
#: Simulation only (the sim episode contract): JSON task state at 20 Hz, privileged.
SIM_TASK_STATE = "/sim/task_state"

SRV_CONTROLLER_STOP = "/controller/stop"
SRV_CONTROLLER_ENABLE = "/controller/enable"
SRV_CONTROLLER_CLEAR_FAULT = "/controller/clear_fault"
SRV_RECORDER_START = "/recorder/start"
SRV_RECORDER_STOP = "/recorder/stop"
SRV_RECORDER_DISCARD = "/recorder/discard"
#: Simulation only: advance the cell to the next episode (std_srvs/Trigger).
SIM_RESET = "/sim/reset"

#: The two cameras of the cell, by the name that prefixes their topics.
CAMERAS = ("kinect", "wrist")

BASE_FRAME = "base"
TOOL_FRAME = "tool0"
TCP_FRAME = "tcp"


def camera_image_topic(camera: str) -> str:
    return f"/{camera}/color/image_raw"


def camera_info_topic(camera: str) -> str:
    return f"/{camera}/color/camera_info"


def camera_depth_topic(camera: str) -> str:
    """Depth registered to the colour image (optional: only from a camera set to `depth: true`).

    Named as the Azure Kinect ROS driver names its registered depth (`depth_to_rgb`: the depth
    reprojected into the colour camera), not `depth/image_raw`, which there is the depth camera's
    own geometry and resolution: this image shares the colour image's pixels, frame and
    camera_info (`camera_info_topic`), so a colour pixel reads its depth at the same index.
    """
    return f"/{camera}/depth_to_rgb/image_raw"


def camera_extrinsics_topic(camera: str) -> str:
    """The camera's extrinsic calibration (geometry_msgs/PoseStamped, latched): the pose of its
    colour optical frame (`camera_frame`) in `base`, from a camera mounted in the cell (not on
    the arm) whose calibration the setup gives (`cameras.<name>.pose_in_base`) or the simulation
    knows. With `camera_info_topic` and the depth it lifts a pixel into `base` (ViTaL's pointing
    localiser; fdvla_msgs.camera_geometry). The transform a `/tf_static` would carry, as a topic:
    the stack has no tf2."""
    return f"/{camera}/extrinsics"


def camera_frame(camera: str) -> str:
    return f"{camera}_color_optical_frame"
