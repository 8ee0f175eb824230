"""The controller node: action chunks and servo twists in, 500 Hz servo targets to the robot."""

from __future__ import annotations

import time

from geometry_msgs.msg import PoseStamped, Transform, TwistStamped
from geometry_msgs.msg import Twist as TwistMsg
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import MultiDOFJointTrajectory, MultiDOFJointTrajectoryPoint

from fdvla_drivers.control import ControllerConfig, SafetyLimits, ServoController, ServoLoop
from fdvla_drivers.nodes.common import (DiagnosticsMixin, SequenceGapCounter,
                                        refuse_if_duplicated, subscribe_with_info)
from fdvla_drivers.robot.base import RobotBackend, RobotBackendError
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics


def chunk_bytes_limit(max_points: int) -> int:
    """The most serialized bytes a chunk of `max_points` points may have: each point with one
    transform, velocity and acceleration, 1.4x that for slack, plus 4 KB for the header."""
    def size(n):
        point = MultiDOFJointTrajectoryPoint(transforms=[Transform()], velocities=[TwistMsg()],
                                             accelerations=[TwistMsg()])
        return len(serialize_message(MultiDOFJointTrajectory(joint_names=["tcp"],
                                                             points=[point] * n)))
    per_point = size(2) - size(1)
    return 4096 + int(1.4 * per_point) * max_points


class ControllerNode(DiagnosticsMixin, Node):
    def __init__(self, backend: RobotBackend, config: ControllerConfig | None = None,
                 limits: SafetyLimits | None = None, target_pose_rate: float = 50.0,
                 node_name: str = "controller", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self.backend = backend
        config = config or ControllerConfig(servo_period=backend.servo_period)
        self.controller = ServoController(config, limits or SafetyLimits())
        self.controller.fault_detail_source = lambda: backend.fault_reason
        self.loop = ServoLoop(backend, self.controller)
        self._chunk_gaps = SequenceGapCounter()
        self._twist_gaps = SequenceGapCounter()
        # Chunks arrive serialized and are refused by size before anything is parsed: turning a
        # huge message into Python objects holds the interpreter the servo thread needs (a
        # 50k-point chunk stalled it ~0.1 s even though it was then refused by point count).
        self._chunk_bytes_max = chunk_bytes_limit(self.controller.limits.max_chunk_points)
        subscribe_with_info(self, MultiDOFJointTrajectory, topics.ACTION_CHUNK, self._on_chunk,
                            qos.COMMAND, raw=True)
        subscribe_with_info(self, TwistStamped, topics.SERVO_TWIST, self._on_twist, qos.COMMAND)
        self.create_service(Trigger, topics.SRV_CONTROLLER_STOP, self._on_stop)
        self.create_service(SetBool, topics.SRV_CONTROLLER_ENABLE, self._on_enable)
        self.create_service(Trigger, topics.SRV_CONTROLLER_CLEAR_FAULT, self._on_clear_fault)
        self._created = time.monotonic()
        self.pub_target = self.create_publisher(PoseStamped, topics.CONTROLLER_TARGET_POSE,
                                                qos.SENSOR_PUB)
        self.create_timer(1.0 / target_pose_rate, self._publish_target)
        self.create_timer(0.1, self._drain_events)
        self.setup_diagnostics()
        # Two controllers on one domain would both follow every command: wait out the DDS
        # discovery window and refuse to be the second. Here, before any node of the process
        # starts its threads, so a refused bringup never publishes anything.
        try:
            refuse_if_duplicated(self, topics.SRV_CONTROLLER_STOP,
                                 self._created + self.controller.config.domain_check_wait)
        except BaseException:
            self.destroy_node()
            raise

    def start(self) -> None:
        """Start the servo loop (after everything else in the process is up)."""
        self.loop.start()

    # ------------------------------------------------------------------ inputs

    def _on_chunk(self, raw: bytes, info) -> None:
        # `info` carries the publication sequence number (subscribe_with_info).
        lost = self._chunk_gaps.gap(info)
        if lost:
            self.controller.record_drop("chunk_dropped", lost)
        limit = self.controller.limits.max_chunk_points
        if len(raw) > self._chunk_bytes_max:
            self.controller.record_rejection(
                "too_long", f"action chunk is {len(raw)} bytes serialized (limit "
                f"{self._chunk_bytes_max} bytes for {limit} points); refused unparsed")
            return
        try:
            msg = deserialize_message(raw, MultiDOFJointTrajectory)
        except Exception as e:  # not a MultiDOFJointTrajectory after all
            self.controller.record_rejection("malformed", f"action chunk: {e}")
            return
        if len(msg.points) > limit:  # before converting: a huge message costs nothing more
            self.controller.record_rejection(
                "too_long", f"action chunk has {len(msg.points)} points (limit {limit})")
            return
        try:
            chunk = conv.chunk_from_msg(msg)
        except ValueError as e:
            self.controller.record_rejection("malformed", f"action chunk: {e}")
            return
        self.controller.submit_chunk(chunk, self.backend.now())

    def _on_twist(self, msg: TwistStamped, info) -> None:
        lost = self._twist_gaps.gap(info)
        if lost:
            self.controller.record_drop("twist_dropped", lost)
        try:
            twist = conv.twist_from_msg(msg)
        except ValueError as e:
            self.controller.record_rejection("malformed", f"twist: {e}")
            return
        self.controller.submit_twist(twist, self.backend.now())

    def _on_stop(self, request, response):
        self.controller.stop("stop requested on " + topics.SRV_CONTROLLER_STOP)
        response.success = True
        response.message = "stopped; holding. Call /controller/enable to move again."
        return response

    def _on_clear_fault(self, request, response):
        try:
            done = self.backend.clear_fault()
        except RobotBackendError as e:
            response.success, response.message = False, str(e)
            return response
        state = self.backend.read_state()
        if state.faulted:
            response.success = False
            response.message = f"{done}; the robot still reports a fault"
            return response
        self.controller.clear_fault()
        response.success = True
        response.message = f"{done}. Call {topics.SRV_CONTROLLER_ENABLE} to move again."
        return response

    def _on_enable(self, request, response):
        verdict = self.controller.set_enabled(bool(request.data))
        response.success = verdict.accepted
        response.message = ("armed" if request.data else "disarmed") if verdict.accepted \
            else verdict.detail
        return response

    # ------------------------------------------------------------------ outputs

    def _publish_target(self) -> None:
        target = self.controller.target
        if target is not None and self.controller.armed:
            self.pub_target.publish(conv.pose_to_msg(target, self.backend.now()))

    def _drain_events(self) -> None:
        log = self.get_logger()
        while self.controller.events:
            _, level, text = self.controller.events.popleft()
            # rclpy binds a severity to each call site, so each level needs its own call.
            if level == "error":
                log.error(text)
            elif level == "warn":
                log.warning(text)
            else:
                log.info(text)

    def diagnostic_statuses(self):
        st = self.controller.status()
        loop = self.loop.stats.summary()
        level, msg = "ok", f"{st['mode']}"
        if st["fault"]:
            level, msg = "error", f"stopped: {st['fault']}"
        elif self.loop.errors:
            level, msg = "error", f"servo loop error: {self.loop.last_error}"
        elif loop["cycles"] > 500 and loop["rate_hz"] < 0.95 / self.backend.servo_period:
            level, msg = "warn", f"servo loop at {loop['rate_hz']:.0f} Hz"
        values = {"mode": st["mode"], "armed": st["armed"], "fault": st["fault"],
                  "servo_rate_hz": loop["rate_hz"], "period_err_p50_ms": loop["p50_err_ms"],
                  "period_err_p99_ms": loop["p99_err_ms"], "period_err_max_ms": loop["max_err_ms"],
                  "servo_cycles": loop["cycles"], "loop_errors": self.loop.errors,
                  "rejected_total": sum(st["rejections"].values()),
                  "accepted_chunks": st["accepted"].get("chunk", 0),
                  "accepted_twists": st["accepted"].get("twist", 0),
                  "dropped_chunks": st["counters"].get("chunk_dropped", 0),
                  "path_err_mm": round(st["path_err_mm"], 3),
                  "path_err_max_mm": round(st["path_err_max_mm"], 3),
                  "target_speed_max": round(st["target_speed_max"], 5),
                  "tracking_err_mm": round(st["tracking_err_mm"], 3),
                  "reach_condition": round(st["reach_condition"], 1),
                  "retract_mm": round(st["retract_mm"], 1),
                  "last_rejection": st["last_rejection"][:200]}
        if st["contact_estimate_n"] is not None:
            values["contact_estimate_n"] = round(st["contact_estimate_n"], 1)
        for key in ("twist_scaled", "reach_limited", "chunk_replaced", "chunk_dropped",
                    "twist_dropped", "chunk_retimed", "force_retract"):
            values[key] = st["counters"].get(key, 0)
        values.update({f"rejected.{k}": v for k, v in sorted(st["rejections"].items())})
        return [conv.diagnostic_status(f"{self.get_name()}: controller", level, msg, values)]

    def destroy_node(self):
        self.loop.shutdown()
        return super().destroy_node()

