"""The global FD-VLA policy against the ViTaL mode, cell by cell (issue 19; docs/vital.md).

Every cell is one `fdvla eval` of the same held-out placements (seeds from --seed), lock-step
unless --realtime: in-distribution placements, wide placements (1.5x the demonstrations' box),
the appearance splits (camera_moved among them), and the ViTaL ablations (the oracle
localiser, exact or 2 mm off; a local policy without force, given with --vital-no-force; a
pointing localiser, given with --vital-pointer; a local policy trained in frames off its
targets, given with --vital-frame-noise). A cell whose results.json exists is read, not rerun, so an
interrupted run resumes. Writes OUT/vital_comparison_TASK.json and prints the Markdown table.

    python bench/bench_vital.py --task button --vital runs/vital/button_vital --episodes 50 --out runs/vital
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fdvla.study.pipeline import failure_kind
from fdvla.study.report import wilson_interval

#: cell -> (policy role, fdvla eval arguments)
CELLS = {
    "global/nominal": ("global", []),
    "global/wide": ("global", ["--placement", "wide"]),
    "global/background": ("global", ["--split", "background"]),
    "global/lighting": ("global", ["--split", "lighting"]),
    "global/distractors": ("global", ["--split", "distractors"]),
    "global/camera_moved": ("global", ["--split", "camera_moved"]),
    "vital/nominal": ("vital", []),
    "vital/wide": ("vital", ["--placement", "wide"]),
    "vital/background": ("vital", ["--split", "background"]),
    "vital/lighting": ("vital", ["--split", "lighting"]),
    "vital/distractors": ("vital", ["--split", "distractors"]),
    "vital/camera_moved": ("vital", ["--split", "camera_moved"]),
    "vital_pointer/nominal": ("vital_pointer", []),
    "vital_pointer/wide": ("vital_pointer", ["--placement", "wide"]),
    "vital_pointer/camera_moved": ("vital_pointer", ["--split", "camera_moved"]),
    "vital_oracle/nominal": ("vital", ["--localiser", "oracle"]),
    "vital_oracle/wide": ("vital", ["--localiser", "oracle", "--placement", "wide"]),
    "vital_oracle_2mm/nominal": ("vital", ["--localiser", "oracle", "--localiser-noise", "0.002"]),
    "vital_frame_noise/nominal": ("vital_frame_noise", []),
    "vital_frame_noise/wide": ("vital_frame_noise", ["--placement", "wide"]),
    "vital_frame_noise/background": ("vital_frame_noise", ["--split", "background"]),
    "vital_frame_noise/lighting": ("vital_frame_noise", ["--split", "lighting"]),
    "vital_frame_noise/distractors": ("vital_frame_noise", ["--split", "distractors"]),
    "vital_frame_noise/camera_moved": ("vital_frame_noise", ["--split", "camera_moved"]),
    "vital_frame_noise_oracle_2mm/nominal": ("vital_frame_noise", ["--localiser", "oracle",
                                                                   "--localiser-noise", "0.002"]),
    "vital_no_force/nominal": ("vital_no_force", []),
    "vital_no_force/wide": ("vital_no_force", ["--placement", "wide"]),
    "vital_no_force_oracle/nominal": ("vital_no_force", ["--localiser", "oracle"]),
}


def run_cell(cell: str, policy: str, extra: list, args) -> dict:
    folder = args.task if args.physics == "nominal" else f"{args.task}_{args.physics}"
    out = args.out / folder / cell.replace("/", "_")
    results = out / "results.json"
    if not results.exists():
        cmd = [sys.executable, "-m", "fdvla.cli", "eval", "--policy", policy, "--task", args.task,
               "--episodes", str(args.episodes), "--seed", str(args.seed),
               "--timeout", str(args.timeout), "--physics", args.physics,
               "--success-hold", str(args.success_hold), "--out", str(out), *extra]
        if not args.realtime:
            cmd.append("--lockstep")
        print(f"[{cell}] {' '.join(cmd[2:])}", flush=True)
        started = time.time()
        subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        print(f"[{cell}] {time.time() - started:.0f} s", flush=True)
    r = json.loads(results.read_text())
    d = r["tasks"][args.task]
    lo, hi = wilson_interval(d["successes"], d["episodes"])
    failures: dict = {}
    for e in r["episodes"]:
        if not e["success"]:
            why = failure_kind(e.get("failure"))
            failures[why] = failures.get(why, 0) + 1
    return {"successes": d["successes"], "trials": d["episodes"], "wilson_95": [lo, hi],
            "mode": r["mode"], "wall_time_s": r.get("wall_time"), "failures": failures}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="button")
    p.add_argument("--global-policy", default="default", help="the global FD-VLA checkpoint")
    p.add_argument("--vital", required=True, help="the ViTaL checkpoint (fdvla train --vital)")
    p.add_argument("--vital-no-force", default=None,
                   help="a ViTaL checkpoint whose local policy is the no_force variant (ablation)")
    p.add_argument("--vital-pointer", default=None,
                   help="a ViTaL checkpoint whose localiser points (--localiser-output pixel)")
    p.add_argument("--vital-frame-noise", default=None,
                   help="a ViTaL checkpoint whose local policy trained in frames off its targets "
                        "(fdvla train --vital --frame-noise-xy ...)")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=100, help="first held-out placement seed")
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--success-hold", type=float, default=0.3,
                   help="s an episode goes on after success (fdvla eval --success-hold)")
    p.add_argument("--physics", default="nominal", choices=("nominal", "force"),
                   help="task physics (fdvla eval --physics); force: hidden parameters")
    p.add_argument("--realtime", action="store_true", help="real time over DDS, not lock-step")
    p.add_argument("--cells", nargs="*", default=None, choices=tuple(CELLS))
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    policies = {"global": args.global_policy, "vital": args.vital,
                "vital_no_force": args.vital_no_force, "vital_pointer": args.vital_pointer,
                "vital_frame_noise": args.vital_frame_noise}
    table = {}
    for cell in args.cells or CELLS:
        role, extra = CELLS[cell]
        if policies[role] is None:
            continue
        key = args.task if args.physics == "nominal" else f"{args.task}_{args.physics}"
        table[f"{key}/{cell}"] = run_cell(cell, policies[role], extra, args)
    args.out.mkdir(parents=True, exist_ok=True)
    name = args.task if args.physics == "nominal" else f"{args.task}_{args.physics}"
    (args.out / f"vital_comparison_{name}.json").write_text(json.dumps(table, indent=2) + "\n")
    print("| cell | success | Wilson 95 % | failures |\n|---|---|---|---|")
    for cell, d in table.items():
        fails = ", ".join(f"{k} {v}" for k, v in sorted(d["failures"].items())) or "-"
        print(f"| {cell} | {d['successes']}/{d['trials']} | [{d['wilson_95'][0]:.2f}, "
              f"{d['wilson_95'][1]:.2f}] | {fails} |")


if __name__ == "__main__":
    main()
