"""Does a task need force? The oracle script (reads the wrench) against its blind twin, lock-step.

    .venv/bin/python bench/bench_force_necessity.py --episodes 30 [--task button] [--physics force]

Prints per task and script: successes / episodes with the Wilson 95 % interval, the failure
causes, and the force quality (peak, mean contact force, share of contact time in the task's
force band). Issue 18's bar: oracle >= 90 %, blind fails in at least half the episodes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from fdvla_drivers.environment import apply_defaults

apply_defaults()

from fdvla.config import controller_settings, load_setup  # noqa: E402
from fdvla_drivers.control.controller import ServoController  # noqa: E402
from fdvla_drivers.control.rollout import run_episode  # noqa: E402
from fdvla_drivers.robot.sim_backend import SimRobotBackend  # noqa: E402
from fdvla_drivers.sim.force_scripts import make_force_script  # noqa: E402
from fdvla_drivers.sim.tasks import TASK_NAMES  # noqa: E402
from fdvla.study.report import wilson_interval  # noqa: E402


def run_script(task: str, physics: str, seed: int, reads_wrench: bool,
               max_duration: float = 20.0) -> dict:
    """One lock-step episode of the task's script under the sim setup's controller and limits."""
    setup = load_setup("sim")
    backend = SimRobotBackend(task, seed=seed, realtime=False, task_physics=physics)
    backend.connect()
    try:
        config, limits = controller_settings(setup.get("controller"), setup.get("safety"),
                                             backend.servo_period)
        controller = ServoController(config, limits)
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
    ap.add_argument("--out", type=Path, help="write every episode as JSON here")
    args = ap.parse_args(argv)
    rows = []
    for task in args.task or TASK_NAMES:
        for reads in (True, False):
            t0 = time.monotonic()
            eps = [run_script(task, args.physics, args.seed + i, reads)
                   for i in range(args.episodes)]
            k = sum(e["success"] for e in eps)
            lo, hi = wilson_interval(k, len(eps))
            # Grouped on the cause's words, not its figures ("smeared: pressed 23 N > 16 N").
            causes = Counter((e["failure"] or e["safety_stop"] or "?").split("(")[0]
                             .split(":")[0].strip() for e in eps if not e["success"])
            inband = [e["in_band_share"] for e in eps if e["in_band_share"] is not None]
            row = {"task": task, "script": "oracle" if reads else "blind", "successes": k,
                   "trials": len(eps), "wilson95": [round(lo, 3), round(hi, 3)],
                   "peak_force_mean": round(sum(e["peak_force"] for e in eps) / len(eps), 1),
                   "in_band_share_mean": round(sum(inband) / len(inband), 3) if inband else None,
                   "failures": dict(causes), "wall_s": round(time.monotonic() - t0, 1),
                   "episodes": eps}
            rows.append(row)
            print(f"{task:7s} {row['script']:6s} {k:3d}/{len(eps)} "
                  f"[{lo:.2f}, {hi:.2f}]  peak {row['peak_force_mean']:5.1f} N  in-band "
                  f"{row['in_band_share_mean']}  {dict(causes)}  ({row['wall_s']} s)",
                  flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
