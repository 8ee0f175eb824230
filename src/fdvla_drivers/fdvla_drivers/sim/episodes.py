"""Many episodes on one running simulated cell (the sim episode contract, ROS-free part).

`SimEpisodes.reset()` advances the cell to the next episode while the controller's servo loop
keeps running: episode k gets seed `base_seed + k` (bringup itself is episode 0), the arm is
placed at the new start pose, the controller's chunk/twist is dropped and its hold target is
re-anchored at the new measured TCP pose, a sim protective stop is cleared, and the controller
is re-armed if it was armed. `task_state()` is what `/sim/task_state` carries.
"""

from __future__ import annotations

import threading
import time
from typing import Optional


class SimEpisodes:
    def __init__(self, backend, controller=None, loop=None, base_seed: Optional[int] = None,
                 rearm_after_fault: bool = True):
        """`backend`: a SimRobotBackend; `controller`/`loop`: the controller node's
        ServoController and ServoLoop in this process (None: no controller to re-anchor).
        `rearm_after_fault`: a controller disarmed by a fault of the previous episode (e.g. a
        sim protective stop) is armed again when that controller arms itself on start."""
        self.backend = backend
        self.controller = controller
        self.loop = loop
        self.base_seed = int(backend.seed if base_seed is None else base_seed)
        self.rearm_after_fault = rearm_after_fault
        self.episode = 0
        self.seed = self.base_seed
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ facts
    def info(self) -> dict:
        task = self.backend.task
        return {"episode": self.episode, "seed": self.seed, "task": task.name,
                "instruction": task.instruction}

    def task_state(self) -> dict:
        backend = self.backend
        task = backend.task
        stamp = backend.read_state().stamp
        success = bool(task.success())
        poses = {name: [*map(float, p.position), *map(float, p.quat_xyzw)]
                 for name, p in task.object_poses().items()}
        return {"stamp": float(stamp), "episode": self.episode, "seed": self.seed,
                "task": task.name, "success": success, "progress": float(task.progress()),
                "fault": str(backend.fault_reason or ""),
                "failure": "" if success else task.failure_cause(),
                "object_poses": poses, "target": task.target(),
                # Privileged, like the object poses: for experts, evaluation and the report.
                "physics": task.physics, "hidden": task.hidden_params(),
                "force_quality": task.quality.summary(task.force_band())}

    # ------------------------------------------------------------------ reset
    def reset(self, timeout: float = 2.0) -> dict:
        """Advance to the next episode; returns `info()`. Raises RuntimeError with the reason."""
        with self._lock:
            ctrl = self.controller
            was_armed = bool(ctrl is not None and ctrl.armed)
            faulted = bool(ctrl is not None and ctrl.fault)
            start_enabled = bool(ctrl is not None and ctrl.config.start_enabled)
            if ctrl is not None:
                # Drop the chunk/twist and stop commanding: the loop holds the old pose.
                ctrl.stop("sim reset: next episode")
                self._wait_cycles(3, timeout)
            k, seed = self.episode + 1, self.base_seed + self.episode + 1
            self.backend.reset(seed)  # clears a sim protective stop; places the arm
            self.episode, self.seed = k, seed
            if ctrl is None:
                return self.info()
            # While disarmed the controller re-anchors its limiter on every state it reads:
            # after a few cycles on the new state it holds the new start pose.
            self._wait_cycles(3, timeout)
            if was_armed or (faulted and start_enabled and self.rearm_after_fault):
                verdict = ctrl.set_enabled(True)
                if not verdict:
                    raise RuntimeError(f"episode {k} ready but the controller refused to arm: "
                                       f"{verdict.detail}")
            return self.info()

    def _wait_cycles(self, n: int, timeout: float) -> None:
        """Wait until the servo loop has run `n` more cycles (no loop: no wait)."""
        loop = self.loop
        if loop is None or getattr(loop, "_thread", None) is None:
            return
        start = loop.stats._n
        t_end = time.monotonic() + timeout
        while loop.stats._n < start + n:
            if time.monotonic() > t_end:
                raise RuntimeError("the servo loop is not running")
            time.sleep(0.001)
