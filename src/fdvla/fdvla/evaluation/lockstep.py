"""Lock-step evaluation: one process, no ROS. The sim advances only while no inference is
pending, and a chunk reaches the controller a configured *simulated* latency after its
observation, so a CPU result means what a GPU one does.

Differences from the real-time mode (the real node graph over DDS): observations are rendered
and read directly from the sim at the moment inference starts (no topic transport, no stamp
tolerance, no camera rate), and the inference latency is the configured one, not the measured
one. Everything from the observation on is the same code: the chunk pipeline
(fdvla_policy_node.inference.ChunkPipeline: scheduler, RTC guidance, join, smoothing, chunk
timing) with the policy's default settings, then the controller (ServoController in the
ServoLoop cycle, the sim setup's settings and limits), the sim task's success check.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from fdvla_policy_node.inference import ChunkPipeline, PolicyRunner, Prediction, SchedulerConfig
from fdvla_policy_node.inference.loading import refuse_without_wrench
from fdvla_policy_node.inference.observation import Observation, WrenchHistory
from .results import EpisodeRecord, target_jerk



class PolicyAgent:
    """rollout.Agent: runs the chunk pipeline when its scheduler asks, delivers the chunk
    `latency` s of simulated time later."""

    def __init__(self, pipeline: ChunkPipeline, cameras: dict, instruction: str, latency: float):
        self.pipeline, self.cameras = pipeline, cameras
        self.instruction = instruction
        self.latency = float(latency)
        self.pending: Optional[Prediction] = None
        self.release = 0.0
        self.chunks = 0
        self.switch_times: list = []
        self.predicted_t: list = []
        self.predicted: list = []
        pipeline.scheduler.latency_estimate = self.latency
        # The cameras that render depth are mounted ones (a pointer's scene camera): their
        # calibration, as their camera node publishes it.
        self.calibrations = {k: (c.intrinsics(), c.mounted_pose())
                             for k, c in cameras.items()
                             if c.depth and c.mounted_pose() is not None}
        info = pipeline.runner.info
        # A policy with a force history reads past wrenches: every control cycle's is kept.
        self.wrenches = (WrenchHistory(info.force_history, info.action_dt)
                         if info.needs_wrench and info.force_history > 1 else None)

    def act(self, state, now):
        if self.wrenches is not None and state.wrench is not None:
            self.wrenches.add(now, state.wrench)
        if self.pending is not None:
            if now + 1e-9 < self.release:
                return None
            return self._deliver(state, now)
        if not self.pipeline.should_infer(now, state.tcp_pose.position):
            return None
        frames = {k: c.render() for k, c in self.cameras.items()}
        obs = Observation(stamp=now, images={k: f.rgb for k, f in frames.items()},
                          tcp_pose=state.tcp_pose, q=state.q, instruction=self.instruction,
                          wrench=state.wrench if self.wrenches is None else self.wrenches.window(),
                          depths={k: f.depth for k, f in frames.items() if f.depth is not None},
                          calibrations=self.calibrations)
        self.pending, self.release = self.pipeline.predict(obs), now + self.latency
        self.chunks += 1
        inf = self.pending.inference
        if inf.predicted_wrench is not None:
            self.predicted_t.append(now)
            self.predicted.append(inf.predicted_wrench.tolist())
        return self._deliver(state, now) if self.latency <= 0 else None

    def _deliver(self, state, now: float):
        p, self.pending = self.pending, None
        if self.pipeline.arm_moved(p, now, state.tcp_pose.position):
            self.pipeline.reset()  # as the node does: the arm moved while the policy thought
            return None
        self.pipeline.delivered(p, now)
        self.switch_times.append(now)
        return p.chunk


def _oracle_localise(oracle, task):
    """The localiser interface (scene image -> position, yaw) answered from the task's truth."""
    return lambda _image: oracle.localise_target(task.target())


def evaluate_lockstep(runner: PolicyRunner, task: str, episodes: int, *, seed: int = 0,
                      sensorless: bool = False, timeout: float = 15.0, latency: float = 0.1,
                      scheduler_config: SchedulerConfig | None = None, video_dir=None,
                      video_fps: float = 15.0, progress=None,
                      success_hold: float = 0.3,
                      physics: str = "nominal",
                      appearance: str = "nominal",
                      placement: str = "nominal",
                      oracle=None, on_episode_start=None) -> list[EpisodeRecord]:
    """`oracle` (an OracleLocaliser): a ViTaL agent localises with the task's true target plus
    its noise instead of its learned localiser (the ablation). `on_episode_start(task)`: called
    with the sim task after each reset (the residual trainer reads its progress)."""
    from fdvla_drivers.camera.sim_camera import SimCamera
    from fdvla.config import load_setup
    from fdvla.config import controller_settings
    from fdvla_drivers.control.controller import SAFETY_STOP_KEYS, ServoController
    from fdvla_drivers.robot.sim_backend import SimRobotBackend
    from fdvla_drivers.control.rollout import run_episode

    info = runner.info
    setup_name = "sim_sensorless" if sensorless else "sim"
    refuse_without_wrench(info.variant, not sensorless, setup_name)
    backend = SimRobotBackend(task, realtime=False, has_wrench=not sensorless,
                              task_physics=physics, task_placement=placement)
    backend.connect()
    # The controller settings and safety limits of the simulated setup, as the graph runs them.
    setup = load_setup(setup_name)
    limits = controller_settings(setup.get("controller"), setup.get("safety"),
                                 backend.servo_period)
    cams = {}
    for name in info.camera_names:
        h, w = info.camera_sizes.get(name, (240, 320))
        # The setup says which of the cell's cameras plays each role (kinect -> scene).
        role = (setup.get("cameras") or {}).get(name) or {}
        cams[name] = SimCamera(backend, role.get("camera", name), width=w, height=h,
                               appearance=appearance,
                               depth=name in getattr(runner, "depth_cameras", ()))
        cams[name].start()
    video_cam = (SimCamera(backend, "scene", width=320, height=240, appearance=appearance)
                 if video_dir else None)
    if video_cam:
        video_cam.start()
    records = []
    try:
        for k in range(episodes):
            backend.reset(seed=seed + k)
            runner.reset()  # a new episode (a ViTaL agent localises again)
            if oracle is not None:
                runner.localise = _oracle_localise(oracle, backend.task)
            if on_episode_start is not None:
                on_episode_start(backend.task)
            agent = PolicyAgent(ChunkPipeline(runner, scheduler_config), cams,
                                backend.task.instruction, latency)
            t_list, p_list, w_t, w_list, frames = [], [], [], [], []
            next_frame = [0.0]

            def on_cycle(rec):
                if rec.target is not None:
                    t_list.append(rec.now)
                    p_list.append(rec.target.position)
                if rec.state.wrench is not None and (not w_t or rec.now - w_t[-1] >= 0.01):
                    w_t.append(rec.now)
                    w_list.append(np.asarray(rec.state.wrench).tolist())
                if video_cam is not None and rec.now >= next_frame[0]:
                    next_frame[0] = rec.now + 1.0 / video_fps
                    frames.append(video_cam.render().rgb)

            controller = ServoController(*limits)
            res = run_episode(backend, controller, agent, max_duration=timeout,
                              replan_period=0.01, on_cycle=on_cycle,
                              success_hold=success_hold)
            bj, j = target_jerk(np.asarray(t_list), np.asarray(p_list), agent.switch_times[1:])
            t0 = t_list[0] if t_list else 0.0
            failure = "" if res.success else _failure(backend.task)
            records.append(EpisodeRecord(
                task=task, episode=k, seed=seed + k, success=bool(res.success),
                duration=float(res.duration), success_time=res.success_time,
                progress=float(res.progress), failure=failure, fault=res.fault,
                chunks=res.chunks_accepted, chunks_rejected=dict(res.chunks_rejected),
                safety_stops={k: v for k, v in controller.rejections.items()
                              if k in SAFETY_STOP_KEYS},
                counters=dict(controller.counters),
                hidden=backend.task.hidden_params(),
                force_quality=backend.task.quality.summary(backend.task.force_band()),
                boundary_jerk=bj, jerk=j,
                wrench_t=[t - t0 for t in w_t], wrench=w_list,
                predicted_t=[t - t0 for t in agent.predicted_t], predicted=agent.predicted))
            if video_cam is not None and frames:
                from .video import write_mp4

                write_mp4(frames, video_dir / f"{task}_{k:03d}.mp4", fps=video_fps)
            if progress is not None:
                progress(records[-1])
    finally:
        for c in cams.values():
            c.stop()
        if video_cam:
            video_cam.stop()
        backend.close()
    return records


def _failure(task) -> str:
    fn = getattr(task, "failure_cause", None)
    try:
        return str(fn()) if fn else "not solved"
    except Exception:  # noqa: BLE001
        return "not solved"
