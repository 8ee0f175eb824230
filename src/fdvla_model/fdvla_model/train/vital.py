"""`fdvla train --vital`: a ViTaL checkpoint from demonstrations (docs/vital.md).

In `--out`: the demonstrations in their targets' frames (`local_dataset/`), the local policy
trained on them (`local/`, the usual training run), the scene localiser trained on the
localiser's demonstrations (`localiser/`), and `vital.json` naming them, so `--out` is the
checkpoint `fdvla bringup --policy` and `fdvla eval --policy` take.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from .config import TrainConfig


#: What the local policy sees (ViTaL: the wrist camera, with touch; here with the wrench or the
#: distilled force token).
LOCAL_CAMERAS = ("wrist",)


def train_vital(cfg: TrainConfig, localiser_dataset: Optional[str] = None,
                localiser_steps: int = 2000, settings: Optional[dict] = None,
                local_cameras=LOCAL_CAMERAS, localiser_output: str = "position",
                frame_noise=None) -> Path:
    """The local policy from `cfg.dataset` (demonstrations that start near the target: `fdvla
    sim-demos --set robot.task_start=near_target`), the localiser from `localiser_dataset`
    (default the same; demonstrations from the global start show the scene as the localiser
    will see it). `localiser_output`: "position" regresses the target's position, "pixel"
    points at it (ViTaL's pointer; lifted with depth and the calibration at run time).
    `frame_noise` (dataset.target_frame.FrameNoise): the local policy's episodes in frames off
    their targets, so that it learns to finish from where a localiser's error hands it over."""
    from fdvla_model.dataset import load_meta
    from fdvla_model.dataset import DatasetError
    from fdvla_model.dataset.target_frame import FrameNoise, dataset_frame, write_target_frame_dataset
    from fdvla_model.localise import LocaliserConfig
    from fdvla_model.localise.train_localiser import train_localiser
    from fdvla_model.vital_checkpoint import write_vital_manifest

    from .loop import train

    if localiser_output == "pixel":  # refuse unusable data before the local policy's hours
        from fdvla_model.localise.calibration import check_pixel_labels

        check_pixel_labels(localiser_dataset or cfg.dataset, LocaliserConfig().camera)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    local_data = out / "local_dataset"
    frame_noise = frame_noise or FrameNoise()
    if not (local_data / "meta.json").is_file():
        write_target_frame_dataset(cfg.dataset, local_data, progress=cfg.progress,
                                   cameras=local_cameras, noise=frame_noise)
    frame = dataset_frame(load_meta(local_data))
    wanted = frame_noise.as_dict() if frame_noise.changes_data else None
    if frame.get("noise") != wanted:  # a resumed run must train on the data it started with
        raise DatasetError(f"{local_data} was written with frame noise {frame.get('noise')}, "
                           f"this run asks for {wanted}: use another --out")
    symmetry = int(frame["yaw_symmetry"])
    train(dataclasses.replace(cfg, dataset=str(local_data), out=str(out / "local")))
    train_localiser(localiser_dataset or cfg.dataset, out / "localiser", localiser_steps,
                    seed=cfg.seed, config=LocaliserConfig(yaw_symmetry=symmetry,
                                                          output=localiser_output),
                    progress=cfg.progress)
    return write_vital_manifest(out, "local/policy", "localiser", settings)
