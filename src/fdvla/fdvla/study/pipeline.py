"""`fdvla study`: demonstrations -> datasets -> training -> evaluation -> report, with the
project's own commands, resumable stage by stage."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Callable, Optional, Sequence

from fdvla.study.protocol import EVAL_ROBOT, SCALES, StudyScale, get_scale
from fdvla.study.report import CellResult, read_losses, write_report
from fdvla.study.stages import Stage, StageError, StageRunner
from fdvla_drivers.sim.tasks import TASK_NAMES

#: Runs one `fdvla` command line (argv without the program name); raises on failure.
CommandRunner = Callable[[list], None]


def run_fdvla(argv: list) -> None:
    cmd = [sys.executable, "-m", "fdvla.cli", *map(str, argv)]
    # One intra-op thread unless the user chose: the tiny models gain nothing from more, and
    # next to the simulation's processes on a small CPU, OpenMP threads that wait on each other
    # make a training step several times slower (measured 2-10x on the 2-core machine).
    env = {**os.environ}
    env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.run(cmd, env=env)
    if proc.returncode != 0:
        raise StageError(f"command failed (exit {proc.returncode}): fdvla "
                         f"{shlex.join(map(str, argv))}")


def _fresh(folder: Path, keep=("stage.json",)) -> None:
    """An interrupted stage that cannot resume starts again from an empty folder."""
    for p in folder.iterdir():
        if p.name in keep:
            continue
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def analyze_force(policy_dir: Path, dataset_root: Path, out_file: Path) -> None:
    from fdvla.study.force import write_force_trace

    write_force_trace(policy_dir, dataset_root, out_file)


def build_stages(out: Path, scale: StudyScale, run: CommandRunner = run_fdvla,
                 analyze: Callable = analyze_force) -> list:
    out = Path(out)
    stages = []
    for task in scale.tasks:
        demos, data = f"demos/{task}", f"data/{task}"

        def make_demos(folder, task=task):
            _fresh(folder)
            run(["sim-demos", "--task", task, "--episodes", scale.demos, "--seed", scale.seed,
                 "--out", folder / "bags"])

        def make_dataset(folder, demos=demos):
            _fresh(folder)
            run(["dataset", "build", out / demos / "bags", "--out", folder / "dataset",
                 "--fps", scale.fps])

        stages.append(Stage(demos, make_demos, {"task": task, "episodes": scale.demos,
                                                "seed": scale.seed}))
        stages.append(Stage(data, make_dataset, {"from": demos, "fps": scale.fps}))
    # Every task's data first: the real-time demonstrations are the only stages that need the
    # machine to themselves, and their datasets can be looked at before hours of training.
    for task in scale.tasks:
        data = f"data/{task}"
        for variant in scale.variants:
            def train(folder, data=data, variant=variant):
                argv = ["train", "--dataset", out / data / "dataset", "--variant", variant,
                        "--preset", scale.preset, "--steps", scale.train_steps,
                        "--batch-size", scale.batch_size, "--seed", scale.seed,
                        "--chunk-size", scale.chunk_size, "--lr", scale.lr, "--out", folder]
                if any((folder / "checkpoints").glob("step_*")):
                    argv += ["--resume"]  # training picks up where an interruption left it
                run(argv)

            stages.append(Stage(f"train/{task}/{variant}", train,
                                {"data": data, "variant": variant, "preset": scale.preset,
                                 "steps": scale.train_steps, "batch_size": scale.batch_size,
                                 "seed": scale.seed, "chunk_size": scale.chunk_size,
                                 "lr": scale.lr}))

            def force(folder, task=task, variant=variant, data=data):
                analyze(out / "train" / task / variant / "policy", out / data / "dataset",
                        folder / "force.json")

            stages.append(Stage(f"force/{task}/{variant}", force,
                                {"policy": f"train/{task}/{variant}", "data": data}))
    for task in scale.tasks:
        for variant in scale.variants:
            def evaluate(folder, task=task, variant=variant):
                _fresh(folder)
                argv = ["eval", "--policy", out / "train" / task / variant / "policy",
                        "--task", task, "--episodes", scale.eval_episodes,
                        "--robot", EVAL_ROBOT[variant], "--seed", scale.eval_seed,
                        "--timeout", scale.episode_timeout, "--out", folder]
                if scale.lockstep:
                    argv.append("--lockstep")
                run(argv)

            stages.append(Stage(f"eval/{task}/{variant}", evaluate,
                                {"policy": f"train/{task}/{variant}", "robot": EVAL_ROBOT[variant],
                                 "episodes": scale.eval_episodes, "seed": scale.eval_seed,
                                 "timeout": scale.episode_timeout, "lockstep": scale.lockstep}))
    return stages


# ------------------------------------------------------------------------------ reading results
def failure_kind(failure: str) -> str:
    """A checker's failure without its figures, so that episodes group: "button not latched
    (pressed 3.1 of 10.0 mm)" -> "button not latched", "marks left: 3/8" -> "marks left"."""
    return (failure or "unknown").split(" (")[0].split(":")[0].strip()


def fault_kind(fault: str) -> str:
    """What stopped the arm, without the episode's numbers, so that episodes group: "force 60.2 N
    above limit 60.0 N" -> "force # N above limit # N" (the detail in brackets dropped, as for
    the checkers' failures)."""
    return re.sub(r"-?\d+(?:\.\d+)?", "#", fault.split(" (")[0])


def load_cell(folder: Path, task: str, variant: str) -> Optional[CellResult]:
    """One evaluation's outcome from `fdvla eval`'s JSON (None when it has not run)."""
    path = Path(folder) / "results.json"  # written by `fdvla eval`
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    episodes = data.get("episodes", [])
    failures = Counter(failure_kind(e.get("failure")) for e in episodes if not e.get("success"))
    faults = Counter(fault_kind(e["fault"]) for e in episodes if e.get("fault"))
    trace = None
    force_file = Path(folder).parents[2] / "force" / task / variant / "force.json"
    if force_file.is_file():
        trace = json.loads(force_file.read_text())
    return CellResult(task=task, variant=variant,
                      successes=sum(bool(e.get("success")) for e in episodes),
                      trials=len(episodes), failures=failures, faults=faults,
                      force_error=trace.get("force_error") if trace else None,
                      force_trace=trace,
                      progress=[float(e["progress"]) for e in episodes
                                if isinstance(e.get("progress"), (int, float))])


def demonstrations_used(out: Path, scale: StudyScale) -> dict:
    """Episodes per task in the dataset the variants trained on (`dataset build` keeps the
    successful demonstrations only), None where the dataset is not built yet."""
    used = {}
    for task in scale.tasks:
        root = Path(out) / "data" / task / "dataset"
        used[task] = (len([p for p in root.glob("episode_*")
                           if p.is_dir() and not p.name.endswith(".partial")])
                      if (root / "meta.json").is_file() else None)
    return used


def collect(out: Path, scale: StudyScale) -> tuple:
    results, curves = {}, {}
    for task in scale.tasks:
        for variant in scale.variants:
            cell = load_cell(out / "eval" / task / variant, task, variant)
            if cell is not None:
                results[(task, variant)] = cell
            curves[(task, variant)] = read_losses(out / "train" / task / variant / "losses.jsonl")
    return results, curves


# ----------------------------------------------------------------------------------- command
def run_study(out, scale: StudyScale, *, run: CommandRunner = run_fdvla,
              analyze: Callable = analyze_force, redo: Sequence = (),
              command: str = "fdvla study", log=print) -> Path:
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = out / "study.json"
    if plan.is_file():
        earlier = json.loads(plan.read_text()).get("scale") or {}
        if earlier.get("name") != scale.name:
            raise StageError(f"{out} holds a study of another scale ({earlier.get('name')}); "
                             "use a new --out folder")
        # Same scale, other settings (e.g. --eval-episodes): each finished stage checks its own
        # parameters and is refused unless --redo names it, so nothing stale is mixed in.
    stages = build_stages(out, scale, run, analyze)
    runner = StageRunner(out, redo=redo, log=lambda m: tqdm.write(m) if log is print else log(m))
    with tqdm(total=len(stages), desc="study stages", unit="stage") as bar:
        runner.run(stages, progress=lambda name: bar.update(1))
    plan.write_text(json.dumps({"scale": scale.to_json()}, indent=1))  # what the results are of
    results, curves = collect(out, scale)
    timings = {s.name: runner.seconds(s.name) for s in stages}
    timings = {k: v for k, v in timings.items() if v is not None}
    report = write_report(out, scale, results, curves, timings, command,
                          demos_used=demonstrations_used(out, scale))
    log(f"[study] report: {report}")
    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fdvla study",
        description="The paper's comparison (Fig. 6 / Table I) in the simulated cell: scripted "
                    "demonstrations, the four variants trained on the same data, closed-loop "
                    "evaluation, report.md with figures. Re-running the same command resumes: "
                    "finished stages are skipped.")
    p.add_argument("--out", required=True, help="study folder (report.md ends up here)")
    p.add_argument("--scale", default="small", choices=sorted(SCALES),
                   help="toy: seconds, a smoke run; small: about an hour on a CPU; "
                        "paper: the paper's protocol, for a GPU")
    p.add_argument("--tasks", nargs="+", choices=TASK_NAMES, default=None)
    p.add_argument("--variants", nargs="+",
                   choices=("fdvla", "force_token", "no_fdm", "no_force"), default=None)
    p.add_argument("--demos", type=int, default=None, help="override the scale's demos per task")
    p.add_argument("--eval-episodes", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="override the training steps")
    p.add_argument("--redo", nargs="+", default=[], metavar="STAGE",
                   help="run these stages (or prefixes, e.g. eval) again")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    scale = get_scale(args.scale).with_overrides(
        tasks=tuple(args.tasks) if args.tasks else None,
        variants=tuple(args.variants) if args.variants else None,
        demos=args.demos, eval_episodes=args.eval_episodes, train_steps=args.steps)
    try:
        run_study(args.out, scale, redo=args.redo,
                  command="fdvla study " + shlex.join(argv))
    except StageError as e:
        print(f"fdvla study: {e}", file=sys.stderr)
        return 2
    return 0
