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


#: SCHED_FIFO priority the robot-driver process asks for (FDVLA_RT_PRIORITY; 0: do not ask).
DEFAULT_RT_PRIORITY = 80

#: SCHED_FIFO priority this process's servo threads take when they start (0: none); set by
#: request_realtime once it knows the process may.
_granted_priority = 0


def servo_priority() -> int:
    """The servo thread's SCHED_FIFO priority (FDVLA_RT_PRIORITY; 0 turns every real-time
    request of the graph off, as the tests do)."""
    return int(os.environ.get("FDVLA_RT_PRIORITY", DEFAULT_RT_PRIORITY))


def granted_priority() -> int:
    return _granted_priority


def fifo_this_thread(priority: int) -> str | None:
    """SCHED_FIFO at `priority` for the calling thread only (Linux: pid 0 is the calling thread;
    the process's other threads keep their scheduling). Returns why not, or None."""
    if priority <= 0:
        return None
    if not hasattr(os, "sched_setscheduler"):
        return "no sched_setscheduler on this system"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as e:
        import resource

        return (f"SCHED_FIFO {priority} not permitted ({e.strerror}; rtprio limit "
                f"{resource.getrlimit(resource.RLIMIT_RTPRIO)[0]})")
    return None


def request_realtime(who: str, priority: int | None = None, log=print) -> dict:
    """Real-time scheduling and locked memory for the robot-driver process, where permitted.

    As ur_rtde's examples recommend for its control loop: SCHED_FIFO for the servo thread (it is
    not preempted by ordinary processes) and mlockall (no page fault in the loop). Only the servo
    thread gets the priority (`granted_priority()`; it applies it to itself when it
    starts): in simulation the same process publishes the 500 Hz state and steps the physics, and
    all of that at SCHED_FIFO left one of two cores to everything else, the policy included
    (in-graph inference 5.1x its isolated time, against 2.1x without). Permission is checked here
    on this thread, which then goes back to normal scheduling. Where the limits do not permit it (see
    docs/hardware.md for the limits.conf lines), says so once and returns; nothing else changes.
    Memory is locked only where the memlock limit is unlimited (or the process may ignore it): a
    finite limit would make later allocations fail once reached.
    """
    import ctypes
    import ctypes.util
    import resource

    if priority is None:
        priority = servo_priority()
    result = {"sched_fifo": False, "mlockall": False}
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return result
    global _granted_priority
    problems = []
    refused = fifo_this_thread(priority)
    if refused:
        problems.append(refused)
    else:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # only the servo thread
        _granted_priority = priority
        result["sched_fifo"] = True
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY or os.geteuid() == 0:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        mcl_current, mcl_future = 1, 2
        if libc.mlockall(mcl_current | mcl_future) == 0:
            result["mlockall"] = True
        else:
            problems.append(f"mlockall failed ({os.strerror(ctypes.get_errno())})")
    else:
        problems.append(f"memory not locked (memlock limit {soft // 1024} KiB, not unlimited)")
    if problems:
        log(f"{who}: running without real-time priority: {'; '.join(problems)}. "
            "See docs/hardware.md (limits.conf rtprio/memlock) to permit it.")
    return result

