"""`fdvla eval`: closed-loop success rate of a policy in the simulated cell."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

TASKS = ("button", "plug", "wipe")


def add_eval_parser(sub) -> argparse.ArgumentParser:
    e = sub.add_parser(
        "eval", help="closed-loop success rate of a policy in simulation (JSON + plots)",
        description="Run a policy on held-out randomised placements of simulated tasks (seeded; "
                    "training demos use seeds from 1000) and write results.json, success.png "
                    "(success per task) and wrench.png (measured vs predicted wrench per episode).")
    e.add_argument("--policy", required=True, metavar="CKPT|default")
    e.add_argument("--task", default="button",
                   help=f"task, or several comma-separated, of {', '.join(TASKS)} (default: button)")
    e.add_argument("--episodes", type=int, default=10, help="episodes per task")
    e.add_argument("--robot", default="sim", choices=("sim", "sim_sensorless"))
    e.add_argument("--out", required=True, type=Path, help="output folder")
    e.add_argument("--lockstep", action="store_true",
                   help="ROS-free lock-step mode: the sim waits for each inference, which "
                        "arrives --latency s of simulated time after its observation (CPU "
                        "results mean what GPU ones do). Default: real time over DDS.")
    e.add_argument("--latency", type=float, default=0.1, metavar="S",
                   help="simulated inference latency in lock-step mode (default 0.1 s)")
    e.add_argument("--timeout", type=float, default=15.0, metavar="S", help="per episode")
    e.add_argument("--seed", type=int, default=0, help="first placement seed")
    e.add_argument("--guidance", choices=("none", "blend", "rtc"), default=None,
                   help="how a new chunk joins the executing one (default: config/policy.yaml)")
    e.add_argument("--threshold", type=float, default=None,
                   help="executed share of a chunk that starts the next inference")
    e.add_argument("--smooth", type=int, default=None, metavar="DEGREE",
                   help="polynomial smoothing of each chunk (0: off; default: config/policy.yaml)")
    e.add_argument("--noise-scale", type=float, default=None, metavar="S",
                   help="initial flow noise scale (0: deterministic chunks; default: config/policy.yaml)")
    e.add_argument("--device", default="auto")
    e.add_argument("--video", action="store_true", help="write an MP4 of the scene camera per episode")
    e.set_defaults(func=run_eval)
    return e


def _policy_settings(args) -> dict:
    from fdvla.graph import _policy_defaults

    d = _policy_defaults()
    if args.guidance:
        d["guidance"] = args.guidance
    if args.threshold is not None:
        d["threshold"] = args.threshold
    if args.smooth is not None:
        d["smooth_degree"] = args.smooth
    if args.noise_scale is not None:
        d["noise_scale"] = args.noise_scale
    return d


def run_eval(args) -> int:
    from rich.console import Console

    from fdvla_policy_node.inference.checkpoint import PolicyLoadError, resolve_checkpoint
    from .report import write_report

    console = Console(stderr=True, emoji=False)
    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        print(f"fdvla eval: unknown task {bad or args.task!r}; choose from {TASKS}", file=sys.stderr)
        return 2
    if args.episodes < 1:
        print("fdvla eval: --episodes must be at least 1", file=sys.stderr)
        return 2
    try:
        ckpt = resolve_checkpoint(args.policy)
    except PolicyLoadError as e:
        print(f"fdvla eval: {e}", file=sys.stderr)
        return 2
    settings = _policy_settings(args)
    sensorless = args.robot == "sim_sensorless"
    video_dir = args.out / "videos" if args.video else None
    records = []
    t_start = time.time()

    def progress(r):
        mark = "[green]ok[/]" if r.success else f"[red]fail[/] {r.failure or r.fault}"
        console.print(f"  {r.task} #{r.episode} seed {r.seed}: {mark} "
                      f"({r.duration:.1f} s, {r.chunks} chunks)")

    try:
        if args.lockstep:
            from fdvla_policy_node.inference import (PolicyRunner, SchedulerConfig,
                                                     load_for_inference)
            from fdvla_policy_node.inference.runner import pick_device
            from .lockstep import evaluate_lockstep

            policy, info = load_for_inference(ckpt, pick_device(args.device))
            if info.needs_wrench and sensorless:
                raise PolicyLoadError(f"policy variant {info.variant!r} needs the measured wrench "
                                      "at inference; sim_sensorless has no force/torque sensor")
            runner = PolicyRunner(policy, info, noise_scale=float(settings.get("noise_scale", 1.0)))
            sched = SchedulerConfig(threshold=float(settings.get("threshold", 0.6)),
                                    guidance=settings.get("guidance", "none"),
                                    blend_time=float(settings.get("blend_time", 0.3)),
                                    rtc_decay_steps=float(settings.get("rtc_decay_steps", 3.0)),
                                    smooth_degree=int(settings.get("smooth_degree", 0)),
                                    follow_tolerance=float(settings.get("follow_tolerance", 0.05)))
            for task in tasks:
                console.print(f"[bold]{task}[/]: {args.episodes} lock-step episodes "
                              f"(simulated latency {args.latency * 1e3:.0f} ms)")
                records += evaluate_lockstep(runner, task, args.episodes, seed=args.seed,
                                             sensorless=sensorless, timeout=args.timeout,
                                             latency=args.latency, scheduler_config=sched,
                                             video_dir=video_dir, progress=progress)
        else:
            from .realtime import evaluate_realtime

            overrides = [f"policy.{k}={v}" for k, v in settings.items()
                         if k in ("guidance", "threshold", "smooth_degree", "noise_scale")] + [f"policy.device={args.device}"]
            for task in tasks:
                console.print(f"[bold]{task}[/]: {args.episodes} real-time episodes over DDS")
                records += evaluate_realtime(str(ckpt), task, args.episodes, robot=args.robot,
                                             seed=args.seed, timeout=args.timeout,
                                             overrides=overrides, video_dir=video_dir,
                                             progress=progress)
    except PolicyLoadError as e:
        print(f"fdvla eval: {e}", file=sys.stderr)
        return 2
    meta = {"policy": str(ckpt), "mode": "lockstep" if args.lockstep else "realtime",
            "robot": args.robot, "seed": args.seed, "timeout": args.timeout,
            "latency": args.latency if args.lockstep else None,
            "guidance": settings.get("guidance"), "threshold": settings.get("threshold"),
            "wall_time": time.time() - t_start}
    summary = write_report(records, args.out, meta)
    for task, d in summary["tasks"].items():
        console.print(f"[bold]{task}[/]: success {d['successes']}/{d['episodes']} "
                      f"({100 * d['success_rate']:.0f} %)")
    console.print(f"results: {args.out / 'results.json'}, plots: {args.out / 'success.png'}, "
                  f"{args.out / 'wrench.png'}")
    return 0
