"""The paper's three contact-rich tasks in the simulated cell.

The registry is the one list of tasks: command-line choices, the study and the benches read
TASK_NAMES. It names each task's module instead of importing it, so the names are known without
loading MuJoCo, which must wait until `fdvla_drivers.environment.apply_defaults()` has chosen its
GL backend (MuJoCo reads MUJOCO_GL once, on import).
"""

from __future__ import annotations

import importlib

#: task name -> (module of this package, class)
_REGISTRY = {
    "button": ("button", "ButtonTask"),
    "plug": ("plug", "PlugTask"),
    "wipe": ("wipe", "WipeTask"),
}
TASK_NAMES = tuple(_REGISTRY)
#: "nominal": the paper's tasks as seen (a camera-only policy can do them); "force": a physical
#: parameter that decides success varies per episode where no camera sees it, so that the
#: measured (or distilled) force is needed (issue 18; docs/study/force_necessity.md).
PHYSICS = ("nominal", "force")
#: Where episodes start (`robot.task_start`): "region", the box above the work area the global
#: policy starts from; "near_target", around a pre-contact pose above the placed target (the
#: data of a ViTaL local policy, docs/vital.md).
STARTS = ("region", "near_target")
#: Where the task's objects are placed (`robot.task_placement`) -> the scale of each task's
#: placement box about the work centre: "nominal", the demonstrations' box; "wide", 1.5 times
#: it, the generalisation setting a global policy has not seen (the same seed draws the same
#: numbers, so a wide placement is the nominal one moved out from the centre).
PLACEMENTS = {"nominal": 1.0, "wide": 1.5}

#: what the package offers -> the module that defines it (imported on first use)
_EXPORTS = {"SimTask": "base", "StartRegion": "base", "tool_down": "base",
            **{cls: module for module, cls in _REGISTRY.values()}}

__all__ = [*_EXPORTS, "PHYSICS", "PLACEMENTS", "STARTS", "TASK_NAMES", "make_task"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


def make_task(name: str, **kwargs):
    """A new SimTask of the named task."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(_REGISTRY)}")
    return __getattr__(_REGISTRY[name][1])(**kwargs)
