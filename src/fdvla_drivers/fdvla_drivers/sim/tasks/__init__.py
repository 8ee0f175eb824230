"""The paper's three contact-rich tasks in the simulated cell."""

from fdvla_drivers.sim.tasks.base import SimTask, StartRegion, tool_down
from fdvla_drivers.sim.tasks.button import ButtonTask
from fdvla_drivers.sim.tasks.plug import PlugTask
from fdvla_drivers.sim.tasks.wipe import WipeTask

TASKS = {"button": ButtonTask, "plug": PlugTask, "wipe": WipeTask}

__all__ = ["SimTask", "StartRegion", "tool_down", "ButtonTask", "PlugTask", "WipeTask", "TASKS",
           "make_task"]


def make_task(name: str, **kwargs) -> SimTask:
    try:
        return TASKS[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}") from None
