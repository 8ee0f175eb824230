"""The scripted experts outside the sim process, fed by /sim/task_state (ROS-free).

`fdvla_drivers.sim.experts` plan from a SimTask object; `task_from_state` rebuilds such an
object (parameters from the task class, placement from the published privileged object poses),
so the very same expert code plans here as in the in-process rollout.
"""

from __future__ import annotations

import re

import numpy as np
from scipy.spatial.transform import Rotation

from fdvla_drivers.sim.experts import ScriptedExpert, make_expert
from fdvla_drivers.sim.tasks import make_task


def _yaw(pose7) -> float:
    return float(Rotation.from_quat(pose7[3:7]).as_euler("xyz")[2])


def task_from_state(state: dict):
    """A SimTask placed as the running episode's task (from a /sim/task_state dict)."""
    task = make_task(state["task"])
    poses = {k: np.asarray(v, dtype=np.float64) for k, v in state["object_poses"].items()}
    name = task.name
    if name == "button":
        p = poses["button_cap_top"]
        task._xy, task._yaw = p[:2].copy(), _yaw(p)
    elif name == "plug":
        p = poses["socket_hole_top"]
        task._xy, task._yaw = p[:2].copy(), _yaw(p)
    elif name == "wipe":
        p = poses["board_surface"]
        task._xy, task._yaw = p[:2].copy(), _yaw(p)
        marks = sorted((int(m.group(1)), v) for k, v in poses.items()
                       if (m := re.fullmatch(r"mark(\d+)", k)))
        xy = np.array([v[:2] for _, v in marks]).reshape(-1, 2)
        c, s = np.cos(task._yaw), np.sin(task._yaw)
        R = np.array([[c, -s], [s, c]])
        task.mark_xy_board = (xy - task._xy) @ R  # world -> board axes
        task.n_marks = len(xy)
        task.erased = np.zeros(len(xy), dtype=bool)
    else:
        raise ValueError(f"no pose mapping for task {name!r}")
    return task


def expert_for_state(state: dict) -> ScriptedExpert:
    return make_expert(task_from_state(state))
