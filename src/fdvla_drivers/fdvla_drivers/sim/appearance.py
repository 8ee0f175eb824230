"""Evaluation splits of what the cameras see: the paper's generalisation settings (its Fig. 7).

- `nominal`: the cell as built.
- `background`: a novel work surface: the table's colour (any hue, saturation and brightness)
  changes per episode, as a new tablecloth or bench would.
- `lighting`: colour and lighting perturbation: the lights' intensity (0.35-1.6x), their colour
  (each channel 0.7-1.3x) and the top light's direction (tilted up to 35 deg) change per episode.

Only renderers apply a split, each to its own copy of the model (`Appearance.model`), drawn
from the episode's seed (carried by every snapshot), so every camera of a cell, in this process
or another, draws the same scene, and the physics never changes. Task objects, the arm and the
tool keep their colours: the split changes the surroundings and the light, not what the task is.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # MuJoCo loads where a model exists; the CLI reads SPLITS before MUJOCO_GL
    import mujoco

SPLITS = ("nominal", "background", "lighting")

#: Multiplier range of the lights' intensity, of each colour channel, and the top light's tilt.
LIGHT_SCALE = (0.35, 1.6)
LIGHT_TINT = (0.7, 1.3)
LIGHT_TILT_DEG = 35.0


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown appearance split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


class Appearance:
    """A renderer's model with the split of the current episode applied (`for_episode`)."""

    def __init__(self, model: mujoco.MjModel, split: str = "nominal"):
        self.split = check_split(split)
        # Nominal renders the backend's model itself; a split renders a copy it may change.
        self.model = model if self.split == "nominal" else copy.copy(model)
        self.episode: int | None = None
        m = self.model
        self._table_mat = int(m.geom_matid[m.geom("table").id])
        # (Texture repeats are not varied: a renderer's GL context keeps the ones it was made
        # with, so a change would show in a camera started later and not in a running one.)
        self._base = {"mat_rgba": m.mat_rgba.copy(),
                      "light_diffuse": m.light_diffuse.copy(),
                      "light_ambient": m.light_ambient.copy(), "light_dir": m.light_dir.copy(),
                      "head_diffuse": np.array(m.vis.headlight.diffuse),
                      "head_ambient": np.array(m.vis.headlight.ambient)}

    def for_episode(self, episode: int) -> mujoco.MjModel:
        """The model to render `episode` with (changed only when the episode changes)."""
        if self.split != "nominal" and episode != self.episode:
            self.episode = episode
            self._restore()
            rng = np.random.default_rng([int(episode), SPLITS.index(self.split)])
            if self.split == "background":
                self._background(rng)
            else:
                self._lighting(rng)
        return self.model

    def _restore(self) -> None:
        m, b = self.model, self._base
        m.mat_rgba[:] = b["mat_rgba"]
        m.light_diffuse[:] = b["light_diffuse"]
        m.light_ambient[:] = b["light_ambient"]
        m.light_dir[:] = b["light_dir"]
        m.vis.headlight.diffuse = b["head_diffuse"]
        m.vis.headlight.ambient = b["head_ambient"]

    def _background(self, rng: np.random.Generator) -> None:
        import colorsys

        m, i = self.model, self._table_mat
        # The material's colour multiplies the checker texture: any hue, never black or white.
        rgb = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.3, 0.8), rng.uniform(0.5, 1.0))
        m.mat_rgba[i, :3] = rgb

    def _lighting(self, rng: np.random.Generator) -> None:
        m = self.model
        gain = rng.uniform(*LIGHT_SCALE) * rng.uniform(*LIGHT_TINT, size=3)
        m.light_diffuse[:] = np.clip(self._base["light_diffuse"] * gain, 0.0, 1.0)
        m.light_ambient[:] = np.clip(self._base["light_ambient"] * gain, 0.0, 1.0)
        m.vis.headlight.diffuse = np.clip(self._base["head_diffuse"] * gain, 0.0, 1.0)
        m.vis.headlight.ambient = np.clip(self._base["head_ambient"] * gain, 0.0, 1.0)
        tilt = np.deg2rad(rng.uniform(0.0, LIGHT_TILT_DEG))
        azimuth = rng.uniform(0.0, 2 * np.pi)
        d = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth),
                      -np.cos(tilt)])
        m.light_dir[:] = d  # every light of the cell points down: tilt them alike
