"""The ViTaL localiser two ways: regressing the target's position, or pointing at its pixel and
lifting that through depth and the camera's calibration (issue 19; docs/vital.md "Depth").

    .venv/bin/python bench/bench_localiser_pointer.py [--task button] [--train 200] [--steps 600]
        [--fresh 100] [--out docs/vital_pointer.json]

Renders one scene-camera frame (and its depth) per placement seed, the arm at the episode's
start, labelled with the target's privileged pose (as the demo writers label episodes); trains
both localisers on the same frames, same steps and seed; then measures both on placements the
trainer never saw:

- `nominal`: the demonstrations' placement box;
- `wide`: 1.5 times the box (`--placement wide`), targets outside every training label;
- `moved camera`: the scene camera shifted by `--camera-shift` (m, base axes) and turned by
  `--camera-turn` degrees about base z, as a bumped tripod; the pointer lifts with the new
  calibration (the camera's pose as `SimCamera.pose_in_base` reports it, what a re-run
  extrinsic calibration would give), the regressor knows nothing of it.

Prints mean position errors (mm, 3D and xy) and the pointer's pixel error, and writes them as
JSON. Lock-step rendering, ROS-free, one torch thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fdvla_drivers.environment import apply_defaults

apply_defaults()  # before mujoco loads

from fdvla_msgs.camera_geometry import lift_pixel, project_point  # noqa: E402
from fdvla_drivers.camera.sim_camera import SimCamera  # noqa: E402
from fdvla_drivers.robot.sim_backend import SimRobotBackend  # noqa: E402
from fdvla_drivers.sim.appearance import move_scene_camera  # noqa: E402
from fdvla_model.action_space import action_vector, state_vector  # noqa: E402
from fdvla_model.dataset import EpisodeWriter, create_dataset  # noqa: E402
from fdvla_model.localise import LocaliserConfig, load_localiser  # noqa: E402
from fdvla_model.localise.train_localiser import train_localiser  # noqa: E402

WIDTH, HEIGHT = 128, 96
YAW_SYMMETRY = {"button": 0, "plug": 4, "wipe": 2}


class Scene:
    """A lock-step cell and its scene camera (colour and depth) for one placement range."""

    def __init__(self, task: str, placement: str):
        self.backend = SimRobotBackend(task, realtime=False, task_placement=placement)
        self.backend.connect()
        self.camera = SimCamera(self.backend, "scene", width=WIDTH, height=HEIGHT, depth=True)
        self.target = self.backend.task.target_name

    def frame(self, seed: int):
        """(state, colour, depth, target pose) of placement `seed`."""
        self.backend.reset(seed=seed)
        f = self.camera.render()
        return (self.backend.read_state(), f.rgb, f.depth,
                self.backend.task.object_poses()[self.target])

    def move_camera(self, shift, turn_deg: float) -> None:
        """Shift the scene camera in base and turn it about base z (the renders and
        `pose_in_base` both follow the model; the camera_moved split's mechanism)."""
        move_scene_camera(self.backend.model, shift, turn_deg)

    def close(self) -> None:
        self.backend.close()


def make_dataset(scene: Scene, root: Path, seeds) -> None:
    create_dataset(root, fps=10, cameras={"kinect": (HEIGHT, WIDTH)})
    for seed in seeds:
        state, rgb, _, pose = scene.frame(seed)
        target = {"name": scene.target, "pose": [*pose.position, *pose.quat_xyzw]}
        with EpisodeWriter(root, instruction=scene.backend.task.instruction,
                           task=scene.backend.task.name,
                           extra={"seed": seed, "target": target}) as ep:
            ep.append(0.0, state_vector(state.tcp_pose, state.q), action_vector(state.tcp_pose),
                      state.wrench, {"kinect": rgb})


def measure(scene: Scene, regressor, pointer, seeds) -> dict:
    intr, T = scene.camera.intrinsics(), scene.camera.pose_in_base()
    reg_err, ptr_err, px_err, misses = [], [], [], 0
    for seed in seeds:
        _, rgb, depth, pose = scene.frame(seed)
        truth = pose.position
        p, _ = regressor.predict(rgb)
        reg_err.append(p - truth)
        uv, _ = pointer.point(rgb)
        px_err.append(np.linalg.norm(np.asarray(uv) - project_point(truth, intr, T)))
        try:
            ptr_err.append(lift_pixel(float(uv[0]), float(uv[1]), depth, intr, T) - truth)
        except ValueError:  # pointed off the image or at no depth
            misses += 1

    def stats(errors):
        e = np.asarray(errors)
        if not len(e):
            return {"mm": None, "xy_mm": None}
        return {"mm": round(float(np.linalg.norm(e, axis=1).mean() * 1e3), 2),
                "xy_mm": round(float(np.linalg.norm(e[:, :2], axis=1).mean() * 1e3), 2)}

    return {"placements": len(seeds), "regress": stats(reg_err),
            "point": {**stats(ptr_err), "pixel_px": round(float(np.mean(px_err)), 2),
                      "not_lifted": misses}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="button", choices=tuple(YAW_SYMMETRY))
    ap.add_argument("--train", type=int, default=200, help="training placements (seeds 1000..)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--fresh", type=int, default=100, help="fresh placements per cell (20000..)")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--camera-shift", type=float, nargs=3, default=(0.03, -0.02, 0.02))
    ap.add_argument("--camera-turn", type=float, default=2.0, help="degrees about base z")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    t0 = time.time()
    nominal = Scene(a.task, "nominal")
    cfg = LocaliserConfig(camera="kinect", yaw_symmetry=YAW_SYMMETRY[a.task])
    intr, T = nominal.camera.intrinsics(), nominal.camera.pose_in_base()

    def pixel_of(positions):
        return np.array([project_point(p, intr, T) for p in positions])

    results = {"task": a.task, "train_placements": a.train, "steps": a.steps, "seed": a.seed,
               "image": [HEIGHT, WIDTH], "camera_shift_m": list(a.camera_shift),
               "camera_turn_deg": a.camera_turn}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_dataset(nominal, tmp / "data", range(1000, 1000 + a.train))
        t_render = time.time() - t0
        models = {}
        for output in ("position", "pixel"):
            t = time.time()
            metrics = train_localiser(
                tmp / "data", tmp / output, a.steps, seed=a.seed, progress=False,
                config=cfg.replace(output=output),
                pixel_of=pixel_of if output == "pixel" else None)
            models[output] = load_localiser(tmp / output)
            results[f"train_{output}"] = {
                k: metrics[k] for k in ("val_position_error_mm", "val_pixel_error_px",
                                        "val_mean_predictor_error_mm",
                                        "val_mean_predictor_pixel_error_px")}
            results[f"train_{output}"]["wall_s"] = round(time.time() - t, 1)
    fresh = range(20000, 20000 + a.fresh)
    results["nominal"] = measure(nominal, models["position"], models["pixel"], fresh)
    wide = Scene(a.task, "wide")
    results["wide"] = measure(wide, models["position"], models["pixel"], fresh)
    wide.close()
    nominal.move_camera(a.camera_shift, a.camera_turn)
    results["moved_camera"] = measure(nominal, models["position"], models["pixel"], fresh)
    nominal.close()
    results["render_s"] = round(t_render, 1)
    results["wall_s"] = round(time.time() - t0, 1)

    print(f"{a.task}: {a.train} training placements, {a.steps} steps, seed {a.seed}")
    print("| cell | regress: mm (xy) | point + depth: mm (xy) | pointer px | not lifted |")
    print("|---|---|---|---|---|")
    for cell in ("nominal", "wide", "moved_camera"):
        r = results[cell]
        print(f"| {cell} | {r['regress']['mm']} ({r['regress']['xy_mm']}) | "
              f"{r['point']['mm']} ({r['point']['xy_mm']}) | {r['point']['pixel_px']} | "
              f"{r['point']['not_lifted']} |")
    print(f"wall {results['wall_s']} s")
    if a.out:
        a.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
