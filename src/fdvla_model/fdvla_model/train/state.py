"""Training state on disk without pickle: tensors in safetensors, everything else in JSON.

A checkpoint folder holds, beside the policy's own save():
  training_state.safetensors   optimizer tensors (per parameter: step, exp_avg, exp_avg_sq, ...)
  training_state.json          step, scheduler state, optimizer param groups, parameter names,
                               the training configuration
  rng_rank<R>.safetensors      the RNG streams of process R (torch CPU, CUDA, numpy; python's
                               `random` as JSON in the file's metadata)
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"


def _rng_file(rank: int) -> str:
    return f"rng_rank{rank}.safetensors"


def _jsonable(x):
    if isinstance(x, torch.Tensor):
        return x.item() if x.numel() == 1 else x.tolist()
    if isinstance(x, tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def optimizer_state_to_tensors(optimizer: torch.optim.Optimizer) -> tuple:
    """Split an optimizer state_dict into ({name: tensor}, json-able rest)."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, per_param in sd["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{pid}.{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = _jsonable(value)
    return tensors, {"param_groups": _jsonable(sd["param_groups"]), "scalar_state": scalars}


def optimizer_state_from_tensors(tensors: dict, rest: dict) -> dict:
    """Inverse of optimizer_state_to_tensors: a state_dict for Optimizer.load_state_dict."""
    state: dict = {}
    for name, value in tensors.items():
        if not name.startswith("optimizer."):
            continue
        _, pid, key = name.split(".", 2)
        state.setdefault(int(pid), {})[key] = value
    for pid, per_param in rest.get("scalar_state", {}).items():
        state.setdefault(int(pid), {}).update(per_param)
    groups = []
    for g in rest["param_groups"]:
        g = dict(g)
        if "betas" in g and isinstance(g["betas"], list):
            g["betas"] = tuple(g["betas"])
        groups.append(g)
    return {"state": state, "param_groups": groups}


def save_training_state(directory, *, optimizer: torch.optim.Optimizer, scheduler, step: int,
                        parameter_names: Sequence[str], extra: Optional[dict] = None) -> None:
    directory = Path(directory)
    tensors, rest = optimizer_state_to_tensors(optimizer)
    save_file(tensors, str(directory / STATE_TENSORS))
    doc = {
        "step": int(step),
        "scheduler": _jsonable({k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}),
        "optimizer": rest,
        "parameter_names": list(parameter_names),
        "extra": _jsonable(extra or {}),
    }
    (directory / STATE_JSON).write_text(json.dumps(doc, indent=1) + "\n")


def read_training_state_json(directory) -> dict:
    path = Path(directory) / STATE_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a training checkpoint")
    return json.loads(path.read_text())


def load_training_state(directory, *, optimizer: torch.optim.Optimizer, scheduler,
                        parameter_names: Sequence[str]) -> dict:
    """Restore optimizer and scheduler in place; returns the JSON document (step, extra...)."""
    directory = Path(directory)
    doc = read_training_state_json(directory)
    if list(parameter_names) != doc["parameter_names"]:
        missing = sorted(set(doc["parameter_names"]) ^ set(parameter_names))[:5]
        raise ValueError(f"checkpoint {directory} was trained with a different set of parameters "
                         f"(first differences: {missing})")
    device = next((p.device for g in optimizer.param_groups for p in g["params"]), torch.device("cpu"))
    tensors = load_file(str(directory / STATE_TENSORS), device=str(device))
    optimizer.load_state_dict(optimizer_state_from_tensors(tensors, doc["optimizer"]))
    sched = dict(doc["scheduler"])
    sched["lr_lambdas"] = [None] * len(optimizer.param_groups)
    scheduler.load_state_dict(sched)
    return doc


def save_rng_state(directory, rank: int = 0) -> None:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).astype(np.int64))
    metadata = {
        "numpy": json.dumps({"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss),
                             "cached_gaussian": float(cached)}),
        "python": json.dumps(_jsonable(random.getstate())),
    }
    save_file(tensors, str(Path(directory) / _rng_file(rank)), metadata=metadata)


def restore_rng_state(directory, rank: int = 0) -> bool:
    """Restore this process's RNG streams; False when the checkpoint has none for this rank."""
    from safetensors import safe_open

    path = Path(directory) / _rng_file(rank)
    if not path.is_file():
        return False
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    torch.set_rng_state(tensors["torch_cpu"])
    cuda_keys = sorted((k for k in tensors if k.startswith("torch_cuda_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    cuda_states = [tensors[k] for k in cuda_keys]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    np_meta = json.loads(metadata["numpy"])
    np.random.set_state((np_meta["kind"], tensors["numpy_keys"].numpy().astype(np.uint32),
                         np_meta["pos"], np_meta["has_gauss"], np_meta["cached_gaussian"]))
    version, internal, gauss = json.loads(metadata["python"])
    random.setstate((version, tuple(internal), gauss))
    return True
