"""The simulated UR5e cell behind the robot-backend interface.

Two clocks:
- realtime=True: the physics runs paced to the wall clock, `now()` is `time.time()`, and
  `begin_cycle`/`end_cycle` pace the caller's servo loop to wall clock, like ur_rtde's
  initPeriod/waitPeriod, on an absolute schedule (a late wake-up shortens the next wait, so the
  loop's mean rate stays 500 Hz). While a servo loop runs, `begin_cycle` also advances the
  physics to the wall clock, on the servo thread: one thread does the whole cycle, none competes with it
  for the interpreter. Without a servo loop a background thread advances the physics instead.
- realtime=False ("lockstep", for data generation and tests): no thread; `end_cycle` advances
  the physics by exactly one servo period and `now()` is simulation time, so a 500 Hz loop runs
  as fast as the CPU allows.

`servo_tcp` turns the Cartesian target into a joint target by IK seeded with the previous joint
target (so the arm stays on its branch) and the cell's joint servo tracks it with finite
stiffness: pressing a target into a surface produces real contact force.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from fdvla_msgs.types import Pose, RobotState
from fdvla_drivers.robot.base import RobotBackend, RobotBackendError
from fdvla_drivers import ur5e_kinematics as kin
from fdvla_drivers.sim.cell import CellParams, SimCell, SimSnapshot
from fdvla_drivers.sim.tasks import SimTask, make_task

#: Spin (instead of sleeping) for the last this-many seconds before a deadline. Short: a spinning
#: Python thread holds the interpreter lock the other threads of the process need.
_SPIN_MARGIN = 0.0001
#: The physics thread leaves the stepping to the servo loop while one ran this recently (s).
_SERVO_PACED_HOLDOFF = 0.05


def sleep_until(deadline: float, clock=time.perf_counter) -> None:
    """Sleep until `clock() >= deadline`: coarse sleep, then a short spin for precision."""
    remaining = deadline - clock()
    if remaining > _SPIN_MARGIN:
        time.sleep(remaining - _SPIN_MARGIN)
    while clock() < deadline:
        pass


@dataclass
class SimFaultLimits:
    """When the simulated robot protective-stops by itself (like a UR's safety system)."""

    max_force: float = 250.0  # N, external force at the TCP
    #: A servo target the IK cannot reach within this distance is refused with a protective stop.
    max_ik_error: float = 0.01  # m


class SimRobotBackend(RobotBackend):
    servo_period = 0.002

    def __init__(self, task: str | SimTask = "button", seed: int = 0, realtime: bool = True,
                 has_wrench: bool = RobotBackend.has_wrench, tcp_offset: float | None = None,
                 params: CellParams | None = None, fault_limits: SimFaultLimits | None = None,
                 max_lag: float = 0.1, task_physics: str = "nominal",
                 task_start: str = "region", task_placement: str = "nominal"):
        """`task_physics`: "nominal", or "force" (hidden physical parameters per episode that
        make the measured force necessary; see SimTask). `task_start`: where episodes start
        (fdvla_drivers.sim.tasks.STARTS); `task_placement`: where the objects are placed
        (fdvla_drivers.sim.tasks.PLACEMENTS)."""
        self._task = make_task(task, physics=task_physics, start_region=task_start,
                               placement=task_placement) if isinstance(task, str) else task
        self.seed = seed
        self.realtime = realtime
        self.has_wrench = bool(has_wrench)
        self.fault_limits = fault_limits or SimFaultLimits()
        self.max_lag = max_lag
        self.cell = SimCell(self._task, tcp_offset, params)
        steps = self.servo_period / self.cell.timestep
        if abs(steps - round(steps)) > 1e-9 or round(steps) < 1:
            raise ValueError(f"physics timestep {self.cell.timestep} must divide the servo "
                             f"period {self.servo_period}")
        self._steps_per_period = int(round(steps))
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._connected = False
        self._protective_stop = False
        self.fault_reason = ""
        self._clock_offset = 0.0  # wall time minus sim time (realtime mode)
        self._last_servo_q: np.ndarray | None = None
        self._last_servo_t = 0.0
        self._brake_q: np.ndarray | None = None
        self._holding = True
        self.ik_failures = 0
        self.physics_lag_resyncs = 0
        self._snapshot_writer = None  # set by publish_snapshots (renderers in other processes)
        self._new_state = threading.Condition(self._lock)
        self._state_cache = None
        self._cycle_start: float | None = None
        self._servo_paced_at = -np.inf
        self.reset(seed)

    # ------------------------------------------------------------------ properties
    @property
    def task(self) -> SimTask:
        return self._task

    @property
    def model(self):
        return self.cell.model

    @property
    def tcp_offset(self) -> float:
        return self.cell.tcp_offset

    @property
    def sim_time(self) -> float:
        return self.cell.time

    @property
    def connected(self) -> bool:
        return self._connected

    # ------------------------------------------------------------------ lifecycle
    def connect(self) -> None:
        if self._connected:
            return
        self._connected = True
        if self.realtime:
            with self._lock:
                self._clock_offset = time.time() - self.cell.time
            self._running = True
            self._thread = threading.Thread(target=self._physics_loop, name="sim-physics",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._connected = False
        with self._lock:
            if self._snapshot_writer is not None:
                self._snapshot_writer.close()
                self._snapshot_writer = None

    def publish_snapshots(self, name: str) -> None:
        """Write the cell's state to shared memory `name` after every physics step batch, for
        camera renderers in other processes (`fdvla_drivers.sim.shared_snapshot`)."""
        from fdvla_drivers.sim.shared_snapshot import SnapshotWriter

        with self._lock:
            self._snapshot_writer = SnapshotWriter.for_model(name, self.model, self.cell.xml)
            self._snapshot_writer.write(self._stamp(), self.cell.data, self.cell.episode_seed)

    def reset(self, seed: int | None = None, start: Pose | None = None) -> None:
        """Re-randomise the task (and the start pose) from `seed` (default: next seed)."""
        if seed is None:
            seed = self.seed + 1
        self.seed = seed
        with self._lock:
            self._state_cache = None
            self.cell.reset(np.random.default_rng(seed), start, episode=seed)
            self.cell.zero_ft()
            self._protective_stop = False
            self.fault_reason = ""
            self._last_servo_q = None
            if self.realtime:
                self._clock_offset = time.time() - self.cell.time
            if self._snapshot_writer is not None:
                self._snapshot_writer.write(self._stamp(), self.cell.data, self.cell.episode_seed)

    # ------------------------------------------------------------------ clock and pacing
    def now(self) -> float:
        return time.time() if self.realtime else self.cell.time

    def _stamp(self) -> float:
        return self.cell.time + self._clock_offset if self.realtime else self.cell.time

    def begin_cycle(self) -> float:
        if not self.realtime:
            return self.cell.time
        now = time.perf_counter()
        t = now if self._cycle_start is None else self._cycle_start + self.servo_period
        if not now - self.servo_period <= t <= now + self.servo_period:
            t = now  # first cycle, or a stall longer than a period: restart the schedule
        self._cycle_start = t
        # The physics catches up to the wall clock first, so the cycle reads a fresh state
        # (also after a stall of this thread).
        with self._lock:
            self._advance_to_wall_clock_locked()
            self._servo_paced_at = time.monotonic()
        return t

    def end_cycle(self, t_start: float) -> None:
        if self.realtime:
            sleep_until(t_start + self.servo_period)
            return
        with self._lock:
            self._step_locked(self._steps_per_period)

    def wait_for_state(self, after_stamp: float | None, timeout: float) -> bool:
        """Block until the physics has stepped past `after_stamp` (False on timeout), so a
        state publisher publishes each new sample once, right after it exists."""
        with self._new_state:
            return self._new_state.wait_for(lambda: after_stamp is None
                                            or self._stamp() != after_stamp, timeout)

    def step(self, duration: float) -> None:
        """Lockstep only: advance the physics by `duration` seconds, holding the servo target."""
        if self.realtime:
            raise RobotBackendError("step() is for lockstep mode; realtime physics runs itself")
        with self._lock:
            self._step_locked(max(1, int(round(duration / self.cell.timestep))))

    def _physics_loop(self) -> None:
        dt = self.cell.timestep
        while self._running:
            if time.monotonic() - self._servo_paced_at < _SERVO_PACED_HOLDOFF:
                time.sleep(_SERVO_PACED_HOLDOFF / 2)  # the servo loop steps the physics
                continue
            with self._lock:
                self._advance_to_wall_clock_locked()
                next_due = self._stamp() + dt
            remaining = next_due - time.time()
            if remaining > 0:
                time.sleep(remaining)

    def _advance_to_wall_clock_locked(self) -> None:
        dt = self.cell.timestep
        behind = time.time() - self._stamp()
        if behind > self.max_lag:
            # The CPU could not keep up: let simulation time jump instead of racing.
            self._clock_offset += behind - dt
            self.physics_lag_resyncs += 1
            behind = dt
        n = int(behind / dt + 1e-6)
        if n > 0:
            self._step_locked(min(n, 20))

    def _step_locked(self, n: int) -> None:
        if self._last_servo_q is not None and self._stamp() - self._last_servo_t > \
                2 * self.servo_period and np.any(self.cell.qd_des):
            # No new servo target: hold the last one instead of following its velocity on
            # (a UR's servoj/servoL does not extrapolate a stalled command stream).
            self.cell.qd_des = np.zeros(6)
        self.cell.step(n)
        if self._protective_stop and self._brake_q is not None:
            # A UR's protective stop brakes the joints: the arm holds where it stopped (it does
            # not sag or swing under the servo's finite stiffness).
            self.cell.set_joints(self._brake_q)
        if self._snapshot_writer is not None:
            self._snapshot_writer.write(self._stamp(), self.cell.data, self.cell.episode_seed)
        self._new_state.notify_all()
        if not self._protective_stop:
            force = float(np.linalg.norm(self.cell.external_force()))
            if force > self.fault_limits.max_force:
                self._enter_protective_stop_locked(
                    f"external force {force:.0f} N above {self.fault_limits.max_force:.0f} N")

    # ------------------------------------------------------------------ state
    def read_state(self) -> RobotState:
        """The latest sample. Computed once per physics step: the servo loop and the state
        publisher share it (treat it as read-only)."""
        with self._lock:
            stamp = self._stamp()
            cell = self.cell
            q, qd = cell.q, cell.qd
            key = (stamp, self._protective_stop, self._connected, id(cell.ft_bias))
            cached = self._state_cache
            if (cached is not None and cached[0] == key and np.array_equal(cached[1].q, q)
                    and np.array_equal(cached[1].qd, qd)):
                return cached[1]
            wrench = cell.wrench() if self.has_wrench else None
            stopped = self._protective_stop
            state = RobotState(stamp=stamp, q=q, qd=qd,
                               tcp_pose=kin.tcp_pose(q, self.cell.tcp_offset),
                               wrench=wrench, protective_stop=stopped, emergency_stop=False,
                               program_running=self._connected or not self.realtime)
            self._state_cache = (key, state)
            return state

    def snapshot(self) -> tuple[float, SimSnapshot]:
        """(stamp on this backend's clock, copy of what a camera needs), taken under the lock."""
        with self._lock:
            return self._stamp(), self.cell.snapshot()

    # ------------------------------------------------------------------ commands
    def servo_tcp(self, target: Pose) -> None:
        if self._protective_stop:
            return
        with self._lock:
            seed = self.cell.q_des.copy()
        ik = kin.inverse(kin.pose_matrix(target), seed, self.cell.tcp_offset, max_iterations=8,
                         tolerance=1e-8)
        if ik.position_error > self.fault_limits.max_ik_error or not np.all(np.isfinite(ik.q)):
            self.ik_failures += 1
            with self._lock:
                self._enter_protective_stop_locked(
                    f"servo target {np.round(target.position, 3).tolist()} is out of reach")
            return
        with self._lock:
            if self._protective_stop:
                return
            # Velocity feedforward over the time since the previous target (the servo loop may
            # run slower than nominal; dividing by the nominal period would overshoot).
            # On the clock the state is stamped with, which the controller integrates over (it
            # jumps when the physics resyncs after falling behind; bounded like the controller).
            now = self._stamp()
            dt = min(max(now - self._last_servo_t, self.servo_period),
                     10 * self.servo_period)
            if self._last_servo_q is None:
                qd = np.zeros(6)
            else:
                qd = np.clip((ik.q - self._last_servo_q) / dt,
                             -kin.UR5E_MAX_SPEED, kin.UR5E_MAX_SPEED)
            self._last_servo_q = ik.q
            self._last_servo_t = now
            self.cell.set_joint_target(ik.q, qd, ik.jacobian)

    def stop(self) -> None:
        with self._lock:
            self._hold_locked()

    def _hold_locked(self) -> None:
        self.cell.set_joint_target(self.cell.q)
        self._last_servo_q = None

    def zero_ft_sensor(self) -> None:
        with self._lock:
            self._state_cache = None
            self.cell.zero_ft()

    # ------------------------------------------------------------------ faults
    def trigger_protective_stop(self, reason: str = "triggered by request") -> None:
        with self._lock:
            self._enter_protective_stop_locked(reason)

    def unlock_protective_stop(self) -> None:
        """Clear a protective stop (the dashboard's unlockProtectiveStop)."""
        with self._lock:
            self._protective_stop = False
            self.fault_reason = ""
            self._brake_q = None
            self._hold_locked()

    def clear_fault(self) -> str:
        with self._lock:
            if not self._protective_stop:
                return "no protective stop to clear"
            force = float(np.linalg.norm(self.cell.external_force()))
            if force > self.fault_limits.max_force:
                raise RobotBackendError(f"cannot unlock: external force {force:.0f} N is still "
                                        f"above {self.fault_limits.max_force:.0f} N")
            reason = self.fault_reason
        self.unlock_protective_stop()
        return f"protective stop cleared ({reason})"

    def contact_estimate(self) -> float:
        """Contact force from the joint torques, as a real arm's observer estimates it from its
        joint currents and its dynamic model: the servo's torque less what the arm's own motion
        took (SimCell.contact_torque) balances the external wrench, tau = J^T w, so
        w = J^-T tau at the TCP. (The servo's torque alone read the stiff servo's accelerating
        torque as up to hundreds of newtons of contact in free motion.)"""
        with self._lock:
            if self._protective_stop:
                return 0.0
            q, tau = self.cell.q.copy(), self.cell.contact_torque()
        J, _ = kin.jacobian(q, self.cell.tcp_offset)
        wrench = np.linalg.lstsq(J.T, tau, rcond=1e-6)[0]
        return float(np.linalg.norm(wrench[:3]))

    def _enter_protective_stop_locked(self, reason: str) -> None:
        self._protective_stop = True
        self.fault_reason = reason
        self._hold_locked()
        self._brake_q = self.cell.q.copy()
