"""The scene localiser's configuration: one dataclass with a strict JSON round trip.

Everything a saved localiser needs to be rebuilt and to turn its output back into metres is
here, including the label normalisation measured at training time (`position_mean`,
`position_std`), so a checkpoint folder is self-contained: `config.json` + safetensors weights.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Version of the stored configuration; a folder written by another version is refused.
LOCALISER_FORMAT_VERSION = 1

#: The smallest label standard deviation used for normalisation (m). A coordinate that does not
#: vary over the training labels (a button's height on a fixed table) would otherwise divide by
#: ~0; with this floor its normalised target is ~0 and the prediction stays at the mean.
MIN_POSITION_STD = 0.005


class LocaliserConfigError(ValueError):
    """A stored or given localiser configuration is malformed or does not match this code."""


#: What a localiser outputs (`LocaliserConfig.output`).
OUTPUTS = ("position", "pixel")


@dataclass
class LocaliserConfig:
    #: Scene camera the localiser reads (a camera name of the dataset's meta.json).
    camera: str = "kinect"
    #: "position": the target's position in `base`, regressed (it learns its camera's pose, so
    #: a moved camera needs a new localiser). "pixel": it points at the target's pixel in the
    #: image (one heat map's expected cell, in [-1, 1] of the image's width and height), which
    #: the caller lifts to `base` through the depth image and the camera's calibration
    #: (fdvla_msgs.camera_geometry.lift_pixel), as ViTaL's pointing VLM does: a moved
    #: camera then needs a new calibration, not a new localiser.
    output: str = "position"
    #: (height, width) every input image is resized to before the network.
    image_size: tuple = (96, 128)
    #: 0: yaw not predicted (button, round cap); k > 0: yaw is defined modulo 2*pi/k and the
    #: network predicts (cos k*yaw, sin k*yaw) (plug socket: 4, wipe board: 2).
    yaw_symmetry: int = 0
    #: Output channels of the strided convolutions (the first two halve the resolution each, the
    #: rest keep it), then a 1x1 convolution to `keypoints` heat maps.
    conv_channels: tuple = (16, 32, 32, 32)
    #: Number of spatial-softmax keypoints (expected image coordinates of a softmax heat map).
    keypoints: int = 16
    #: The coarse spatial readout: the last features reduced to `grid_channels` by a 1x1
    #: convolution and average-pooled to a `grid_size` (rows, columns) grid, flattened.
    grid_size: tuple = (12, 16)
    grid_channels: int = 4
    #: Width of the MLP from keypoints (+ pooled features) to the outputs.
    hidden: int = 64
    #: Name of the target the labels describe (from the dataset; informational).
    target_name: str = ""
    #: Label normalisation, measured on the training labels (metres, base frame).
    position_mean: tuple = (0.0, 0.0, 0.0)
    position_std: tuple = (1.0, 1.0, 1.0)
    #: Training samples frames from the first `frame_fraction` of each episode (before the arm
    #: covers the target); at least one frame per episode.
    frame_fraction: float = 0.3
    format_version: int = LOCALISER_FORMAT_VERSION

    def __post_init__(self) -> None:
        # JSON gives lists; keep tuples so equality and hashing of a round trip hold.
        self.image_size = tuple(int(v) for v in self.image_size)
        self.conv_channels = tuple(int(v) for v in self.conv_channels)
        self.grid_size = tuple(int(v) for v in self.grid_size)
        self.position_mean = tuple(float(v) for v in self.position_mean)
        self.position_std = tuple(float(v) for v in self.position_std)
        problems = []
        if self.output not in OUTPUTS:
            problems.append(f"output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")
        if not isinstance(self.camera, str) or not self.camera:
            problems.append(f"camera must be a non-empty name, got {self.camera!r}")
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            problems.append(f"image_size must be (height, width), each >= 8, got {self.image_size}")
        if isinstance(self.yaw_symmetry, bool) or not isinstance(self.yaw_symmetry, int) \
                or self.yaw_symmetry < 0:
            problems.append(f"yaw_symmetry must be an int >= 0, got {self.yaw_symmetry!r}")
        if len(self.conv_channels) < 2 or min(self.conv_channels) < 1:
            problems.append(f"conv_channels needs at least two positive widths, got {self.conv_channels}")
        if int(self.keypoints) < 1 or int(self.hidden) < 1 or int(self.grid_channels) < 1:
            problems.append(f"keypoints, grid_channels and hidden must be >= 1, got "
                            f"{self.keypoints}, {self.grid_channels}, {self.hidden}")
        if len(self.grid_size) != 2 or min(self.grid_size) < 1:
            problems.append(f"grid_size must be (rows, columns), each >= 1, got {self.grid_size}")
        if len(self.position_mean) != 3 or not all(map(math.isfinite, self.position_mean)):
            problems.append(f"position_mean must be 3 finite numbers, got {self.position_mean}")
        if len(self.position_std) != 3 or not all(math.isfinite(v) and v > 0 for v in self.position_std):
            problems.append(f"position_std must be 3 positive numbers, got {self.position_std}")
        if not 0.0 < float(self.frame_fraction) <= 1.0:
            problems.append(f"frame_fraction must be in (0, 1], got {self.frame_fraction}")
        if self.format_version != LOCALISER_FORMAT_VERSION:
            problems.append(f"format_version {self.format_version} is not supported "
                            f"(this code reads {LOCALISER_FORMAT_VERSION})")
        if problems:
            raise LocaliserConfigError("; ".join(problems))
        self.keypoints = int(self.keypoints)
        self.grid_channels = int(self.grid_channels)
        self.hidden = int(self.hidden)
        self.frame_fraction = float(self.frame_fraction)

    @property
    def predicts_yaw(self) -> bool:
        return self.yaw_symmetry > 0

    @property
    def points(self) -> bool:
        """Whether it points at a pixel (to be lifted with depth) instead of regressing xyz."""
        return self.output == "pixel"

    @property
    def output_dim(self) -> int:
        """Width of the MLP head's output: xyz (position localisers) then (cos, sin) of k*yaw
        where predicted; a pointer's pixel comes from its own heat map, not the head."""
        return (0 if self.points else 3) + (2 if self.predicts_yaw else 0)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "LocaliserConfig":
        if not isinstance(values, dict):
            raise LocaliserConfigError(f"a localiser config is a JSON object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        # Folders saved before localisers could point regress positions.
        values = {"output": "position", **values} if values.get("format_version") == 1 else values
        unknown = sorted(set(values) - known)
        missing = sorted(known - set(values))
        if unknown or missing:
            raise LocaliserConfigError("stored localiser config does not match this code: "
                                       f"unknown fields {unknown}, missing fields {missing}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as e:
            if isinstance(e, LocaliserConfigError):
                raise
            raise LocaliserConfigError(f"stored localiser config is malformed: {e}") from e

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> "LocaliserConfig":
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except FileNotFoundError as e:
            raise LocaliserConfigError(f"{path} not found") from e
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise LocaliserConfigError(f"{path} is not valid JSON: {e}") from e
        return cls.from_dict(values)

    def replace(self, **changes: Any) -> "LocaliserConfig":
        return dataclasses.replace(self, **changes)


__all__ = ["LOCALISER_FORMAT_VERSION", "MIN_POSITION_STD", "OUTPUTS", "LocaliserConfig",
           "LocaliserConfigError"]
