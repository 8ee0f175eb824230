"""The simulated cell's physics: model, joint-space servo control and the F/T reading.

No threads and no clocks here; `SimRobotBackend` decides when `step` runs. The arm is driven by
joint torques tau = K_q (q_des - q) + D_q (qd_des - qd) + bias(q, qd): a Cartesian impedance at
the TCP mapped to joint space at the target, plus exact gravity and Coriolis compensation. The
stiffness is finite on purpose: pushing the target a centimetre into a surface gives a few tens
of newtons, as on a real position-controlled arm whose joints and gears give under load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from fdvla_msgs.types import Pose
from fdvla_drivers import ur5e_kinematics as kin
from fdvla_drivers.sim import ur5e_model as mdl
from fdvla_drivers.sim.tasks import SimTask


@dataclass
class ServoGains:
    """Impedance of the simulated servo, at the TCP: what makes it stiff or compliant."""

    #: Translational (N/m) and rotational (N m/rad) stiffness about the servo target.
    cartesian_stiffness: tuple = (4000.0, 4000.0, 4000.0, 250.0, 250.0, 250.0)
    #: Matching damping (N s/m, N m s/rad).
    cartesian_damping: tuple = (500.0, 500.0, 500.0, 18.0, 18.0, 18.0)
    #: Extra joint stiffness (N m/rad) so no direction goes slack near a singularity.
    joint_stiffness_floor: float = 20.0

    @classmethod
    def position_stiff(cls) -> "ServoGains":
        """A servo that holds its target to a fraction of a millimetre under the tasks' forces
        (0.4 mm at 40 N), as a UR's servoJ does: what physics "force" runs, with the give in a
        compliant tool (`SimTask.tool_compliance`). 25x the compliant servo's stiffness; the
        damping is what the explicit 2 ms step keeps stable (twice these gains chatter)."""
        return cls(cartesian_stiffness=(1.0e5, 1.0e5, 1.0e5, 500.0, 500.0, 500.0),
                   cartesian_damping=(800.0, 800.0, 800.0, 10.0, 10.0, 10.0))

@dataclass
class CellParams:
    cell: mdl.CellConfig = field(default_factory=mdl.CellConfig)
    #: None: what the task's physics asks for (a position-stiff servo behind a compliant tool,
    #: else the compliant servo).
    gains: ServoGains | None = None

    def servo_gains(self, task: SimTask) -> ServoGains:
        if self.gains is not None:
            return self.gains
        return ServoGains.position_stiff() if task.tool_compliance() else ServoGains()


def press_stiffness(task: SimTask) -> float:
    """N/m a servo target pushed past a rigid stop meets along the tool, with the task's
    physics' default servo: the servo's stiffness in series with the tool's compliance."""
    k = CellParams().servo_gains(task).cartesian_stiffness[2]
    compliance = task.tool_compliance()
    return k if compliance is None else 1.0 / (1.0 / k + 1.0 / compliance.stiffness[2])


@dataclass(frozen=True)
class SimSnapshot:
    """What a camera needs to render the cell as it was at `sim_time`."""

    sim_time: float
    qpos: np.ndarray
    mocap_pos: np.ndarray
    mocap_quat: np.ndarray
    #: The episode's seed: what the cameras' appearance split is drawn from.
    episode: int = 0


class SimCell:
    def __init__(self, task: SimTask, tcp_offset: float | None = None,
                 params: CellParams | None = None):
        self.task = task
        self.params = params or CellParams()
        self.episode_seed = 0  # the seed of this episode (reset); the cameras' split follows it
        self.tcp_offset = float(task.tool_length if tcp_offset is None else tcp_offset)
        cfg = self.params.cell
        self.xml = mdl.build_cell_xml(task, self.tcp_offset, cfg)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        self.data = mujoco.MjData(self.model)
        task.bind(self.model)
        jids = [self.model.joint(j).id for j in mdl.ARM_JOINTS]
        self._qadr = np.array([self.model.jnt_qposadr[j] for j in jids])
        self._dadr = np.array([self.model.jnt_dofadr[j] for j in jids])
        g = self.gains = self.params.servo_gains(task)
        self._kx = np.diag(np.asarray(g.cartesian_stiffness, dtype=np.float64))
        self._dx = np.diag(np.asarray(g.cartesian_damping, dtype=np.float64))
        self._k_floor = g.joint_stiffness_floor * np.eye(6)
        self._kq = self._k_floor.copy()
        self._dq = np.zeros((6, 6))
        self._tool = self.model.body(mdl.TOOL_BODY).id
        self._ft_site = self.model.site(mdl.FT_SITE).id
        self._tcp_site = self.model.site(mdl.TCP_SITE).id
        fs = self.model.sensor(mdl.FT_FORCE_SENSOR)
        ts = self.model.sensor(mdl.FT_TORQUE_SENSOR)
        self._f_adr = int(fs.adr[0])
        self._t_adr = int(ts.adr[0])
        self._gravity = self.model.opt.gravity.copy()
        compliance = task.tool_compliance()
        cj = [self.model.joint(j) for j in mdl.COMPLIANCE_JOINTS] if compliance else []
        self._compliance_adr = np.array([int(j.qposadr[0]) for j in cj], dtype=int)
        self._compliance_dadr = np.array([int(j.dofadr[0]) for j in cj], dtype=int)
        self._compliance_k = np.asarray(compliance.stiffness if compliance else (), float)
        self._compliant_body = self.model.body(mdl.COMPLIANT_TOOL_BODY).id if compliance else -1
        self.q_des = np.zeros(6)
        self.qd_des = np.zeros(6)
        self.ft_bias = np.zeros(6)
        self._macc = np.zeros(self.model.nv)

    # -------------------------------------------------------------------------- state
    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def q(self) -> np.ndarray:
        return self.data.qpos[self._qadr].copy()

    @property
    def qd(self) -> np.ndarray:
        return self.data.qvel[self._dadr].copy()

    def tcp_pose(self) -> Pose:
        return kin.tcp_pose(self.q, self.tcp_offset)

    def site_pose(self, name: str) -> np.ndarray:
        """4x4 pose of a site of the MuJoCo model in base (world) coordinates."""
        sid = self.model.site(name).id
        T = np.eye(4)
        T[:3, :3] = self.data.site_xmat[sid].reshape(3, 3)
        T[:3, 3] = self.data.site_xpos[sid]
        return T

    # -------------------------------------------------------------------------- reset
    def reset(self, rng: np.random.Generator, start: Pose | None = None,
              episode: int = 0) -> None:
        """A new episode from `rng` (made from the seed `episode`)."""
        self.episode_seed = int(episode)
        mujoco.mj_resetData(self.model, self.data)
        self.task.randomize(self.data, rng)
        self.task.reset_contact()
        start = start or self.task.start_region.sample(rng, self.task)
        ik = kin.inverse(kin.pose_matrix(start), kin.UR5E_HOME_Q, self.tcp_offset)
        if not ik.converged:
            raise ValueError(f"start pose {start} is out of reach of the arm")
        self.set_joints(ik.q)

    def set_joints(self, q) -> None:
        """Teleport the arm (resets only; motion goes through `q_des`)."""
        q = np.asarray(q, dtype=np.float64)
        self.data.qpos[self._qadr] = q
        self.data.qvel[self._dadr] = 0.0
        self.set_joint_target(q)
        # Two passes: the first computes the bias forces, the second the sensor readings with
        # the servo holding the arm (not with zero torque, which reads as a falling tool).
        mujoco.mj_forward(self.model, self.data)
        self._settle_compliance()
        self.data.ctrl[:6] = self.data.qfrc_bias[self._dadr]
        mujoco.mj_forward(self.model, self.data)

    def _settle_compliance(self) -> None:
        """Put a compliant tool where its own weight holds it (no bounce after a teleport, so
        the F/T zeroed at reset reads the tool at rest)."""
        if not self._compliance_adr.size:
            return
        d = self.data
        R = d.xmat[self._compliant_body].reshape(3, 3)  # slide axes are this body's axes
        weight = self.model.body_subtreemass[self._compliant_body] * self._gravity
        d.qpos[self._compliance_adr] = (R.T @ weight) / self._compliance_k
        d.qvel[self._compliance_dadr] = 0.0
        mujoco.mj_forward(self.model, self.data)

    # -------------------------------------------------------------------------- control
    def set_joint_target(self, q_des, qd_des=None, jacobian: np.ndarray | None = None) -> None:
        """Servo about joint target q_des with the configured Cartesian impedance.

        The Cartesian stiffness and damping are mapped to joint space once per target
        (K_q = J^T K_x J at q_des), so small deflections of the TCP see exactly K_x: pushing the
        tool into a surface tilts it little while the translation gives way.
        """
        self.q_des = np.asarray(q_des, dtype=np.float64).copy()
        self.qd_des = np.zeros(6) if qd_des is None else np.asarray(qd_des, np.float64).copy()
        J = kin.jacobian(self.q_des, self.tcp_offset)[0] if jacobian is None else jacobian
        self._kq = J.T @ self._kx @ J + self._k_floor
        self._dq = J.T @ self._dx @ J

    def contact_torque(self) -> np.ndarray:
        """The joint torque the servo spends holding off contact: its torque less what the
        arm's (and the tool's) own motion took, tau - M(q) qdd + tau_passive, as a robot's
        model-based observer computes it from joint currents. On a stiff servo the torque that
        accelerates the arm is tens of newtons at the TCP; without the model it reads as
        contact."""
        m, d = self.model, self.data
        # qacc and the forces are those of the last step (mj_step leaves them from its start
        # state), so take the servo's torque as applied then, not from the new qpos.
        mujoco.mj_mulM(m, d, self._macc, d.qacc)
        a = self._dadr
        return (d.qfrc_actuator[a] - d.qfrc_bias[a] + d.qfrc_passive[a]) - self._macc[a]

    def step(self, n: int = 1) -> None:
        m, d = self.model, self.data
        for _ in range(n):
            q = d.qpos[self._qadr]
            qd = d.qvel[self._dadr]
            tau = (self._kq @ (self.q_des - q) + self._dq @ (self.qd_des - qd)
                   + d.qfrc_bias[self._dadr])
            d.ctrl[:6] = tau
            mujoco.mj_step(m, d)
            self.task.after_step(d)

    # -------------------------------------------------------------------------- sensing
    def raw_wrench(self) -> np.ndarray:
        """External wrench on the tool, at the TCP, base axes; payload compensated, not zeroed.

        MuJoCo's force/torque sensors report what the flange exerts on the tool, in the sensor
        site's axes. In static balance that plus the tool's weight plus the external wrench is
        zero, which gives the external wrench (UR's getActualTCPForce convention: pressing the
        tool down onto a surface reads fz > 0).
        """
        d = self.data
        R = d.site_xmat[self._ft_site].reshape(3, 3)
        p_flange = d.site_xpos[self._ft_site]
        p_tcp = d.site_xpos[self._tcp_site]
        f_flange = R @ d.sensordata[self._f_adr:self._f_adr + 3]
        t_flange = R @ d.sensordata[self._t_adr:self._t_adr + 3]
        m = self.model.body_subtreemass[self._tool]
        weight = m * self._gravity
        com = d.subtree_com[self._tool]
        f_ext = -f_flange - weight
        t_ext_flange = -t_flange - _cross(com - p_flange, weight)
        t_ext_tcp = t_ext_flange + _cross(p_flange - p_tcp, f_ext)
        return np.concatenate([f_ext, t_ext_tcp])

    def external_force(self) -> np.ndarray:
        """The force part of `raw_wrench` alone (checked every step for protective stops)."""
        d = self.data
        R = d.site_xmat[self._ft_site].reshape(3, 3)
        m = self.model.body_subtreemass[self._tool]
        return -(R @ d.sensordata[self._f_adr:self._f_adr + 3]) - m * self._gravity

    def wrench(self) -> np.ndarray:
        return self.raw_wrench() - self.ft_bias

    def zero_ft(self) -> None:
        self.ft_bias = self.raw_wrench()

    def snapshot(self) -> SimSnapshot:
        d = self.data
        return SimSnapshot(float(d.time), d.qpos.copy(), d.mocap_pos.copy(), d.mocap_quat.copy(),
                           self.episode_seed)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # np.cross's generality costs ~10 us a call; this runs several times per servo cycle.
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                     a[0] * b[1] - a[1] * b[0]])
