"""The oracle localiser in real time (the ViTaL ablation; simulation only).

Lock-step evaluation asks the task for its target directly. Over DDS the policy node reads it
from the sim's task state (/sim/task_state, privileged like the expert's plan) and adds the
oracle's noise. It answers only from a task state stamped no earlier than the scene frame the
agent localises from: after a reset the newest task state received can still be the old
placement's, and the agent then holds and asks again (VitalAgent.localise_patience).
"""

from __future__ import annotations

from typing import Optional

from fdvla_model.localise import OracleLocaliser


class TaskStateOracle:
    def __init__(self, oracle: OracleLocaliser):
        self.oracle = oracle
        self._state: Optional[tuple] = None  # (stamp, target dict)
        self._scene_stamp: Optional[float] = None

    def update(self, state: dict) -> None:
        """A /sim/task_state message (its JSON, decoded)."""
        if isinstance(state.get("target"), dict) and "stamp" in state:
            self._state = (float(state["stamp"]), state["target"])

    def observed(self, scene_stamp: Optional[float]) -> None:
        """The scene frame of the observation the agent is about to be given (None: unstamped)."""
        self._scene_stamp = scene_stamp

    def localise(self, _image) -> Optional[tuple]:
        """The localiser interface: (position, yaw | None), or None while no task state as new
        as the scene frame has arrived."""
        if self._state is None:
            return None
        stamp, target = self._state
        if self._scene_stamp is not None and stamp < self._scene_stamp:
            return None
        return self.oracle.localise_target(target)
