"""Scripted policies for the tasks' "force" physics (issue 18): the proof that force is needed.

For each task, one script in two modes with the same plan from the privileged object poses
(vision-level information): `reads_wrench=True` (the oracle) closes the contact phase on the
measured wrench; `reads_wrench=False` (blind) does the same with fixed depths and forces, as a
policy that sees only the cameras would have to. With the "force" physics the oracle should
succeed in >= 90 % of episodes and the blind script fail in at least half
(`bench/bench_force_necessity.py` measures it; tests check a few seeded episodes).

A script is an Agent of `fdvla_drivers.control.rollout.run_episode`: `act(state, now)` returns
the next ActionChunk (or None), `done(now)` says its plan is over.
"""

from __future__ import annotations

import importlib

#: task name -> (module of this package, class)
_SCRIPTS = {"button": ("button", "ButtonScript"), "plug": ("plug", "PlugScript"),
            "wipe": ("wipe", "WipeScript")}


def make_force_script(task, reads_wrench: bool, **kwargs):
    """The task's script: the oracle (reads the wrench) or its blind twin."""
    if task.name not in _SCRIPTS:
        raise ValueError(f"no force script for task {task.name!r}")
    module, cls = _SCRIPTS[task.name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(
        task, reads_wrench=reads_wrench, **kwargs)
