"""Does a task need force? The oracle script (reads the wrench) against its blind twin, lock-step.

    .venv/bin/python bench/bench_force_necessity.py --episodes 30 [--task button] [--physics force]
        [--proprioceptive]

Prints per task and script: successes / episodes with the Wilson 95 % interval, the failure
causes, and the force quality (peak, mean contact force, share of contact time in the task's
force band). Issue 18's bar: oracle >= 90 %, blind fails in at least half the episodes.

--proprioceptive adds a third script (button only): the oracle with no wrench at all, reading
the force from the arm's own tracking error instead (the servo's stiffness times how far the
TCP lags the script's command). On a compliant servo that is a force sensor too (the nominal
cell's, 4000 N/m: 29/30 on the button); the `force` physics' stiff servo and compliant tool
leave it 0.4 mm of lag at 40 N (measured: 17/30, against 11/30 for the fixed-depth script).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from fdvla_drivers.environment import apply_defaults

apply_defaults()

from fdvla.config import controller_settings, load_setup  # noqa: E402
from fdvla_drivers.control.controller import ServoController  # noqa: E402
from fdvla_drivers.control.rollout import run_episode  # noqa: E402
from fdvla_drivers.robot.sim_backend import SimRobotBackend  # noqa: E402
from fdvla_drivers.sim.force_scripts import make_force_script  # noqa: E402
from fdvla_drivers.sim.force_scripts.button import ButtonScript  # noqa: E402
from fdvla_drivers.sim.tasks import TASK_NAMES  # noqa: E402
from fdvla.study.pipeline import failure_kind  # noqa: E402
from fdvla.study.report import wilson_interval  # noqa: E402


def tracking_force_script(task, servo_stiffness: float):
    """The button's oracle fed, instead of the wrench, the force the servo's impedance implies:
    stiffness * (TCP z - the script's commanded z), pressing down positive, as the UR reads it."""
    class TrackingForceScript(ButtonScript):
        def act(self, state, now):
            fz = 0.0
            if self.phase != "start":  # once planned, the command is the plan's pose now
                lag = float(state.tcp_pose.position[2]) - float(self._pose(now).position[2])
                fz = max(servo_stiffness * lag, 0.0)
            return super().act(dataclasses.replace(state, wrench=np.array([0, 0, fz, 0, 0, 0.0])),
                               now)

    return TrackingForceScript(task, reads_wrench=True)


def run_script(task: str, physics: str, seed: int, reads_wrench: bool,
               max_duration: float = 20.0, proprioceptive: bool = False) -> dict:
    """One lock-step episode of the task's script under the sim setup's controller and limits
    (proprioceptive: the tracking-force oracle on the sensorless setup)."""
    setup = load_setup("sim_sensorless" if proprioceptive else "sim")
    backend = SimRobotBackend(task, seed=seed, realtime=False, task_physics=physics,
                              has_wrench=not proprioceptive)
    backend.connect()
    try:
        config, limits = controller_settings(setup.get("controller"), setup.get("safety"),
                                             backend.servo_period)
        controller = ServoController(config, limits)
        if proprioceptive:
            script = tracking_force_script(backend.task, backend.cell.gains.cartesian_stiffness[2])
        else:
            script = make_force_script(backend.task, reads_wrench=reads_wrench)
        result = run_episode(backend, controller, script, max_duration=max_duration,
                             done_grace=1.0)
        t = backend.task
        return {"seed": seed, "success": bool(result.success),
                "failure": "" if result.success else t.failure_cause(),
                "fault": str(backend.fault_reason or ""),
                "safety_stop": str(controller.fault or ""),
                "hidden": t.hidden_params(), **t.quality.summary(t.force_band())}
    finally:
        backend.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=TASK_NAMES, action="append")
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--physics", default="force", choices=("nominal", "force"))
    ap.add_argument("--proprioceptive", action="store_true",
                    help="button: also the oracle reading its force from the arm's tracking "
                         "error, without a wrench (the sensorless setup)")
    ap.add_argument("--out", type=Path, help="write every episode as JSON here")
    args = ap.parse_args(argv)
    if args.proprioceptive and (args.task or ["button"]) != ["button"]:
        ap.error("--proprioceptive is built for --task button only")
    rows = []
    for task in args.task or TASK_NAMES:
        scripts = [("oracle", True, False), ("blind", False, False)]
        if args.proprioceptive:
            scripts.append(("tracking", True, True))
        for name, reads, proprio in scripts:
            t0 = time.monotonic()
            eps = [run_script(task, args.physics, args.seed + i, reads, proprioceptive=proprio)
                   for i in range(args.episodes)]
            k = sum(e["success"] for e in eps)
            lo, hi = wilson_interval(k, len(eps))
            causes = Counter(failure_kind(e["failure"] or e["safety_stop"])
                             for e in eps if not e["success"])
            inband = [e["in_band_share"] for e in eps if e["in_band_share"] is not None]
            row = {"task": task, "script": name, "successes": k,
                   "trials": len(eps), "wilson95": [round(lo, 3), round(hi, 3)],
                   "peak_force_mean": round(sum(e["peak_force"] for e in eps) / len(eps), 1),
                   "in_band_share_mean": round(sum(inband) / len(inband), 3) if inband else None,
                   "failures": dict(causes), "wall_s": round(time.monotonic() - t0, 1),
                   "episodes": eps}
            rows.append(row)
            print(f"{task:7s} {row['script']:8s} {k:3d}/{len(eps)} "
                  f"[{lo:.2f}, {hi:.2f}]  peak {row['peak_force_mean']:5.1f} N  in-band "
                  f"{row['in_band_share_mean']}  {dict(causes)}  ({row['wall_s']} s)",
                  flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
