"""The paper's comparison (FD-VLA Fig. 6 / Table I) as a protocol with scales a machine can run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from fdvla_drivers.sim.tasks import TASK_NAMES

VARIANTS = ("fdvla", "force_token", "no_fdm", "no_force")

#: What the paper calls each task and variant (for the report's tables and figure).
TASK_TITLES = {"button": "Press Button", "plug": "Plug in Socket", "wipe": "Clean Whiteboard"}
VARIANT_TITLES = {
    "fdvla": "FD-VLA (FDM, learnable token)",
    "force_token": "FDM w/ measured force token",
    "no_fdm": "w/o FDM (raw force MLP)",
    "no_force": "SmolVLA (no force)",
}

#: Successes out of 30 trials on the UR5e, Table I of the paper.
PAPER_SUCCESSES = {
    "fdvla": {"plug": 12, "wipe": 22, "button": 21},
    "force_token": {"plug": 12, "wipe": 17, "button": 17},
    "no_fdm": {"plug": 8, "wipe": 15, "button": 12},
}
PAPER_TRIALS = 30
#: Mean success over the three tasks (%), Fig. 6 / Table I. SmolVLA without force is given only
#: as a mean in the paper's text.
PAPER_MEAN = {"fdvla": 61.1, "force_token": 51.1, "no_fdm": 38.9, "no_force": 23.3}

#: Variants that need a measured wrench at inference run on the sensor-equipped cell; the others
#: are evaluated as they would be deployed, with no force sensor at all.
EVAL_ROBOT = {"fdvla": "sim_sensorless", "no_force": "sim_sensorless",
              "force_token": "sim", "no_fdm": "sim"}


@dataclass(frozen=True)
class StudyScale:
    name: str
    demos: int  # scripted demonstrations per task
    eval_episodes: int  # evaluation episodes per task and variant
    train_steps: int
    preset: str  # fdvla train --preset
    batch_size: int
    fps: float  # dataset grid
    episode_timeout: float  # s of simulated time per evaluation episode
    lockstep: bool  # evaluation advances simulated time only while no inference is pending
    chunk_size: int = 50  # actions per chunk (SmolVLA's 50; at the dataset's fps)
    lr: float = 1e-4  # peak learning rate (fdvla train --lr)
    tasks: tuple = TASK_NAMES
    variants: tuple = VARIANTS
    seed: int = 0  # demos use seeds seed.., training uses seed
    #: Evaluation placements come from seeds far away from the demonstrations': held out.
    eval_seed: int = 100_000

    def to_json(self) -> dict:
        d = asdict(self)
        d["tasks"], d["variants"] = list(self.tasks), list(self.variants)
        return d

    def with_overrides(self, **kw) -> "StudyScale":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


SCALES = {
    # Seconds: exercises every stage on a toy budget (tests, smoke runs). Not a result.
    "toy": StudyScale("toy", demos=2, eval_episodes=2, train_steps=2, preset="tiny",
                      batch_size=2, fps=10.0, episode_timeout=4.0, lockstep=True,
                      tasks=("button",)),
    # About an hour on a 2-core CPU: fewer demonstrations and trials than the paper, a model
    # trained from scratch (no pretrained VLM can be downloaded here).
    # The recipe of the shipped default policy (docs/policy.md): chunks of 2 s at 10 fps.
    "small": StudyScale("small", demos=30, eval_episodes=10, train_steps=3000, preset="tiny",
                        batch_size=16, fps=10.0, episode_timeout=20.0, lockstep=True,
                        chunk_size=20, lr=3e-4),
    # The paper's protocol: 50 demonstrations and 30 trials per task; meant for a GPU.
    "paper": StudyScale("paper", demos=50, eval_episodes=30, train_steps=20000, preset="full",
                        batch_size=32, fps=10.0, episode_timeout=30.0, lockstep=False),
}


def get_scale(name: str) -> StudyScale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown study scale {name!r}; choose one of {sorted(SCALES)}") from None
