"""Process environment the stack needs before rclpy or MuJoCo load."""

import os


def apply_defaults() -> None:
    """Keep DDS discovery on this machine and render offscreen, unless the user chose otherwise.

    Must run before rclpy.init() (the middleware reads these once) and before mujoco imports.
    """
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # Not ROS_LOCALHOST_ONLY: Jazzy deprecates it and lets it override the range above
    # (Humble users set ROS_LOCALHOST_ONLY=1 themselves; see README).
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def tune_interpreter(switch_interval: float = 2e-4) -> None:
    """Let the 500 Hz servo thread get the GIL within ~0.2 ms instead of CPython's default 5 ms.

    With several Python threads busy (cameras, state publishing, the executor), a thread that
    wakes for its servo period otherwise waits up to one full switch interval for the GIL.
    """
    import sys

    sys.setswitchinterval(switch_interval)


def freeze_startup_heap() -> None:
    """Move everything allocated during start-up out of the cyclic GC's reach.

    A full collection over a heap holding rclpy, MuJoCo (and torch, in a policy process) can
    pause every thread for a few hundred milliseconds; the servo loop would see that as a stale
    robot state and stop the arm.
    """
    import gc

    gc.collect()
    gc.freeze()
