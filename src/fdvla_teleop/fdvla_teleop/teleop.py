"""SpaceMouse axes -> a Cartesian twist in the robot base frame (ROS-free).

Per axis: a deadband (continuous: the output ramps from zero at the band's edge), a map from
spacenav axis to base axis with a sign, and a scale (m/s, rad/s at full deflection); then the
safety layer's speed limits. Modes: `full`, `translation` (rotations zeroed), `rotation`.

The default mapping assumes the operator stands at the cell facing the robot across the work
area (on the base's -x side, where the simulated scene camera looks from): the spacenav frame is
then the base frame, so pushing the cap away from you moves the tool away from you (+x of base)
and pushing it left moves the tool to your left (+y of base). An operator standing elsewhere
permutes/flips axes with `axis_map` / `axis_sign`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

MODES = ("full", "translation", "rotation")


@dataclass
class TeleopConfig:
    deadband: float = 0.1  # fraction of full deflection
    linear_scale: float = 0.10  # m/s at full deflection
    angular_scale: float = 0.5  # rad/s at full deflection
    #: base axis i (x, y, z, rx, ry, rz) takes spacenav axis axis_map[i] times axis_sign[i].
    axis_map: tuple = (0, 1, 2, 3, 4, 5)
    axis_sign: tuple = (1, 1, 1, 1, 1, 1)
    mode: str = "full"
    max_linear_speed: float = 0.25  # the safety layer's limits (safety.* of the setup)
    max_angular_speed: float = 1.0
    start_stop_button: int = 0  # press: start an episode / stop it (kept, marked success)
    discard_button: int = 1  # press: discard the episode being recorded
    rate_hz: float = 50.0  # /servo/twist rate while the cap is deflected
    input_timeout: float = 0.25  # s without a device sample: stop sending twists

    @classmethod
    def from_dict(cls, d: dict | None, safety: dict | None = None) -> "TeleopConfig":
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"teleop: unknown key(s) {unknown}; known: {sorted(names)}")
        for k in ("axis_map", "axis_sign"):
            if k in d:
                d[k] = tuple(d[k])
                if len(d[k]) != 6:
                    raise ValueError(f"teleop.{k} needs 6 entries, got {len(d[k])}")
        if safety:
            d.setdefault("max_linear_speed", float(safety.get("max_linear_speed", 0.25)))
            d.setdefault("max_angular_speed", float(safety.get("max_angular_speed", 1.0)))
        cfg = cls(**d)
        if cfg.mode not in MODES:
            raise ValueError(f"teleop.mode {cfg.mode!r} is not one of {MODES}")
        if sorted(cfg.axis_map) != list(range(6)):
            raise ValueError(f"teleop.axis_map {list(cfg.axis_map)} is not a permutation of 0..5")
        return cfg


def apply_deadband(axes: np.ndarray, band: float) -> np.ndarray:
    a = np.asarray(axes, dtype=np.float64)
    mag = np.clip((np.abs(a) - band) / max(1.0 - band, 1e-9), 0.0, 1.0)
    return np.sign(a) * mag


@dataclass
class TeleopMapper:
    config: TeleopConfig = field(default_factory=TeleopConfig)

    def twist(self, axes, mode: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(linear m/s, angular rad/s) in base axes for spacenav `axes` in [-1, 1]."""
        c = self.config
        a = apply_deadband(np.clip(np.asarray(axes, dtype=np.float64), -1, 1), c.deadband)
        v = a[list(c.axis_map)] * np.asarray(c.axis_sign, dtype=np.float64)
        lin, ang = v[:3] * c.linear_scale, v[3:] * c.angular_scale
        mode = mode or c.mode
        if mode == "translation":
            ang = np.zeros(3)
        elif mode == "rotation":
            lin = np.zeros(3)
        n = np.linalg.norm(lin)
        if n > c.max_linear_speed:
            lin = lin * (c.max_linear_speed / n)
        n = np.linalg.norm(ang)
        if n > c.max_angular_speed:
            ang = ang * (c.max_angular_speed / n)
        return lin, ang


class ButtonEdges:
    """Button presses (0 -> 1 transitions) mapped to episode actions."""

    def __init__(self, config: TeleopConfig):
        self.config = config
        self._prev: tuple = ()

    def update(self, buttons) -> list[str]:
        buttons = tuple(int(b) for b in buttons)
        prev = self._prev + (0,) * max(0, len(buttons) - len(self._prev))
        self._prev = buttons
        out = []
        for i, (was, now) in enumerate(zip(prev, buttons)):
            if now and not was:
                if i == self.config.start_stop_button:
                    out.append("toggle")
                elif i == self.config.discard_button:
                    out.append("discard")
        return out
