"""What every simulated task provides: its MJCF pieces, randomisation, physics hook, success check.

A task's state that the cameras must see (a latched button, erased marks) lives in MjData
(joint positions, mocap poses), so a camera that copies qpos and mocap from a snapshot renders
it without asking the task.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import mujoco
import numpy as np

from fdvla_msgs.types import TOOL_DOWN, Pose, equivalent_yaw, tool_down  # noqa: F401 (re-exported)
from fdvla_drivers.sim.tasks import PHYSICS, PLACEMENTS, STARTS
from fdvla_drivers.sim.ur5e_model import ToolCompliance

#: Centre of the region of the table where task objects are placed (base frame, metres).
WORK_CENTRE = np.array([-0.45, -0.13, 0.0])


def yaw_quat_wxyz(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


@dataclass
class StartRegion:
    """Where an episode's TCP starts: a box above the work area (tool pointing down)."""

    centre: tuple = (-0.45, -0.13, 0.24)
    half_extent: tuple = (0.04, 0.04, 0.02)
    max_yaw: float = 0.15

    def sample(self, rng: np.random.Generator, task: "SimTask | None" = None) -> Pose:
        p = np.asarray(self.centre) + rng.uniform(-1, 1, 3) * np.asarray(self.half_extent)
        return Pose.from_rotation(p, tool_down(rng.uniform(-self.max_yaw, self.max_yaw)))


@dataclass
class NearTarget:
    """Where a ViTaL local policy's episodes start: a box around a pre-contact pose above the
    placed target, the tool's yaw near the target's (modulo its symmetry). ViTaL trains its
    local policy from random starts near the target; the same seed places the objects as with
    the global start (the start is drawn after them)."""

    height: float = 0.05  # m above the target
    half_extent: tuple = (0.03, 0.03, 0.015)
    max_yaw: float = 0.25  # rad about the target's yaw

    def sample(self, rng: np.random.Generator, task: "SimTask") -> Pose:
        target = task.object_poses()[task.target_name]
        yaw = equivalent_yaw(target.rotation.as_euler("xyz")[2], task.target_yaw_symmetry)
        p = target.position + [0.0, 0.0, self.height] + \
            rng.uniform(-1, 1, 3) * np.asarray(self.half_extent)
        return Pose.from_rotation(p, tool_down(yaw + rng.uniform(-self.max_yaw, self.max_yaw)))


#: fdvla_drivers.sim.tasks.STARTS -> the class that draws the start pose.
START_MODES = {"region": StartRegion, "near_target": NearTarget}




class JudgedForce:
    """The contact force a task judges: the solver's normal force through a first-order low-pass,
    stepped once per physics step. A 2 ms contact impulse (a click, a touch-down) is no press; a
    push held for a few time constants is, as a force sensor's bandwidth would see it."""

    def __init__(self, time_constant: float):
        self.time_constant = time_constant
        self._alpha = 1.0
        self.reset()

    def bind(self, timestep: float) -> None:
        self._alpha = 1.0 - float(np.exp(-timestep / self.time_constant))

    def reset(self) -> None:
        self.value = 0.0  # N
        self.peak = 0.0  # N, of `value`, since the reset

    def step(self, raw: float) -> float:
        self.value += self._alpha * (raw - self.value)
        self.peak = max(self.peak, self.value)
        return self.value


class ForceQuality:
    """The contact force of one episode, step by step: peak, mean while in contact, the share of
    contact time inside the task's force band, and how often contact was lost."""

    def __init__(self, threshold: float = 1.0, axis: str = "normal"):
        self.threshold = threshold  # N: above this the tool is in contact
        #: Which contact force the task judges: "normal" (pressing) or "tangential" (rubbing:
        #: the wipe's "force" physics, whose "contact" is then the pad rubbing the board).
        self.axis = axis
        self.reset()

    def reset(self) -> None:
        self.peak = 0.0
        self._sum = 0.0
        self._steps = 0
        self._in_band = 0
        self.contact_lost = 0
        self._touching = False

    def add(self, force: float, band: tuple[float, float] | None = None) -> None:
        touching = force > self.threshold
        if self._touching and not touching:
            self.contact_lost += 1
        self._touching = touching
        if not touching:
            return
        self.peak = max(self.peak, force)
        self._sum += force
        self._steps += 1
        if band is not None and band[0] <= force <= band[1]:
            self._in_band += 1

    def summary(self, band: tuple[float, float] | None = None) -> dict:
        n = self._steps
        return {"peak_force": round(float(self.peak), 2),
                "mean_contact_force": round(float(self._sum) / n, 2) if n else 0.0,
                "in_band_share": round(self._in_band / n, 3) if n and band else None,
                "contact_lost": self.contact_lost,
                "force_band": [float(b) for b in band] if band else None,
                "force_axis": self.axis}


class SimTask(abc.ABC):
    """One of the paper's tasks in the simulated cell."""

    name: str = ""
    instruction: str = ""
    #: The object_poses() entry a localiser finds and a local policy works relative to (ViTaL).
    target_name: str = ""
    #: The target looks the same turned by 2*pi/k about z (0: round, its yaw is not seen).
    target_yaw_symmetry: int = 0
    #: Flange-to-tool-tip distance (m): the default TCP offset along tool z.
    tool_length: float = 0.1
    #: Time constant (s) of the low-pass on the contact force the checker judges (JudgedForce).
    judged_force_time: float = 0.01

    def __init__(self, start_region: StartRegion | NearTarget | str | None = None,
                 physics: str = "nominal", placement: str = "nominal"):
        if physics not in PHYSICS:
            raise ValueError(f"{self.name}: unknown task physics {physics!r}; expected one of "
                             f"{', '.join(PHYSICS)}")
        if placement not in PLACEMENTS:
            raise ValueError(f"{self.name}: unknown placement {placement!r}; expected one of "
                             f"{', '.join(PLACEMENTS)}")
        if isinstance(start_region, str):
            if start_region not in STARTS:
                raise ValueError(f"{self.name}: unknown start {start_region!r}; expected one of "
                                 f"{', '.join(STARTS)}")
            start_region = START_MODES[start_region]()
        self.start_region = start_region or StartRegion()
        self.physics = physics
        self.placement = placement
        self.quality = ForceQuality()
        self.judged = JudgedForce(self.judged_force_time)

    # MJCF pieces ---------------------------------------------------------------------------
    def assets_xml(self) -> str:
        return ""

    @abc.abstractmethod
    def tool_xml(self) -> str:
        """Geoms of the tool, in tool0 coordinates (z pointing away from the flange)."""

    @abc.abstractmethod
    def world_xml(self) -> str:
        """Bodies of the task's objects (children of the world)."""

    def tool_compliance(self) -> ToolCompliance | None:
        """The compliant element behind the tool, or None for a rigid tool.

        Physics "force" puts the press's give in the tool, on a position-stiff arm (as a UR's
        servoJ is), so that the arm's pose does not carry the force (issue 18: with the give in
        an impedance servo, the tracking error told a policy without force what a force sensor
        would). Nominal keeps the rigid tool on the compliant servo that the shipped policy was
        trained on.
        """
        return ToolCompliance() if self.physics == "force" else None

    def tool_give(self, press_force: float) -> float:
        """m the compliant tool is compressed along its axis by `press_force` (N, pressing
        positive; 0 for a rigid tool): the tool's own spring, known like its length, so a
        script with a wrench can tell where the tip is from the TCP."""
        compliance = self.tool_compliance()
        if compliance is None:
            return 0.0
        return max(float(press_force), 0.0) / compliance.stiffness[2]

    # runtime -------------------------------------------------------------------------------
    def bind(self, model: mujoco.MjModel) -> None:
        """Look up the ids the task needs, once the model is compiled."""
        self.model = model
        self.judged.bind(model.opt.timestep)

    @abc.abstractmethod
    def randomize(self, data: mujoco.MjData, rng: np.random.Generator) -> None:
        """Place the objects at random and reset the task's state."""

    def placement_offset(self, rng: np.random.Generator, half_extent) -> np.ndarray:
        """The objects' xy offset from the work centre: uniform in the task's placement box,
        scaled by the placement setting (PLACEMENTS)."""
        return rng.uniform(-1, 1, 2) * np.asarray(half_extent) * PLACEMENTS[self.placement]

    def after_step(self, data: mujoco.MjData) -> None:
        """Called after every physics step (latching, erasing)."""

    def reset_contact(self) -> None:
        """A new episode: the judged force and the force quality start from zero."""
        self.judged.reset()
        self.quality.reset()

    def judge_contact(self, raw: float) -> float:
        """One physics step's contact force (N): low-passed into what the checker judges, and
        that same force into the episode's force quality (so its peak is the checked one)."""
        force = self.judged.step(raw)
        self.quality.add(force, self.force_band())
        return force

    @abc.abstractmethod
    def success(self) -> bool:
        """Whether the task is done, by the paper's criterion."""

    @abc.abstractmethod
    def object_poses(self) -> dict[str, Pose]:
        """Privileged object poses (base frame) for scripted experts and evaluation."""

    def target(self) -> dict:
        """The task's target as datasets store it (episode.json `extra.target`): its name, its
        pose in `base`, [x, y, z, qx, qy, qz, qw], and the symmetry of its yaw."""
        pose = self.object_poses()[self.target_name]
        return {"name": self.target_name,
                "pose": [*map(float, pose.position), *map(float, pose.quat_xyzw)],
                "yaw_symmetry": int(self.target_yaw_symmetry)}

    def hidden_params(self) -> dict:
        """This episode's physical parameters that decide success and that no camera shows
        (physics "force"); empty with the nominal physics."""
        return {}

    def force_band(self) -> tuple[float, float] | None:
        """The contact force (N) the task asks for this episode, (low, high); None where any
        force that does the task will do."""
        return None

    def progress(self) -> float:
        """A 0..1 measure of how much of the task is done (for logs; success() is the verdict)."""
        return float(self.success())

    def failure_cause(self) -> str:
        """A short reason why the task is not (yet) a success; empty once it is."""
        return "" if self.success() else "task not done"

    # helpers -------------------------------------------------------------------------------
    def _id(self, kind: mujoco.mjtObj, name: str) -> int:
        i = mujoco.mj_name2id(self.model, kind, name)
        if i < 0:
            raise KeyError(f"{self.name}: no {kind.name} named {name!r} in the model")
        return i

    def _mocap_id(self, body_name: str) -> int:
        return int(self.model.body_mocapid[self._id(mujoco.mjtObj.mjOBJ_BODY, body_name)])


def contact_force_vector(model: mujoco.MjModel, data: mujoco.MjData, geoms_a: set,
                         geoms_b: set) -> np.ndarray:
    """Total contact force (N, base frame) between two sets of geoms: normal and friction
    together, as the geoms of `geoms_a` push on those of `geoms_b`."""
    total = np.zeros(3)
    f6 = np.zeros(6)
    for k in range(data.ncon):
        c = data.contact[k]
        g1, g2 = int(c.geom1), int(c.geom2)
        if g1 in geoms_a and g2 in geoms_b:
            sign = 1.0
        elif g1 in geoms_b and g2 in geoms_a:
            sign = -1.0
        else:
            continue
        mujoco.mj_contactForce(model, data, k, f6)
        # The contact frame's rows are the normal and the two tangents, in the world frame.
        total += sign * (c.frame.reshape(3, 3).T @ f6[:3])
    return total


def contact_normal_force(model: mujoco.MjModel, data: mujoco.MjData, geoms_a: set,
                         geoms_b: set) -> float:
    """Total normal force (N) of the active contacts between two sets of geoms."""
    total = 0.0
    f6 = np.zeros(6)
    for k in range(data.ncon):
        c = data.contact[k]
        g1, g2 = int(c.geom1), int(c.geom2)
        if (g1 in geoms_a and g2 in geoms_b) or (g1 in geoms_b and g2 in geoms_a):
            mujoco.mj_contactForce(model, data, k, f6)
            total += abs(f6[0])
    return total
