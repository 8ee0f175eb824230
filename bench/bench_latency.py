"""Success at injected inference latency, real time against lock-step (issue: the deploy loop
must work at any realistic inference latency).

For each latency L: `fdvla eval` in real time over DDS (the graph `fdvla bringup --policy`
runs, the policy node adding L seconds to every inference: policy.extra_latency) and in
lock-step (every chunk arrives L seconds of simulated time after its observation), the same
held-out placements. Prints success per mode, the controller's refusals (start_far above all)
and safety stops, and writes the table to --out/latency.json.

    python bench/bench_latency.py --episodes 20 --latencies 0 0.3 0.6 1.0 --out /tmp/latency

Episodes go on `--success-hold` s (2, as in bringup's episode loop) after success, so what the
policy does after the press (let go, or push on into the force limit) is in the counts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def run_eval(out: Path, args, latency: float, lockstep: bool) -> dict:
    cmd = [sys.executable, "-m", "fdvla.cli", "eval", "--policy", args.policy, "--task", args.task,
           "--episodes", str(args.episodes), "--robot", args.robot,
           # the same placements: real time evaluates seeds seed+1.. (bringup is episode 0)
           "--seed", str(args.seed + 1 if lockstep else args.seed),
           "--timeout", str(args.timeout), "--latency", str(latency), "--out", str(out),
           "--success-hold", str(args.success_hold)]
    if lockstep:
        cmd.append("--lockstep")
    t0 = time.time()
    subprocess.run(cmd, check=True)
    res = json.loads((out / "results.json").read_text())
    d = res["tasks"][args.task]
    return {"successes": d["successes"], "episodes": d["episodes"],
            "refused": d["chunks_rejected"], "safety_stops": d["safety_stops"],
            "mean_success_time": d["mean_success_time"], "wall_s": time.time() - t0,
            "policy_node": (res.get("policy_node") or {}).get(args.task)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default="default")
    ap.add_argument("--task", default="button")
    ap.add_argument("--robot", default="sim", choices=("sim", "sim_sensorless"))
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--success-hold", type=float, default=2.0,
                    help="s an episode goes on after success (bringup's episode loop: 2)")
    ap.add_argument("--latencies", type=float, nargs="+", default=[0.0, 0.3, 0.6, 1.0])
    ap.add_argument("--modes", nargs="+", default=["realtime", "lockstep"],
                    choices=("realtime", "lockstep"))
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    rows = []
    for lat in a.latencies:
        for mode in a.modes:
            r = run_eval(a.out / f"{mode}_{lat:g}", a, lat, mode == "lockstep")
            rows.append({"latency": lat, "mode": mode, **r})
            (a.out / "latency.json").write_text(json.dumps(rows, indent=2) + "\n")
    t = Table(title=f"{a.task}, {a.episodes} held-out placements (seeds {a.seed + 1}-{a.seed + a.episodes})"
                    f" ({a.robot}, policy {a.policy})")
    for c in ("added latency s", "mode", "success", "refused chunks", "safety stops",
              "mean time to success s", "inference p50 ms (node)", "wall s"):
        t.add_column(c)
    for r in rows:
        node = r["policy_node"] or {}
        t.add_row(f"{r['latency']:g}", r["mode"], f"{r['successes']}/{r['episodes']}",
                  str(r["refused"] or "-"), str(r["safety_stops"] or "-"),
                  f"{r['mean_success_time']:.1f}" if r["mean_success_time"] else "-",
                  str(node.get("inference_ms_p50", "-")), f"{r['wall_s']:.0f}")
    Console().print(t)


if __name__ == "__main__":
    main()
