"""Find and load a policy checkpoint for inference, refusing anything unsafe or mismatched.

A checkpoint is the folder `FDVLAPolicy.save` writes (config.json + model.safetensors +
tokenizer/). `default` names the small checkpoint shipped with the model package. An optional
`dataset_meta.json` beside it (the training dataset's meta.json) gives the action period
(1 / fps) and the camera resolution the policy was trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from fdvla_model import DEFAULT_CHECKPOINT
from fdvla_model.dataset.meta import POLICY_DATASET_META
from fdvla_msgs import topics

#: Without dataset_meta.json: the dataset format's default fps.
DEFAULT_ACTION_DT = 0.1


class PolicyLoadError(ValueError):
    """A checkpoint that cannot be used; the message says why in one line."""


@dataclass
class PolicyInfo:
    path: Path
    variant: str
    camera_names: list
    chunk_size: int
    action_dt: float
    needs_wrench: bool
    #: {camera: (height, width)} the policy was trained on, when known
    camera_sizes: dict = field(default_factory=dict)
    #: wrench readings the model reads, action_dt apart, the newest last (FDVLAConfig.force_history)
    force_history: int = 1


def resolve_checkpoint(spec: str | Path) -> Path:
    if str(spec) == "default":
        path = DEFAULT_CHECKPOINT
        if not (path / "config.json").is_file():
            raise PolicyLoadError(f"the default policy is missing ({path}); make it with "
                                  "scripts/make_default_policy.py")
        return path
    path = Path(spec).expanduser()
    if not path.exists():
        raise PolicyLoadError(f"policy checkpoint {path} does not exist")
    if path.is_file():
        if path.suffix in (".pt", ".pth", ".bin", ".pkl", ".ckpt"):
            raise PolicyLoadError(f"{path}: pickled weights are never loaded; give a checkpoint "
                                  "folder with model.safetensors")
        if path.name in ("model.safetensors", "config.json"):
            path = path.parent
        else:
            raise PolicyLoadError(f"{path} is not a checkpoint folder (config.json + model.safetensors)")
    if (path / "policy" / "config.json").is_file():  # a `fdvla train --out` folder
        path = path / "policy"
    for name in ("config.json", "model.safetensors"):
        if not (path / name).is_file():
            raise PolicyLoadError(f"{path} is not an FD-VLA checkpoint: no {name}")
    return path


def refuse_local_frame(path: Path, action_frame: str) -> None:
    """A checkpoint whose actions are relative to a localised target (a ViTaL local policy)
    would command poses near the base's origin if read as `base` poses: refused."""
    if action_frame != "base":
        raise PolicyLoadError(
            f"{path}: its actions are in the {action_frame!r} frame (a ViTaL local policy, "
            "docs/vital.md); the global policy's chunk pipeline sends base-frame poses only")


def read_info(path: Path, config, local: bool = False) -> PolicyInfo:
    """What the pipeline needs to know of a checkpoint. `local`: it is the local policy of a
    ViTaL checkpoint (its target-frame vectors are transformed by the agent)."""
    if not local:
        refuse_local_frame(path, config.action_frame)
    action_dt, sizes = DEFAULT_ACTION_DT, {}
    meta = path / POLICY_DATASET_META
    if meta.is_file():
        try:
            d = json.loads(meta.read_text())
            action_dt = 1.0 / float(d["fps"])
            sizes = {k: (int(v["height"]), int(v["width"])) for k, v in d.get("cameras", {}).items()}
        except (ValueError, KeyError, TypeError, ZeroDivisionError) as e:
            raise PolicyLoadError(f"{meta}: unreadable dataset meta ({e})") from None
    return PolicyInfo(path=path, variant=config.variant, camera_names=list(config.camera_names),
                      chunk_size=int(config.chunk_size), action_dt=action_dt,
                      needs_wrench=bool(config.needs_wrench_at_inference), camera_sizes=sizes,
                      force_history=int(getattr(config, "force_history", 1)))


def load_for_inference(spec: str | Path, device: Optional[str] = None, local: bool = False):
    """(policy on its device in eval mode, PolicyInfo). Raises PolicyLoadError with one line.
    `local`: a ViTaL local policy (read_info)."""
    import torch
    from safetensors import SafetensorError

    from fdvla_model.model import FDVLAPolicy

    path = resolve_checkpoint(spec)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        policy = FDVLAPolicy.load(path, map_location=device)
    except SafetensorError as e:
        raise PolicyLoadError(f"{path / 'model.safetensors'} is corrupt: {e}") from None
    except json.JSONDecodeError as e:
        raise PolicyLoadError(f"{path / 'config.json'} is not valid JSON: {e}") from None
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        first = str(e).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[:4])
        raise PolicyLoadError(f"cannot load policy {path}: {detail}") from None
    return policy, read_info(path, policy.config, local=local)


def refuse_without_wrench(variant: str, wrench_available: bool, setup: str = "") -> None:
    """The one rule for deploying a checkpoint on a setup: a variant that reads the measured wrench
    at inference (force_token, no_fdm) is refused where there is no force/torque sensor, with a
    one-line PolicyLoadError; without it the policy would wait for a /wrench that never comes."""
    from fdvla_model.model.configuration_fdvla import VARIANT_SPECS

    if VARIANT_SPECS[variant].needs_wrench_at_inference and not wrench_available:
        raise PolicyLoadError(
            f"policy variant {variant!r} needs the measured wrench at inference, but setup "
            f"{setup or '(this one)'} has no force/torque sensor (no {topics.WRENCH}); use an "
            "'fdvla' checkpoint, which needs no wrench")
