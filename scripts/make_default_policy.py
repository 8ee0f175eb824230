"""Make the shipped default policy: scripted-expert demonstrations of a sim task, then `fdvla train`.

    python scripts/make_default_policy.py demos --task button --episodes 150 --out /tmp/demos
    python scripts/make_default_policy.py train --dataset /tmp/demos --out /tmp/train --steps 3000
    python scripts/make_default_policy.py ship --train /tmp/train

`demos` runs the ROS-free rollout (fdvla_drivers.control.rollout.run_episode, lock-step) with the
task's scripted expert and records, at the dataset's fps, both sim cameras (scene as `kinect`,
wrist as `wrist`), the state, the controller's servo target as the action and the wrench, into
the episode format (fdvla_model.dataset). Seeds 1000.. are training placements; `fdvla
eval` uses seeds from 0 (held out).

`ship` copies the final policy into fdvla_model/checkpoints/default/; it holds the dataset's
meta.json, which `fdvla train` copies in (the policy node reads the action period from its fps).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from fdvla_drivers.environment import apply_defaults
from fdvla_drivers.sim.tasks import STARTS  # names only: mujoco is not imported yet

apply_defaults()  # before rclpy or mujoco load

TRAIN_SEED0 = 1000


def make_demos(task: str, episodes: int, out: Path, fps: float, width: int, height: int,
               seed0: int = TRAIN_SEED0, max_duration: float = 12.0,
               success_hold: float = 0.3, physics: str = "nominal", start: str = "region",
               masks: tuple = ()) -> None:
    from tqdm import tqdm

    from fdvla_drivers.camera.sim_camera import SimCamera
    from fdvla_drivers.control.controller import ControllerConfig, ServoController
    from fdvla_drivers.control.safety import SafetyLimits
    from fdvla_drivers.robot.sim_backend import SimRobotBackend
    from fdvla_drivers.sim.experts import make_expert
    from fdvla_drivers.control.rollout import run_episode
    from fdvla_model.action_space import action_vector, state_vector
    from fdvla_model.dataset import EpisodeWriter, create_dataset
    from fdvla_msgs.camera_geometry import calibration_to_dict

    from fdvla.config import load_setup

    # Role (the contract's camera name) -> the cell's camera that plays it, as the sim setup says.
    cameras = {role: spec.get("camera", role)
               for role, spec in (load_setup("sim").get("cameras") or {}).items()}
    if not (out / "meta.json").exists():
        create_dataset(out, fps=fps, cameras={k: (height, width) for k in cameras})
    # With the "force" physics make_expert gives the wrench-reading script (issue 18).
    # start "near_target": a ViTaL local policy's data (docs/vital.md).
    backend = SimRobotBackend(task, realtime=False, task_physics=physics, task_start=start)
    backend.connect()
    unknown = sorted(set(masks) - set(cameras))
    if unknown:
        raise SystemExit(f"--masks: no camera {unknown}; the sim setup has {sorted(cameras)}")
    cams = {k: SimCamera(backend, v, width=width, height=height, fps=fps) for k, v in cameras.items()}
    for c in cams.values():
        c.start()
    calibration = {k: calibration_to_dict(c.intrinsics(), c.mounted_pose())
                   for k, c in cams.items() if c.mounted_pose() is not None}
    period = 1.0 / fps
    done = len([p for p in out.iterdir() if p.name.startswith("episode_") and not p.name.endswith(".partial")])
    ok = 0
    bar = tqdm(range(done, episodes), desc=f"{task} demos", unit="ep")
    for i in bar:
        backend.reset(seed=seed0 + i)
        extra = {"seed": seed0 + i, "target": backend.task.target()}
        if calibration:  # what dataset build stores from a bag's camera_info and extrinsics
            extra["calibration"] = calibration
        writer = EpisodeWriter(out, instruction=backend.task.instruction, task=task,
                               episode_index=i, extra=extra)
        next_t = [None]

        def on_cycle(rec, writer=writer):
            if rec.target is None:
                return
            if next_t[0] is None:
                next_t[0] = rec.now
            if rec.now + 1e-9 < next_t[0]:
                return
            next_t[0] += period
            frames = {k: c.render(mask=k in masks) for k, c in cams.items()}
            writer.append(rec.now, state_vector(rec.state.tcp_pose, rec.state.q),
                          action_vector(rec.target), rec.state.wrench,
                          {k: f.rgb for k, f in frames.items()},
                          masks={k: frames[k].mask for k in masks})

        try:
            result = run_episode(backend, ServoController(ControllerConfig(), SafetyLimits()),
                                 make_expert(backend.task), max_duration=max_duration,
                                 on_cycle=on_cycle, success_hold=success_hold)
        except BaseException:
            writer.discard()
            raise
        if result.success:
            writer.close(success=True)
            ok += 1
        else:
            writer.discard()
        bar.set_postfix(success=ok)
    for c in cams.values():
        c.stop()
    backend.close()


def train(dataset: Path, out: Path, steps: int, batch_size: int, chunk_size: int, lr: float,
          image_size: int | None = None) -> None:
    cmd = [sys.executable, "-m", "fdvla.cli", "train", "--dataset", str(dataset), "--out", str(out),
           "--preset", "tiny", "--steps", str(steps), "--batch-size", str(batch_size),
           "--chunk-size", str(chunk_size), "--lr", str(lr), "--save-every", "500"]
    if image_size:
        cmd += ["--image-size", str(image_size)]
    if (out / "checkpoints").exists():
        cmd += ["--resume", "latest"]
    # One intra-op thread: the model is tiny, and on a shared CPU OpenMP threads waiting on each
    # other cost ~10x (measured: 8.8 s/step with 2 threads under load, ~1 s with one).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env)


def ship(train_dir: Path, dest: Path) -> None:
    src = train_dir / "policy"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)  # with the dataset's meta.json, which `fdvla train` copied in
    print(f"shipped {src} -> {dest}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demos")
    d.add_argument("--task", default="button")
    d.add_argument("--episodes", type=int, default=150)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--fps", type=float, default=10.0)
    d.add_argument("--width", type=int, default=128)
    d.add_argument("--height", type=int, default=96)
    d.add_argument("--max-duration", type=float, default=12.0, help="s per episode at most")
    d.add_argument("--physics", default="nominal", choices=("nominal", "force"),
                   help="task physics (force: hidden parameters, wrench-reading expert)")
    d.add_argument("--start", default=STARTS[0], choices=STARTS,
                   help="where episodes start (near_target: a ViTaL local policy's data)")
    d.add_argument("--seed", type=int, default=TRAIN_SEED0, help="first episode's seed")
    d.add_argument("--success-hold", type=float, default=0.3,
                   help="s recorded after the task succeeds (button: the release and the hold)")
    d.add_argument("--masks", nargs="*", default=[], metavar="CAMERA",
                   help="also record these cameras' foreground masks (segmentation: robot, tool "
                        "and task objects), for fdvla train --augment-background")
    t = sub.add_parser("train")
    t.add_argument("--dataset", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--chunk-size", type=int, default=20)
    t.add_argument("--lr", type=float, default=3e-4)
    t.add_argument("--image-size", type=int, default=None, help="model input size (tiny: 64)")
    s = sub.add_parser("ship")
    s.add_argument("--train", type=Path, required=True)
    s.add_argument("--dest", type=Path, default=Path(__file__).resolve().parents[1]
                   / "src/fdvla_model/fdvla_model/checkpoints/default")
    a = p.parse_args(argv)
    if a.cmd == "demos":
        a.out.mkdir(parents=True, exist_ok=True)
        make_demos(a.task, a.episodes, a.out, a.fps, a.width, a.height,
                   seed0=a.seed, max_duration=a.max_duration, success_hold=a.success_hold,
                   physics=a.physics, start=a.start, masks=tuple(a.masks))
    elif a.cmd == "train":
        train(a.dataset, a.out, a.steps, a.batch_size, a.chunk_size, a.lr, a.image_size)
    else:
        ship(a.train, a.dest)


if __name__ == "__main__":
    main()
