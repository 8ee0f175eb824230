"""The MJCF of the simulated cell, generated from the UR5e's published DH and inertial parameters.

Body i of the arm carries joint i (a hinge about its own z axis, which is DH frame i-1's z axis)
and the link that joint moves; its child sits at the link's fixed DH transform Tz(d) Tx(a)
Rx(alpha). So with all joints at q the frame of `tool0` equals the analytical DH forward
kinematics, which the tests check. Link inertias are not published as tensors; they are
approximated here by solid cylinders of the link's mass and rough dimensions.

Collision: only the tool in hand and the task objects collide; the arm's links are visual, so
the contact forces the F/T sensor sees come from the tool, as in the paper's tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from fdvla_drivers import ur5e_kinematics as kin

ARM_BODIES = tuple(f"ur5e_link{i}" for i in range(1, 7))
ARM_JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint",
              "wrist_1_joint", "wrist_2_joint", "wrist_3_joint")
TOOL_BODY = "tool"
COMPLIANT_TOOL_BODY = "compliant_tool"
COMPLIANCE_JOINTS = ("tool_compliance_x", "tool_compliance_y", "tool_compliance_z")
TOOL0_SITE = "tool0"
TCP_SITE = "tcp"
FT_SITE = "ft_sensor"
FT_FORCE_SENSOR = "ft_force"
FT_TORQUE_SENSOR = "ft_torque"
SCENE_CAMERA = "scene"
WRIST_CAMERA = "wrist"

# Rough link dimensions (radius, length along the link) for the visual capsules and the
# cylinder inertia approximation.
_LINK_RADIUS = (0.060, 0.054, 0.045, 0.038, 0.038, 0.032)


@dataclass
class ArmDynamics:
    """The joint-level parameters of the simulated arm (what makes it stiff or compliant)."""

    #: Rotor inertia reflected through the harmonic drives, kg m^2.
    armature: tuple = (0.5, 0.5, 0.25, 0.06, 0.06, 0.06)
    #: Viscous joint friction, N m s/rad.
    friction_damping: tuple = (2.0, 2.0, 1.5, 0.5, 0.5, 0.5)


@dataclass
class CameraPlacement:
    """Where the cameras are. Scene: Kinect-like, in front of the robot looking at the table;
    wrist: D405-like, on the flange looking past the tool."""

    scene_position: tuple = (-1.0, -0.17, 0.55)
    scene_target: tuple = (-0.42, -0.13, 0.10)
    scene_fovy_deg: float = 59.0  # Azure Kinect colour, 16:9 modes: 90 x 59 degrees
    #: Wrist camera position in tool0 coordinates, and the point (tool0 coordinates) it faces.
    wrist_position: tuple = (0.0, -0.085, 0.035)
    wrist_target: tuple = (0.0, 0.0, 0.16)
    wrist_fovy_deg: float = 58.0  # RealSense D405: 87 x 58 degrees


@dataclass(frozen=True)
class ToolCompliance:
    """A compliant element between the flange (F/T sensor, wrist camera) and the tool: three
    spring-loaded slides along tool0's axes, like a compliance device or a foam-padded tool.

    With it on a position-stiff arm the contact force is the spring's deflection, which the
    joints do not see (the kinematic TCP is the undeflected one), so the arm's pose no longer
    carries the force; only the F/T sensor (or a model of it) does.
    """

    #: N/m along tool0's x, y and z (z: along the tool, pressing).
    stiffness: tuple = (4000.0, 4000.0, 4000.0)
    #: kg of reflected inertia on each slide (the device's moving carriage). MuJoCo's soft
    #: contacts and friction are as stiff as the mass behind them allows: on a 0.2 kg tool
    #: alone the prong sank a millimetre into what it pressed, and at 1.5 kg the wiping pad
    #: rubbed with half its friction coefficient above ~2.5 N (it crept instead of sliding).
    armature: float = 5.0
    #: N s/m: about 0.7 of critical for tool and carriage on the spring (4.4 Hz).
    damping: tuple = (200.0, 200.0, 200.0)
    #: m each slide can travel either way before its end stop.
    travel: float = 0.02

    def xml(self, tool_xml: str) -> str:
        joints = "\n".join(
            f'<joint name="{name}" type="slide" axis="{axis}" stiffness="{k:.6g}" '
            f'damping="{c:.6g}" armature="{self.armature:.6g}" '
            f'range="{-self.travel:.6g} {self.travel:.6g}"/>'
            for name, axis, k, c in zip(COMPLIANCE_JOINTS, ("1 0 0", "0 1 0", "0 0 1"),
                                        self.stiffness, self.damping))
        return f'<body name="{COMPLIANT_TOOL_BODY}">{joints}{tool_xml}</body>'


@dataclass
class CellConfig:
    timestep: float = 0.002
    dynamics: ArmDynamics = field(default_factory=ArmDynamics)
    cameras: CameraPlacement = field(default_factory=CameraPlacement)
    #: The table top is the plane z = 0 of `base` (the robot stands on the table).
    table_half_size: tuple = (0.9, 0.9, 0.02)


def _fmt(v) -> str:
    return " ".join(f"{float(x):.9g}" for x in np.ravel(v))


def _quat_wxyz(R: np.ndarray) -> np.ndarray:
    x, y, z, w = Rotation.from_matrix(R).as_quat()
    return np.array([w, x, y, z])


def look_at_xyaxes(position, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """MJCF `xyaxes` of a camera at `position` looking at `target` (cameras look along -z)."""
    z = np.asarray(position, float) - np.asarray(target, float)
    z /= np.linalg.norm(z)
    up = np.asarray(up, float)
    if abs(up @ z) > 0.99:
        up = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.concatenate([x, y])


def _cylinder_inertia(mass: float, radius: float, length: float) -> np.ndarray:
    """Diagonal inertia of a solid cylinder whose axis is x (for upper arm and forearm)."""
    axial = 0.5 * mass * radius**2
    transverse = mass * (3 * radius**2 + length**2) / 12.0
    return np.array([axial, transverse, transverse])


def _link_xml(i: int, dyn: ArmDynamics, inner: str) -> str:
    """Body of link i+1 (0-based i): joint, inertia, visuals; `inner` is nested at its DH end."""
    C = kin.dh_fixed_transform(i)
    end = C[:3, 3]
    d = kin.UR5E_D[i]
    com = C[:3, :3] @ kin.UR5E_COM[i] + end
    r = _LINK_RADIUS[i]
    length = abs(kin.UR5E_A[i])
    if length > 0:
        diag = _cylinder_inertia(kin.UR5E_MASS[i], r, length)
        iquat = _quat_wxyz(C[:3, :3])  # cylinder axis along the DH x axis of frame i
    else:
        diag = np.full(3, 0.4 * kin.UR5E_MASS[i] * r**2)
        iquat = np.array([1.0, 0.0, 0.0, 0.0])
    lim = kin.UR5E_JOINT_LIMIT
    visuals = [f'<geom class="arm" type="cylinder" size="{r:.3f} {r:.3f}" pos="0 0 0"/>']
    if abs(d) > 1e-9:
        visuals.append(f'<geom class="arm" type="capsule" size="{0.8 * r:.3f}" '
                       f'fromto="0 0 0 0 0 {d:.6g}"/>')
    if np.linalg.norm(end - [0, 0, d]) > 1e-9:
        visuals.append(f'<geom class="arm" type="capsule" size="{0.8 * r:.3f}" '
                       f'fromto="0 0 {d:.6g} {_fmt(end)}"/>')
    return f"""
<body name="{ARM_BODIES[i]}">
  <joint name="{ARM_JOINTS[i]}" type="hinge" axis="0 0 1" range="{-lim:.6g} {lim:.6g}"
         armature="{dyn.armature[i]:.6g}" damping="{dyn.friction_damping[i]:.6g}"/>
  <inertial pos="{_fmt(com)}" quat="{_fmt(iquat)}" mass="{kin.UR5E_MASS[i]:.6g}"
            diaginertia="{_fmt(diag)}"/>
  {"".join(visuals)}
  <frame pos="{_fmt(end)}" quat="{_fmt(_quat_wxyz(C[:3, :3]))}">
    {inner}
  </frame>
</body>"""


def arm_xml(tool_xml: str, tcp_offset: float, dyn: ArmDynamics, cams: CameraPlacement,
            compliance: ToolCompliance | None = None) -> str:
    """The arm's kinematic tree; `tool_xml` is the geometry of the tool on the flange, rigid or
    behind `compliance`."""
    if compliance is not None:
        tool_xml = compliance.xml(tool_xml)
    wrist_axes = look_at_xyaxes(cams.wrist_position, cams.wrist_target, up=(0.0, -1.0, 0.0))
    camera_body = np.add(cams.wrist_position, (0.0, -0.004, -0.012))
    tool = f"""
<site name="{TOOL0_SITE}" size="0.005" rgba="1 0 0 0.5" group="4"/>
<body name="{TOOL_BODY}">
  <site name="{FT_SITE}" size="0.004" group="4"/>
  <site name="{TCP_SITE}" pos="0 0 {tcp_offset:.9g}" size="0.004" rgba="0 1 0 0.5" group="4"/>
  <geom class="arm" type="cylinder" size="0.032 0.008" pos="0 0 0.008" mass="0.05"/>
  <camera name="{WRIST_CAMERA}" mode="fixed" pos="{_fmt(cams.wrist_position)}"
          xyaxes="{_fmt(wrist_axes)}" fovy="{cams.wrist_fovy_deg:.6g}"/>
  <geom class="arm" type="box" size="0.021 0.012 0.018" pos="{_fmt(camera_body)}" mass="0.06"/>
  {tool_xml}
</body>"""
    inner = tool
    for i in reversed(range(6)):
        inner = _link_xml(i, dyn, inner)
    return inner


def build_cell_xml(task, tcp_offset: float, config: CellConfig | None = None) -> str:
    """MJCF of the cell: table, UR5e with the task's tool, the task's objects, cameras, F/T."""
    cfg = config or CellConfig()
    cams = cfg.cameras
    scene_axes = look_at_xyaxes(cams.scene_position, cams.scene_target)
    th = np.asarray(cfg.table_half_size)
    actuators = "\n".join(
        f'<motor name="{j}_motor" joint="{j}" ctrlrange="{-t:.6g} {t:.6g}"/>'
        for j, t in zip(ARM_JOINTS, kin.UR5E_MAX_TORQUE))
    return f"""
<mujoco model="fdvla_ur5e_cell_{task.name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{cfg.timestep:.6g}" integrator="implicitfast" cone="elliptic"/>
  <visual>
    <global offwidth="1280" offheight="960"/>
    <quality shadowsize="1024"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5"/>
  </visual>
  <default>
    <default class="arm">
      <geom contype="0" conaffinity="0" rgba="0.62 0.66 0.70 1" density="0"/>
    </default>
    <default class="tool">
      <geom contype="1" conaffinity="1" condim="3" friction="0.5 0.005 0.0001"
            solref="0.02 1" solimp="0.5 0.9 0.001" rgba="0.15 0.15 0.18 1"/>
    </default>
    <default class="object">
      <geom contype="1" conaffinity="1" condim="3" friction="0.5 0.005 0.0001"
            solref="0.02 1" solimp="0.5 0.9 0.001"/>
    </default>
    <default class="decal">
      <geom contype="0" conaffinity="0" density="0"/>
    </default>
  </default>
  <asset>
    <texture name="grid" type="2d" builtin="checker" width="256" height="256"
             rgb1="0.55 0.50 0.44" rgb2="0.50 0.46 0.40"/>
    <material name="table" texture="grid" texrepeat="8 8"/>
    {task.assets_xml()}
  </asset>
  <worldbody>
    <light name="top" pos="-0.4 -0.2 1.6" dir="0 0 -1" diffuse="0.6 0.6 0.6"/>
    <geom name="table" class="object" type="box" size="{_fmt(th)}" pos="0 0 {-th[2]:.6g}"
          material="table"/>
    <geom name="robot_pedestal" class="arm" type="cylinder" size="0.075 0.01" pos="0 0 0.01"/>
    <camera name="{SCENE_CAMERA}" mode="fixed" pos="{_fmt(cams.scene_position)}"
            xyaxes="{_fmt(scene_axes)}" fovy="{cams.scene_fovy_deg:.6g}"/>
    {arm_xml(task.tool_xml(), tcp_offset, cfg.dynamics, cams, task.tool_compliance())}
    {task.world_xml()}
  </worldbody>
  <actuator>
    {actuators}
  </actuator>
  <sensor>
    <force name="{FT_FORCE_SENSOR}" site="{FT_SITE}"/>
    <torque name="{FT_TORQUE_SENSOR}" site="{FT_SITE}"/>
  </sensor>
</mujoco>
"""
