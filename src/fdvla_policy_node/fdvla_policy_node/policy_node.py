"""The policy node: FD-VLA on the live camera and robot topics, streaming action chunks.

Thin ROS adapter over `fdvla_policy_node.inference` (observation assembly, the runner, the
asynchronous chunk scheduler, the figures). Inference runs in its own thread; the executor's
callbacks only store the latest samples.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, WrenchStamped
from nav_msgs.msg import Path
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float32MultiArray, String
from trajectory_msgs.msg import MultiDOFJointTrajectory

from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_policy_node.inference import (ChunkPipeline, InferenceStats, ObservationAssembler,
                                         ObservationConfig, PolicySettings)
from fdvla_policy_node.inference.agents import load_runner
from fdvla_policy_node.inference.loading import refuse_without_wrench
from fdvla_policy_node.inference.runner import dummy_observation, pick_device

#: s between takes of the robot state while a contact could start an inference early.
CONTACT_CHECK_PERIOD = 0.02


#: The node's settings (one source of defaults: inference/settings.py).
PolicyNodeConfig = PolicySettings


class PolicyNode(Node):
    def __init__(self, config: PolicyNodeConfig, node_name: str = "policy", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        import torch

        self.cfg = config
        device = pick_device(config.device)
        if device == "cpu" and config.torch_threads > 0:
            torch.set_num_threads(config.torch_threads)
        self.oracle = None  # ViTaL ablation in simulation: the task state's true target
        if config.localiser == "oracle":
            from fdvla_model.localise import OracleLocaliser
            from fdvla_policy_node.inference.task_oracle import TaskStateOracle

            self.oracle = TaskStateOracle(OracleLocaliser.with_noise(config.localiser_noise,
                                                                     seed=config.seed))
        self.runner = load_runner(config.checkpoint, device, seed=config.seed,
                                  noise_scale=config.noise_scale,
                                  localise=self.oracle.localise if self.oracle else None)
        self.info = self.runner.info
        # A pointing localiser lifts its pixel with the scene camera's depth and calibration.
        self.depth_cameras = tuple(getattr(self.runner, "depth_cameras", ()))
        refuse_without_wrench(self.info.variant, config.wrench_available, config.setup)
        self.assembler = ObservationAssembler(ObservationConfig(
            cameras=tuple(self.info.camera_names), needs_wrench=self.info.needs_wrench,
            wrench_history=self.info.force_history, wrench_spacing=self.info.action_dt,
            sync_tolerance=config.sync_tolerance, max_age=config.max_age,
            depth_cameras=self.depth_cameras))
        self.pipeline = ChunkPipeline(self.runner, config.chunking)
        self.stats = InferenceStats()
        self.ready = False
        self.error = ""
        self.inference_realtime = False  # SCHED_FIFO granted to the inference thread
        if config.instruction:
            self.assembler.set_instruction(config.instruction)

        for cam in self.info.camera_names:
            self.create_subscription(Image, topics.camera_image_topic(cam),
                                     lambda m, c=cam: self._on_image(c, m), qos.SENSOR_SUB)
        for cam in self.depth_cameras:
            self.create_subscription(Image, topics.camera_depth_topic(cam),
                                     lambda m, c=cam: self._on_depth(c, m), qos.SENSOR_SUB)
            self.create_subscription(CameraInfo, topics.camera_info_topic(cam),
                                     lambda m, c=cam: self._on_camera_info(c, m), qos.SENSOR_SUB)
            self.create_subscription(PoseStamped, topics.camera_extrinsics_topic(cam),
                                     lambda m, c=cam: self._on_extrinsics(c, m), qos.LATCHED)
        # The 500 Hz robot state is read when an observation is assembled, not handed to a
        # Python callback 500 (or 1000) times a second in the interpreter that runs the model:
        # its subscriptions live on a node no executor spins, and the inference thread takes
        # the newest sample from DDS (history depth 1) on demand.
        self._state_node = Node(f"{node_name}_state", context=node_kwargs.get("context"),
                                enable_rosout=False, start_parameter_services=False)
        self._state_subs = [
            (self._state_node.create_subscription(JointState, topics.JOINT_STATES, _unused,
                                                  qos.LATEST), self._on_joints),
            (self._state_node.create_subscription(PoseStamped, topics.TCP_POSE, _unused,
                                                  qos.LATEST), self._on_tcp)]
        if self.info.needs_wrench:  # only the variants that read it subscribe to /wrench
            self._state_subs.append((self._state_node.create_subscription(
                WrenchStamped, topics.WRENCH, _unused, qos.LATEST), self._on_wrench))
        self.create_subscription(String, topics.INSTRUCTION, self._on_instruction, qos.LATCHED)
        if self.oracle is not None:
            self.create_subscription(String, topics.SIM_TASK_STATE, self._on_task_state,
                                     qos.SIM_TASK_STATE)
        self.pub_chunk = self.create_publisher(MultiDOFJointTrajectory, topics.ACTION_CHUNK, qos.COMMAND)
        self.pub_wrench = self.create_publisher(WrenchStamped, topics.PREDICTED_WRENCH, qos.SENSOR_PUB)
        self.pub_token = self.create_publisher(Float32MultiArray, topics.FORCE_TOKEN, qos.SENSOR_PUB)
        self.pub_path = self.create_publisher(Path, topics.PREDICTED_PATH, qos.SENSOR_PUB)
        from diagnostic_msgs.msg import DiagnosticArray

        self._diag_pub = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, qos.DIAGNOSTICS)
        self.create_timer(1.0, self._publish_diagnostics)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="policy-inference", daemon=True)
        log = self.get_logger()
        log.info(f"policy {self.info.path} ({self.info.variant}, chunk {self.info.chunk_size} x "
                 f"{self.info.action_dt:.3f} s) on {device}"
                 f"{' (bf16)' if self.runner.autocast else ''}")
        if not config.instruction:
            log.info(f"no instruction given: waiting for one on {topics.INSTRUCTION}")

    # ------------------------------------------------------------------ inputs
    def _take_state(self) -> None:
        """The newest robot state (and wrench) from DDS into the assembler."""
        for sub, store in self._state_subs:
            with sub.handle:
                taken = sub.handle.take_message(sub.msg_type, False)
            if taken is not None and taken[0] is not None:
                store(taken[0])

    def _on_image(self, cam: str, msg: Image) -> None:
        self._store_frame("image", cam, msg, lambda m: np.array(conv.image_from_msg(m)),
                          self.assembler.set_image)

    def _on_depth(self, cam: str, msg: Image) -> None:
        self._store_frame("depth", cam, msg, conv.depth_from_msg, self.assembler.set_depth)

    def _store_frame(self, kind: str, cam: str, msg: Image, decode, store) -> None:
        try:
            data = decode(msg)
        except ValueError as e:
            self.stats.skip(f"bad_{kind}:{cam}")
            self.error = str(e)
            return
        store(cam, conv.from_ros_time(msg.header.stamp), data)

    def _on_camera_info(self, cam: str, msg: CameraInfo) -> None:
        self.assembler.set_intrinsics(cam, conv.camera_info_from_msg(msg))

    def _on_extrinsics(self, cam: str, msg: PoseStamped) -> None:
        if msg.header.frame_id != topics.BASE_FRAME:
            self.stats.skip(f"extrinsics_not_in_base:{cam}")
            self.error = (f"{topics.camera_extrinsics_topic(cam)} is in frame "
                          f"{msg.header.frame_id!r}, not {topics.BASE_FRAME!r}")
            return
        self.assembler.set_extrinsics(cam, conv.pose_from_msg(msg)[1].as_matrix())

    def _on_joints(self, msg: JointState) -> None:
        stamp, q, _ = conv.joint_state_from_msg(msg)
        self.assembler.set_joints(stamp, q)

    def _on_tcp(self, msg: PoseStamped) -> None:
        stamp, pose = conv.pose_from_msg(msg)
        self.assembler.set_tcp(stamp, pose)

    def _on_wrench(self, msg: WrenchStamped) -> None:
        stamp, w = conv.wrench_from_msg(msg)
        self.assembler.set_wrench(stamp, w)

    def _on_instruction(self, msg: String) -> None:
        if msg.data.strip() and msg.data.strip() != self.assembler.instruction:
            self.get_logger().info(f"instruction: {msg.data.strip()!r}")
        self.assembler.set_instruction(msg.data)

    def _on_task_state(self, msg: String) -> None:
        try:
            self.oracle.update(json.loads(msg.data))
        except (ValueError, TypeError, AttributeError) as e:
            self.stats.skip("bad_task_state")
            self.error = f"{topics.SIM_TASK_STATE}: {e}"

    # ------------------------------------------------------------------ inference thread
    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        log = self.get_logger()
        self._prioritise_inference(log)
        try:
            latency = self.runner.warmup(dummy_observation(self.info), self.cfg.warmup)
        except Exception as e:  # noqa: BLE001 - reported, the node publishes nothing
            self.error = f"warm-up failed: {type(e).__name__}: {e}"
            log.error(self.error)
            return
        self.ready = True
        log.info(f"ready (warm-up inference {latency * 1e3:.1f} ms)")
        last_stamp, last_reason, quiet_until = None, "", 0.0
        last_take = 0.0
        while not self._stop.is_set():
            now = time.time()
            tcp = None
            if self.pipeline.contact_check_due(now):
                # The arm held back by a contact re-plans sooner: state at 50 Hz, not 500.
                if now - last_take >= CONTACT_CHECK_PERIOD:
                    self._take_state()
                    last_take = now
                pose = self.assembler.latest_tcp()
                tcp = None if pose is None else pose.position
            if not self.pipeline.should_infer(now, tcp):
                self._stop.wait(0.002)
                continue
            self._take_state()
            obs, reason = self.assembler.assemble(now)
            if obs is None or obs.stamp == last_stamp:
                if obs is not None:
                    reason = "no_new_frame"
                self.stats.skip(reason)
                if reason != "no_new_frame" and (reason != last_reason or time.monotonic() > quiet_until):
                    # once per reason change, at most every 5 s: the counts are in /diagnostics
                    if time.monotonic() > quiet_until:
                        log.warning(f"no observation: {reason}")
                        quiet_until = time.monotonic() + 5.0
                last_reason = reason
                self._stop.wait(1.0 / 60.0)
                continue
            last_reason = ""
            last_stamp = obs.stamp
            try:
                self._infer_and_publish(obs)
            except Exception as e:  # noqa: BLE001 - counted; the controller holds when chunks stop
                self.error = f"{type(e).__name__}: {e}"
                self.stats.skip("inference_error")
                log.error(f"inference failed: {self.error}")
                self._stop.wait(0.1)

    def _prioritise_inference(self, log) -> None:
        """This (the inference) thread ahead of every normal thread of the machine, on CPU.
        Measured in the running sim graph on 2 cores: in-graph inference 2.7-3.1x its isolated
        time at normal priority, 1.0-1.1x at SCHED_FIFO 10 (bench/bench_policy.py). Not with
        several torch threads: OpenMP workers would inherit it and spin at that priority."""
        import torch

        from fdvla_drivers.environment import fifo_this_thread, servo_priority

        # Always below the servo thread, whatever the two settings say.
        prio = min(self.cfg.inference_priority, servo_priority() - 1)
        if prio <= 0 or self.runner.device.type != "cpu":
            return
        if torch.get_num_threads() != 1:
            log.info(f"inference at normal priority: {torch.get_num_threads()} torch threads "
                     "(policy.inference_priority needs policy.torch_threads=1)")
            return
        refused = fifo_this_thread(prio)
        self.inference_realtime = refused is None
        if refused:
            log.warning(f"inference at normal priority: {refused}. See docs/hardware.md "
                        "(limits.conf rtprio) to permit it.")

    def _infer_and_publish(self, obs) -> None:
        if self.oracle is not None:
            self.oracle.observed(obs.stamps.get(f"camera:{self.runner.settings.scene_camera}"))
        p = self.pipeline.predict(obs)
        if p.dropped_old:
            self.stats.count("old_chunk_not_followed")
        if self.cfg.extra_latency > 0 and self._stop.wait(self.cfg.extra_latency):
            return
        self._take_state()
        tcp = self.assembler.latest_tcp()
        if tcp is not None and self.pipeline.arm_moved(p, time.time(), tcp.position):
            # The arm moved while the policy thought (a reset, a stop, teleop): the chunk would
            # be refused as starting far from it. Drop it and the plan; the next starts afresh.
            self.stats.count("chunk_discarded_arm_moved")
            self.pipeline.reset()
            return
        self.pub_chunk.publish(conv.chunk_to_msg(p.chunk))
        published = time.time()
        self.pub_path.publish(conv.chunk_to_path(p.chunk))
        inf = p.inference
        if inf.predicted_wrench is not None:
            self.pub_wrench.publish(conv.wrench_to_msg(inf.predicted_wrench, obs.stamp))
        if inf.force_token is not None:
            self.pub_token.publish(conv.force_token_to_msg(inf.force_token))
        idle = self.pipeline.delivered(p, published)
        self.stats.record(inf.latency, published - obs.stamp, idle, published)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        s = self.stats.summary()
        if self.error and not self.ready:
            level, msg = "error", self.error
        elif not self.ready:
            level, msg = "warn", "warming up"
        elif self.assembler.instruction is None:
            level, msg = "warn", f"waiting for an instruction on {topics.INSTRUCTION}"
        elif s["chunks"] == 0:
            level, msg = "warn", "ready; no observation yet"
        else:
            level, msg = "ok", (f"{s['chunks_per_s']:.1f} chunks/s, inference p50 "
                                f"{s['inference_ms_p50']:.0f} ms")
        values = {"ready": self.ready, "checkpoint": str(self.info.path), "variant": self.info.variant,
                  "device": str(self.runner.device), "guidance": self.cfg.chunking.guidance,
                  "threshold": self.cfg.chunking.threshold,
                  "inference_realtime": self.inference_realtime,
                  "extra_latency_ms": self.cfg.extra_latency * 1e3, **s,
                  # ViTaL mode: its phase and the localised target (x, y, z, yaw)
                  **{f"vital_{k}": v for k, v in self.runner.status().items()}}
        status = conv.diagnostic_status(f"{self.get_name()}: policy", level, msg, values)
        self._diag_pub.publish(DiagnosticArray(header=conv.header(time.time(), ""), status=[status]))

    def destroy_node(self):
        self._stop.set()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._state_node.destroy_node()
        return super().destroy_node()


def _unused(_msg) -> None:
    """Callback of the state subscriptions; never called (no executor spins their node)."""


def make_policy_node(params: dict, node_name: str = "policy", **node_kwargs) -> PolicyNode:
    return PolicyNode(PolicySettings.from_dict(dict(params)), node_name=node_name, **node_kwargs)
