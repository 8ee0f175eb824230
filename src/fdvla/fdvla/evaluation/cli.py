"""`fdvla eval`: closed-loop success rate of a policy in the simulated cell."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fdvla_drivers.sim.tasks import PHYSICS, PLACEMENTS, TASK_NAMES
from fdvla_drivers.sim.appearance import SPLITS


def add_eval_parser(sub) -> argparse.ArgumentParser:
    e = sub.add_parser(
        "eval", help="closed-loop success rate of a policy in simulation (JSON + plots)",
        description="Run a policy on held-out randomised placements of simulated tasks (seeded; "
                    "training demos use seeds from 1000) and write results.json, success.png "
                    "(success per task) and wrench.png (measured vs predicted wrench per episode).")
    e.add_argument("--policy", required=True, metavar="CKPT|default")
    e.add_argument("--task", default="button",
                   help=f"task, or several comma-separated, of {', '.join(TASK_NAMES)} "
                        "(default: button)")
    e.add_argument("--episodes", type=int, default=10, help="episodes per task")
    e.add_argument("--robot", default="sim", choices=("sim", "sim_sensorless"))
    e.add_argument("--out", required=True, type=Path, help="output folder")
    e.add_argument("--lockstep", action="store_true",
                   help="ROS-free lock-step mode: the sim waits for each inference, which "
                        "arrives --latency s of simulated time after its observation (CPU "
                        "results mean what GPU ones do). Default: real time over DDS.")
    e.add_argument("--latency", type=float, default=None, metavar="S",
                   help="inference latency to test against: in lock-step the simulated latency "
                        "of every chunk (default 0.1 s); in real time S seconds added to every "
                        "inference of the policy node (policy.extra_latency, default 0)"),
    e.add_argument("--timeout", type=float, default=15.0, metavar="S", help="per episode")
    e.add_argument("--success-hold", type=float, default=0.3, metavar="S",
                   help="an episode ends S seconds after the task succeeded (longer: see what the "
                        "policy does after success, e.g. release, and count its safety stops)")
    e.add_argument("--seed", type=int, default=0, help="first placement seed")
    e.add_argument("--physics", default="nominal", choices=PHYSICS,
                   help="task physics: nominal (the paper's tasks), or force (hidden physical "
                        "parameters per episode that make the measured force necessary; "
                        "docs/study/force_necessity.md)")
    e.add_argument("--split", default="nominal", choices=SPLITS,
                   help="what the cameras see (the paper's generalisation settings): nominal, "
                        "background (a novel work surface colour), lighting (light intensity, "
                        "colour and direction) or distractors (unrelated objects on the table), "
                        "drawn per episode")
    e.add_argument("--placement", default="nominal", choices=tuple(PLACEMENTS),
                   help="where the task's objects are placed: nominal (the demonstrations' box) "
                        "or wide (1.5 times it about the work centre: placements a global "
                        "policy has not seen)")
    e.add_argument("--guidance", choices=("none", "blend", "rtc"), default=None,
                   help="how a new chunk joins the executing one (default: rtc)")
    e.add_argument("--threshold", type=float, default=None,
                   help="executed share of a chunk that starts the next inference")
    e.add_argument("--contact-threshold", type=float, default=None,
                   help="the same while the arm lags the plan in hard contact (default 0.25; "
                        "1: execute a chunk made before the contact to its end)")
    e.add_argument("--smooth", type=int, default=None, metavar="DEGREE",
                   help="polynomial smoothing of each chunk (0: off; default: 3)")
    e.add_argument("--noise-scale", type=float, default=None, metavar="S",
                   help="initial flow noise scale (0: deterministic chunks; default: 1)")
    e.add_argument("--localiser", choices=("learned", "oracle"), default="learned",
                   help="ViTaL checkpoints: the checkpoint's localiser, or the task's true "
                        "target plus --localiser-noise (the ablation; in real time the policy "
                        "node reads it from /sim/task_state)")
    e.add_argument("--localiser-noise", type=float, default=0.0, metavar="M",
                   help="oracle localiser: standard deviation of its x, y (and half of it in z) "
                        "error, m; 0.05 rad per cm on the yaw")
    e.add_argument("--device", default="auto")
    e.add_argument("--video", action="store_true", help="write an MP4 of the scene camera per episode")
    e.set_defaults(func=run_eval)
    return e


def _policy_overrides(args) -> dict:
    """The policy settings this command changes (flat keys of PolicySettings)."""
    d = {"device": args.device}
    if args.guidance:
        d["guidance"] = args.guidance
    if args.threshold is not None:
        d["threshold"] = args.threshold
    if args.contact_threshold is not None:
        d["contact_threshold"] = args.contact_threshold
    if args.smooth is not None:
        d["smooth_degree"] = args.smooth
    if args.noise_scale is not None:
        d["noise_scale"] = args.noise_scale
    if not args.lockstep and args.latency:
        d["extra_latency"] = args.latency
    if not args.lockstep and args.localiser == "oracle":  # lock-step builds its own oracle
        d.update(localiser="oracle", localiser_noise=args.localiser_noise)
    return d


def run_eval(args) -> int:
    from rich.console import Console

    from fdvla_policy_node.inference.loading import PolicyLoadError, resolve_checkpoint
    from .report import write_report

    console = Console(stderr=True, emoji=False)
    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    bad = [t for t in tasks if t not in TASK_NAMES]
    if bad or not tasks:
        print(f"fdvla eval: unknown task {bad or args.task!r}; choose from {TASK_NAMES}",
              file=sys.stderr)
        return 2
    if args.episodes < 1:
        print("fdvla eval: --episodes must be at least 1", file=sys.stderr)
        return 2
    from fdvla_policy_node.inference.agents import vital_manifest

    try:
        vital = vital_manifest(args.policy)
        ckpt = Path(args.policy).expanduser() if vital else resolve_checkpoint(args.policy)
    except PolicyLoadError as e:
        print(f"fdvla eval: {e}", file=sys.stderr)
        return 2
    if args.localiser == "oracle" and not vital:
        print("fdvla eval: --localiser oracle runs a ViTaL checkpoint's agent on the task's "
              "true target; this checkpoint is a single policy", file=sys.stderr)
        return 2
    if not args.localiser_noise >= 0:
        print("fdvla eval: --localiser-noise is a standard deviation (m), >= 0", file=sys.stderr)
        return 2
    from fdvla_policy_node.inference import PolicySettings

    changed = _policy_overrides(args)
    try:
        settings = PolicySettings.from_dict(changed)
    except ValueError as e:
        print(f"fdvla eval: {e}", file=sys.stderr)
        return 2
    latency = args.latency if args.latency is not None else (0.1 if args.lockstep else 0.0)
    from fdvla.config import load_setup
    from fdvla_drivers.robot import has_wrench

    sensorless = not has_wrench(load_setup(args.robot)["robot"])
    video_dir = args.out / "videos" if args.video else None
    records = []
    figures: dict = {}  # real time: the policy node's /diagnostics figures per task
    t_start = time.time()

    def progress(r):
        mark = "[green]ok[/]" if r.success else f"[red]fail[/] {r.failure or r.fault}"
        extra = ""
        if r.safety_stops:
            extra += f", [red]safety stops {r.safety_stops}[/]"
        if r.chunks_rejected:
            extra += f", refused {r.chunks_rejected}"
        console.print(f"  {r.task} #{r.episode} seed {r.seed}: {mark} "
                      f"({r.duration:.1f} s, {r.chunks} chunks{extra})")

    try:
        if args.lockstep:
            from fdvla_policy_node.inference.agents import load_runner
            from fdvla_policy_node.inference.loading import refuse_without_wrench
            from fdvla_policy_node.inference.runner import pick_device
            from .lockstep import evaluate_lockstep

            oracle = None
            if args.localiser == "oracle":
                from fdvla_model.localise import OracleLocaliser

                oracle = OracleLocaliser.with_noise(args.localiser_noise, seed=args.seed)
            runner = load_runner(ckpt, pick_device(args.device), noise_scale=settings.noise_scale,
                                 localise=(lambda view: None) if oracle else None)
            refuse_without_wrench(runner.info.variant, not sensorless, args.robot)
            for task in tasks:
                console.print(f"[bold]{task}[/]: {args.episodes} lock-step episodes "
                              f"(simulated latency {latency * 1e3:.0f} ms)")
                records += evaluate_lockstep(runner, task, args.episodes, seed=args.seed,
                                             sensorless=sensorless, timeout=args.timeout,
                                             latency=latency, scheduler_config=settings.chunking,
                                             video_dir=video_dir, progress=progress,
                                             success_hold=args.success_hold,
                                             physics=args.physics, appearance=args.split,
                                             placement=args.placement, oracle=oracle)
        else:
            from .realtime import evaluate_realtime

            overrides = [f"policy.{k}={v}" for k, v in changed.items()]
            overrides.append(f"robot.task_physics={args.physics}")
            overrides.append(f"robot.appearance={args.split}")
            overrides.append(f"robot.task_placement={args.placement}")
            for task in tasks:
                console.print(f"[bold]{task}[/]: {args.episodes} real-time episodes over DDS "
                              f"(added latency {latency * 1e3:.0f} ms)")
                records += evaluate_realtime(str(ckpt), task, args.episodes, robot=args.robot,
                                             seed=args.seed, timeout=args.timeout,
                                             overrides=overrides, video_dir=video_dir,
                                             log_path=args.out / "logs" / f"graph_{task}.log",
                                             progress=progress, success_hold=args.success_hold,
                                             policy_figures=figures.setdefault(task, {}))
    except PolicyLoadError as e:
        print(f"fdvla eval: {e}", file=sys.stderr)
        return 2
    meta = {"policy": str(ckpt), "mode": "lockstep" if args.lockstep else "realtime",
            "robot": args.robot, "seed": args.seed, "timeout": args.timeout,
            "success_hold": args.success_hold, "physics": args.physics, "split": args.split,
            "placement": args.placement, "latency": latency, "guidance": settings.chunking.guidance,
            "threshold": settings.chunking.threshold,
            "contact_threshold": settings.chunking.contact_threshold,
            "noise_scale": settings.noise_scale,
            "wall_time": time.time() - t_start, "policy_node": figures or None}
    summary = write_report(records, args.out, meta)
    for task, d in summary["tasks"].items():
        band = (f"; contact force in the task's band {100 * d['in_band_share_mean']:.0f} % "
                f"of contact time, peak {d['peak_force_mean']:.0f} N"
                if d.get("in_band_share_mean") is not None else "")
        console.print(f"[bold]{task}[/]: success {d['successes']}/{d['episodes']} "
                      f"({100 * d['success_rate']:.0f} %){band}")
    console.print(f"results: {args.out / 'results.json'}, plots: {args.out / 'success.png'}, "
                  f"{args.out / 'wrench.png'}")
    return 0
