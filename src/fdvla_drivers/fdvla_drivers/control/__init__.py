"""ROS-free servo control: trajectories from action chunks, the safety layer, the servo loop."""

from fdvla_drivers.control.controller import ControllerConfig, Mode, ServoController, Verdict
from fdvla_drivers.control.safety import MotionLimiter, SafetyLimits
from fdvla_drivers.control.servo_loop import PeriodStats, ServoLoop
from fdvla_drivers.control.trajectory import PoseTrajectory

__all__ = ["ControllerConfig", "Mode", "ServoController", "Verdict", "MotionLimiter",
           "SafetyLimits", "PeriodStats", "ServoLoop", "PoseTrajectory"]
