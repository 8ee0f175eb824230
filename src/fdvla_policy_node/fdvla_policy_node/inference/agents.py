"""A checkpoint -> the runner the chunk pipeline drives: the one way the policy node and
lock-step evaluation load what they run.

- an FD-VLA checkpoint (config.json + model.safetensors): its PolicyRunner;
- a ViTaL checkpoint (fdvla_model.vital_checkpoint, docs/vital.md): a VitalAgent of its local
  policy (an FD-VLA checkpoint in the target frame) and its localiser (a SceneLocaliser, or the
  oracle that the caller passes for ablations), in a ResidualAgent when it has a residual.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from fdvla_model.vital_checkpoint import VITAL_FILE, read_vital_manifest

from .loading import (PolicyLoadError, load_for_inference, refuse_local_frame,
                      refuse_without_wrench, resolve_checkpoint)
from .runner import PolicyRunner
from .vital import SCENE_CAMERA


def vital_manifest(spec) -> Optional[dict]:
    """The ViTaL manifest of a checkpoint folder (None: not a ViTaL checkpoint)."""
    if str(spec) == "default":
        return None
    try:
        return read_vital_manifest(spec)
    except ValueError as e:
        raise PolicyLoadError(f"{Path(spec) / VITAL_FILE}: not a ViTaL manifest ({e})") from None


def load_runner(spec, device: Optional[str] = None, seed: int = 0, noise_scale: float = 1.0,
                localise=None):
    """The runner for `spec`. `localise` (image -> (position, yaw) | None) replaces a ViTaL
    checkpoint's learned localiser (the oracle ablation); a checkpoint without one needs it."""
    manifest = vital_manifest(spec)
    if manifest is None and localise is not None:
        raise PolicyLoadError(f"{spec}: a localiser (the oracle) is for a ViTaL checkpoint; "
                              "this one is a single policy")
    if manifest is None:
        policy, info = load_for_inference(spec, device)
        return PolicyRunner(policy, info, seed=seed, noise_scale=noise_scale)
    from .vital import PointAndLift, VitalAgent, VitalSettings

    policy, info = load_for_inference(manifest["local_policy"], device, local=True)
    if localise is None:
        if manifest["localiser"] is None:
            raise PolicyLoadError(f"{spec}: the ViTaL checkpoint has no localiser; run it with "
                                  "the oracle (fdvla eval --localiser oracle, policy.localiser=oracle)")
        from fdvla_model.localise import LocaliserLoadError, load_localiser

        try:
            localiser = load_localiser(manifest["localiser"], device=policy.device)
        except LocaliserLoadError as e:
            raise PolicyLoadError(str(e)) from None
        localise = (PointAndLift(localiser) if localiser.config.points
                    else lambda view: localiser.predict(view.rgb))
    try:
        settings = VitalSettings(**manifest["settings"])
        agent = VitalAgent(PolicyRunner(policy, info, seed=seed, noise_scale=noise_scale),
                           localise, settings)
    except (TypeError, ValueError) as e:
        raise PolicyLoadError(f"{spec}: {e}") from None
    if manifest["residual"] is None:
        return agent
    from fdvla_model.residual import ResidualLoadError, load_residual

    from .residual import ResidualAgent

    try:
        return ResidualAgent(agent, load_residual(manifest["residual"]))
    except ResidualLoadError as e:
        raise PolicyLoadError(str(e)) from None


def depth_camera_needed(spec, localiser: str = "learned") -> Optional[str]:
    """The scene camera whose depth and calibration the checkpoint's localiser needs (a ViTaL
    checkpoint with a pointing localiser, run with it), or None. Reads JSON only."""
    manifest = vital_manifest(spec)
    if manifest is None or manifest["localiser"] is None or localiser != "learned":
        return None
    # JSON only, no torch: the graph asks before any process starts.
    path = Path(manifest["localiser"]) / "config.json"
    try:
        points = json.loads(path.read_text()).get("output", "position") == "pixel"
    except (OSError, ValueError, AttributeError) as e:
        raise PolicyLoadError(f"{path}: not a localiser config ({e})") from None
    return manifest["settings"].get("scene_camera", SCENE_CAMERA) if points else None


def check_fits_setup(spec: str | Path, wrench_available: bool, setup: str = "") -> Path:
    """Before any process starts: the checkpoint exists, and fits the setup (refuse_without_wrench).
    Reads config.json only (no weights)."""
    from fdvla_model.model.configuration_fdvla import resolve_variant

    manifest = vital_manifest(spec)  # a ViTaL checkpoint: its local policy decides
    path = resolve_checkpoint(manifest["local_policy"] if manifest else spec)
    try:
        stored = json.loads((path / "config.json").read_text())["config"]
        variant = resolve_variant(stored["variant"])
    except (ValueError, KeyError, TypeError) as e:
        raise PolicyLoadError(f"{path / 'config.json'}: not an FD-VLA policy config ({e})") from None
    if manifest is None:
        refuse_local_frame(path, stored.get("action_frame", "base"))
    refuse_without_wrench(variant, wrench_available, setup)
    return path
