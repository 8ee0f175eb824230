"""`fdvla train-residual`: ViTaL's residual correction learnt in simulation (issue 19, item 5;
docs/vital.md "Residual").

The frozen ViTaL checkpoint runs lock-step episodes (the evaluation's episode loop, on training
placements: seeds from `--seed`, away from the evaluation's 100-149); during the local phase
the residual samples one offset per chunk (fdvla_policy_node.inference.residual). Each decision
is rewarded with the task's progress since the previous one (the plug's insertion depth, the
wipe's erased share, the button's latch), plus `SUCCESS_BONUS` when the episode ends in
success; SAC (fdvla_model.residual.sac) updates after every decision once the buffer is warm.
Writes OUT: a copy of the ViTaL checkpoint with `residual/` and its manifest key, and
`residual_training.json` (per episode: success, progress, return, decisions).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Optional

import numpy as np

SUCCESS_BONUS = 1.0


class _Collector:
    """Turns the agent's decisions and the task's progress into SAC transitions."""

    def __init__(self, learner):
        self.learner = learner
        self.task = None
        self._pending: Optional[tuple] = None  # (features, action, progress at decision)
        self.episode_return = 0.0
        self.decisions = 0
        self.losses: list = []

    def start(self, task) -> None:
        self.task = task
        self._pending = None
        self.episode_return, self.decisions = 0.0, 0

    def decide(self, features, action) -> None:
        progress = self.task.progress()
        if self._pending is not None:
            f, a, p0 = self._pending
            self._store(f, a, progress - p0, features, done=False)
        self._pending = (features, action, progress)
        self.decisions += 1
        if self.learner.ready():
            for _ in range(self.learner.config.updates_per_decision):
                self.losses.append(self.learner.update())

    def end(self, success: bool) -> None:
        if self._pending is not None:
            f, a, p0 = self._pending
            reward = self.task.progress() - p0 + (SUCCESS_BONUS if success else 0.0)
            self._store(f, a, reward, f, done=True)
            self._pending = None

    def _store(self, f, a, reward: float, f2, done: bool) -> None:
        self.learner.buffer.add(f, a, reward, f2, done)
        self.episode_return += reward


def train_residual(vital, task: str, episodes: int, out, seed: int = 3000,
                   timeout: float = 15.0, config=None, physics: str = "nominal",
                   progress: bool = True) -> dict:
    from tqdm import tqdm

    from fdvla_model.residual import ResidualConfig, SACLearner, save_residual
    from fdvla_model.vital_checkpoint import VITAL_FILE
    from fdvla_policy_node.inference.agents import load_runner, vital_manifest
    from fdvla_policy_node.inference.loading import PolicyLoadError
    from fdvla_policy_node.inference.residual import ResidualAgent

    from .evaluation.lockstep import evaluate_lockstep

    manifest = vital_manifest(vital)
    if manifest is None:
        raise PolicyLoadError(f"{vital}: a residual is trained on a ViTaL checkpoint "
                              "(fdvla train --vital)")
    if manifest["residual"] is not None:
        raise PolicyLoadError(f"{vital} has a residual already; train on the checkpoint "
                              "without it")
    if episodes < 1:
        raise ValueError("--episodes must be at least 1")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not empty")
    import torch

    torch.set_num_threads(1)
    learner = SACLearner(config or ResidualConfig(), seed=seed)
    collector = _Collector(learner)
    agent = ResidualAgent(load_runner(vital, "cpu", seed=seed), learner.actor, explore=True,
                          on_decision=collector.decide)
    log: list = []
    bar = tqdm(total=episodes, desc=f"residual {task}", unit="ep", disable=not progress)
    started = time.time()

    def episode_done(record) -> None:
        collector.end(record.success)
        log.append({"seed": record.seed, "success": bool(record.success),
                    "progress": round(float(record.progress), 4),
                    "return": round(collector.episode_return, 4),
                    "decisions": collector.decisions})
        recent = log[-20:]
        bar.set_postfix(success=f"{sum(e['success'] for e in recent)}/{len(recent)}",
                        updates=learner.updates)
        bar.update(1)

    try:
        evaluate_lockstep(agent, task, episodes, seed=seed, timeout=timeout, physics=physics,
                          progress=episode_done, on_episode_start=collector.start)
    finally:
        bar.close()
    shutil.copytree(Path(vital), out, dirs_exist_ok=True)
    save_residual(learner.actor, out / "residual")
    d = json.loads((out / VITAL_FILE).read_text())
    d["residual"] = "residual"
    (out / VITAL_FILE).write_text(json.dumps(d, indent=2) + "\n")
    summary = {"vital": str(vital), "task": task, "episodes": episodes, "seed": seed,
               "timeout": timeout, "physics": physics, "updates": learner.updates,
               "wall_time_s": round(time.time() - started, 1),
               "successes": sum(e["success"] for e in log),
               "last_critic_loss": collector.losses[-1]["critic_loss"] if collector.losses else None,
               "alpha": collector.losses[-1]["alpha"] if collector.losses else None,
               "episodes_log": log}
    (out / "residual_training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def add_parser(sub) -> None:
    from fdvla_drivers.sim.tasks import TASK_NAMES

    r = sub.add_parser("train-residual", help="learn ViTaL's residual correction in simulation",
                       description="Lock-step episodes of a ViTaL checkpoint with a residual "
                                   "offset on each local chunk, learnt with SAC from the task's "
                                   "progress; writes a copy of the checkpoint with the residual.")
    r.add_argument("--policy", required=True, help="the ViTaL checkpoint (fdvla train --vital)")
    r.add_argument("--task", required=True, choices=TASK_NAMES)
    r.add_argument("--episodes", type=int, default=150)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--seed", type=int, default=3000,
                   help="first training placement (evaluation uses 100-149)")
    r.add_argument("--timeout", type=float, default=15.0)
    r.add_argument("--physics", default="nominal", choices=("nominal", "force"))
    r.add_argument("--max-offset", type=float, default=None, help="m per axis (default 0.004)")
    r.add_argument("--no-progress", dest="progress", action="store_false")
    r.set_defaults(func=_main)


def _main(args) -> int:
    import sys

    from fdvla_model.residual import ResidualConfig
    from fdvla_policy_node.inference.loading import PolicyLoadError

    try:
        config = ResidualConfig(**({} if args.max_offset is None
                                   else {"max_offset": args.max_offset}))
        s = train_residual(args.policy, args.task, args.episodes, args.out, seed=args.seed,
                           timeout=args.timeout, config=config, physics=args.physics,
                           progress=args.progress)
    except (PolicyLoadError, ValueError) as e:
        print(f"fdvla train-residual: {e}", file=sys.stderr)
        return 2
    print(f"residual in {args.out / 'residual'}: {s['successes']}/{s['episodes']} training "
          f"episodes succeeded, {s['updates']} updates, {s['wall_time_s']:.0f} s")
    return 0
