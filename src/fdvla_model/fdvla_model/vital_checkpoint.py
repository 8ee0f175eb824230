"""The ViTaL checkpoint folder (docs/vital.md): a local policy trained in the target's frame and
the scene localiser that finds the target, with the agent's settings.

    CKPT/vital.json       {"format": "fdvla-vital", "version": 1, "local_policy": "local_policy",
                           "localiser": "localiser" | null, "settings": {VitalSettings fields}}
    CKPT/local_policy/    an FD-VLA checkpoint whose config.action_frame is "target"
    CKPT/localiser/       a saved SceneLocaliser (fdvla_model.localise); absent: oracle only
    CKPT/residual/        optional: a residual correction (fdvla_model.residual), manifest key
                          "residual" (absent or null: none)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

VITAL_FILE = "vital.json"
VITAL_FORMAT = "fdvla-vital"


def read_vital_manifest(path) -> Optional[dict]:
    """The manifest with absolute paths, or None when `path` is not a ViTaL checkpoint; a
    malformed one raises ValueError."""
    path = Path(path).expanduser()
    if not (path / VITAL_FILE).is_file():
        return None
    try:
        d = json.loads((path / VITAL_FILE).read_text())
        if d.get("format") != VITAL_FORMAT:
            raise ValueError(f"format {d.get('format')!r}, expected {VITAL_FORMAT!r}")
        d["local_policy"] = str(path / d["local_policy"])
        d["localiser"] = None if d.get("localiser") is None else str(path / d["localiser"])
        d["residual"] = None if d.get("residual") is None else str(path / d["residual"])
        d["settings"] = dict(d.get("settings") or {})
        return d
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(str(e)) from None


def write_vital_checkpoint(out, local_policy, localiser=None,
                           settings: Optional[dict] = None) -> Path:
    """Assemble a ViTaL checkpoint from a trained local policy folder (a checkpoint, or a `fdvla
    train --out` folder) and a saved localiser folder."""
    out, src = Path(out), Path(local_policy)
    if (src / "policy" / "config.json").is_file():
        src = src / "policy"
    cfg = json.loads((src / "config.json").read_text())["config"]
    if cfg.get("action_frame", "base") != "target":
        raise ValueError(f"{src}: a ViTaL local policy is trained in the target frame "
                         "(`fdvla dataset target-frame`)")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, out / "local_policy", dirs_exist_ok=True)
    if localiser is not None:
        shutil.copytree(localiser, out / "localiser", dirs_exist_ok=True)
    return write_vital_manifest(out, "local_policy",
                                "localiser" if localiser is not None else None, settings)


def write_vital_manifest(out, local_policy: str, localiser: Optional[str],
                         settings: Optional[dict] = None, residual: Optional[str] = None) -> Path:
    """vital.json in `out`, naming the local policy, localiser and residual folders relative to
    it."""
    out = Path(out)
    manifest = {"format": VITAL_FORMAT, "version": 1, "local_policy": local_policy,
                "localiser": localiser, "settings": dict(settings or {})}
    if residual is not None:
        manifest["residual"] = residual
    (out / VITAL_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return out
