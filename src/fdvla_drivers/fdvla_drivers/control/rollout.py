"""Closed-loop episodes: an agent (scripted expert or policy) drives the sim through the
controller, in the same 500 Hz servo loop the controller node runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from fdvla_msgs.types import ActionChunk, Pose, RobotState
from fdvla_drivers.control.controller import ServoController
from fdvla_drivers.control.servo_loop import ServoLoop


class Agent(Protocol):
    def act(self, state: RobotState, now: float) -> Optional[ActionChunk]:
        """The next action chunk (or None to keep the current one)."""


@dataclass(frozen=True)
class CycleRecord:
    """What happened in one servo cycle, for recorders."""

    now: float
    state: RobotState
    target: Optional[Pose]  # None when the controller withheld motion
    chunk: Optional[ActionChunk]  # the chunk submitted this cycle, if any


@dataclass
class EpisodeResult:
    success: bool
    duration: float  # s of the episode's clock
    cycles: int
    success_time: Optional[float] = None  # s after the start when success was first seen
    progress: float = 0.0
    chunks_accepted: int = 0
    chunks_rejected: dict = field(default_factory=dict)
    fault: str = ""


def run_episode(backend, controller: ServoController, agent: Agent, max_duration: float = 20.0,
                replan_period: float = 0.1, on_cycle: Callable[[CycleRecord], None] | None = None,
                success_hold: float = 0.3, stop_on_success: bool = True,
                done_grace: Optional[float] = None) -> EpisodeResult:
    """Run one episode on a connected sim backend; ends `success_hold` s after the task succeeds
    (if `stop_on_success`), `done_grace` s after the agent's `done(now)` (a script whose plan is
    over; None: never), or after `max_duration`."""
    task = backend.task
    t0 = backend.now()
    state = backend.read_state()
    controller.step(state, t0)
    if not controller.armed:
        verdict = controller.set_enabled(True)
        if not verdict:
            raise RuntimeError(f"controller refused to arm: {verdict.detail}")
    next_plan = t0
    cycles = accepted = 0
    rejected: dict = {}
    success_time = None
    submitted: list = [None]  # the chunk submitted in the current cycle, for on_cycle

    def plan(state: RobotState, now: float) -> None:
        nonlocal next_plan, accepted
        submitted[0] = None
        if now < next_plan:
            return
        next_plan += replan_period
        chunk = agent.act(state, now)
        if chunk is None:
            return
        submitted[0] = chunk
        verdict = controller.submit_chunk(chunk, now)
        if verdict:
            accepted += 1
        else:
            rejected[verdict.reason] = rejected.get(verdict.reason, 0) + 1

    record = None
    if on_cycle is not None:
        def record(now: float, state: RobotState, target: Optional[Pose]) -> None:
            on_cycle(CycleRecord(now, state, target, submitted[0]))

    # The same cycle the controller node runs (ServoLoop.run_cycle), with the agent in front.
    loop = ServoLoop(backend, controller, before_step=plan, on_cycle=record)
    fault = ""
    done_since = None
    agent_done = getattr(agent, "done", None) if done_grace is not None else None
    while backend.now() - t0 < max_duration - 0.5 * backend.servo_period:
        target = loop.run_cycle()
        if loop.errors:  # the loop stopped the robot; in an episode that is a bug to surface
            raise RuntimeError(f"servo cycle failed: {loop.last_error}")
        if target is None:
            fault = fault or controller.fault
        now = backend.now()
        cycles += 1
        if task.success():
            if success_time is None:
                success_time = now - t0
            if stop_on_success and now - t0 - success_time >= success_hold:
                break
        else:
            success_time = None
        if agent_done is not None and cycles % 50 == 0:
            if not agent_done(now):
                done_since = None
            elif now - (done_since := done_since or now) >= done_grace:
                break
    return EpisodeResult(success=task.success(), duration=backend.now() - t0, cycles=cycles,
                         success_time=success_time, progress=task.progress(),
                         chunks_accepted=accepted, chunks_rejected=rejected,
                         fault=fault or getattr(backend, "fault_reason", ""))
