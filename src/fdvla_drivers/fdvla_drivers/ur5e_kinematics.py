"""UR5e kinematics from the published Denavit-Hartenberg and inertial parameters.

Standard (distal) DH convention, as Universal Robots publishes it: frame i follows from frame i-1
by Rz(theta_i) Tz(d_i) Tx(a_i) Rx(alpha_i). Frame 0 is UR's `base` frame (the one the controller
reports TCP poses in), frame 6 is `tool0` (the flange). The TCP sits `tcp_offset` metres along
tool0's z axis, like a TCP configured on the teach pendant with only a z offset.

Plain numpy on purpose: the simulated servo loop evaluates this 500 times a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fdvla_msgs.types import Pose

# Published UR5e DH parameters (Universal Robots, "DH parameters for calculations of kinematics
# and dynamics").
UR5E_D = np.array([0.1625, 0.0, 0.0, 0.1333, 0.0997, 0.0996])
UR5E_A = np.array([0.0, -0.425, -0.3922, 0.0, 0.0, 0.0])
UR5E_ALPHA = np.array([np.pi / 2, 0.0, 0.0, np.pi / 2, -np.pi / 2, 0.0])
# Link masses (kg) and centres of mass (m, in DH frame i of link i), same source.
UR5E_MASS = np.array([3.761, 8.058, 2.846, 1.37, 1.3, 0.365])
UR5E_COM = np.array([
    [0.0, -0.02561, 0.00193],
    [0.2125, 0.0, 0.11336],
    [0.15, 0.0, 0.0265],
    [0.0, -0.0018, 0.01634],
    [0.0, 0.0018, 0.01634],
    [0.0, 0.0, -0.001159],
])
# Joint limits (rad) and the torque/speed ratings of the UR5e's joint sizes (size 3 and size 1).
UR5E_JOINT_LIMIT = 2 * np.pi
UR5E_MAX_TORQUE = np.array([150.0, 150.0, 150.0, 28.0, 28.0, 28.0])
UR5E_MAX_SPEED = np.array([np.pi, np.pi, np.pi, 2 * np.pi, 2 * np.pi, 2 * np.pi])

#: A joint configuration with the tool pointing straight down in front of the robot.
UR5E_HOME_Q = np.array([0.0, -1.9, 1.9, -1.5708, -1.5708, 0.0])


_COS_ALPHA = np.cos(UR5E_ALPHA)
_SIN_ALPHA = np.sin(UR5E_ALPHA)


def dh_link_transform(theta: float, i: int) -> np.ndarray:
    """Transform from DH frame i to frame i+1 (0-based joint index i) at joint angle theta."""
    ct, st = np.cos(theta), np.sin(theta)
    ca, sa = _COS_ALPHA[i], _SIN_ALPHA[i]
    a, d = UR5E_A[i], UR5E_D[i]
    return np.array([
        [ct, -st * ca, st * sa, a * ct],
        [st, ct * ca, -ct * sa, a * st],
        [0.0, sa, ca, d],
        [0.0, 0.0, 0.0, 1.0],
    ])


def _link_transforms(q: np.ndarray) -> np.ndarray:
    """(6, 4, 4) DH link transforms at q, built in one vectorised pass (the servo hot path)."""
    ct, st = np.cos(q), np.sin(q)
    A = np.zeros((6, 4, 4))
    A[:, 0, 0] = ct
    A[:, 0, 1] = -st * _COS_ALPHA
    A[:, 0, 2] = st * _SIN_ALPHA
    A[:, 0, 3] = UR5E_A * ct
    A[:, 1, 0] = st
    A[:, 1, 1] = ct * _COS_ALPHA
    A[:, 1, 2] = -ct * _SIN_ALPHA
    A[:, 1, 3] = UR5E_A * st
    A[:, 2, 1] = _SIN_ALPHA
    A[:, 2, 2] = _COS_ALPHA
    A[:, 2, 3] = UR5E_D
    A[:, 3, 3] = 1.0
    return A


def dh_fixed_transform(i: int) -> np.ndarray:
    """The joint-independent part Tz(d_i) Tx(a_i) Rx(alpha_i) of link i's transform."""
    return dh_link_transform(0.0, i)


def frames(q, tcp_offset: float = 0.0) -> list[np.ndarray]:
    """[T_0, T_1, ..., T_6, T_tcp]: every DH frame in base coordinates, then the TCP."""
    A = _link_transforms(np.asarray(q, dtype=np.float64))
    T = np.eye(4)
    out = [T]
    for i in range(6):
        T = T @ A[i]
        out.append(T)
    tcp = T.copy()
    tcp[:3, 3] += tcp_offset * T[:3, 2]
    out.append(tcp)
    return out


def forward(q, tcp_offset: float = 0.0) -> np.ndarray:
    """4x4 TCP pose in base (tool0 when tcp_offset is 0)."""
    return frames(q, tcp_offset)[-1]


def jacobian(q, tcp_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(6x6 geometric Jacobian [linear; angular] at the TCP in base axes, TCP transform)."""
    fs = frames(q, tcp_offset)
    z = np.array([T[:3, 2] for T in fs[:6]])
    r = fs[-1][:3, 3] - np.array([T[:3, 3] for T in fs[:6]])
    J = np.empty((6, 6))
    # z x r, row by row; np.cross costs more than the rest of the Jacobian together.
    J[:3] = (z[:, [1, 2, 0]] * r[:, [2, 0, 1]] - z[:, [2, 0, 1]] * r[:, [1, 2, 0]]).T
    J[3:] = z.T
    return J, fs[-1]


def rotation_error(R_target: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Rotation vector (base axes) that turns R into R_target."""
    E = R_target @ R.T
    cos = np.clip((np.trace(E) - 1.0) / 2.0, -1.0, 1.0)
    w = np.array([E[2, 1] - E[1, 2], E[0, 2] - E[2, 0], E[1, 0] - E[0, 1]])
    angle = np.arccos(cos)
    if angle < 1e-9:
        return 0.5 * w
    if np.pi - angle < 1e-4:
        # Near a half turn the skew part vanishes; take the axis from the symmetric part.
        axis = np.sqrt(np.maximum((np.diag(E) + 1.0) / 2.0, 0.0))
        k = int(np.argmax(axis))
        signs = np.sign(E[k] + E[:, k])
        signs[k] = 1.0
        axis = axis * signs
        return angle * axis / np.linalg.norm(axis)
    return angle / (2.0 * np.sin(angle)) * w


def pose_error(T_target: np.ndarray, T: np.ndarray) -> np.ndarray:
    """[dp; dtheta] from T to T_target, both in base axes."""
    return np.concatenate([T_target[:3, 3] - T[:3, 3], rotation_error(T_target[:3, :3], T[:3, :3])])


@dataclass
class IKResult:
    q: np.ndarray
    converged: bool
    position_error: float
    rotation_error: float
    iterations: int
    #: The Jacobian at (or within the last IK step of) q, for callers that need it anyway.
    jacobian: np.ndarray | None = None


def inverse(T_target: np.ndarray, q_seed, tcp_offset: float = 0.0, max_iterations: int = 100,
            tolerance: float = 1e-9, damping: float = 1e-3, max_step: float = 0.3) -> IKResult:
    """Damped-least-squares IK from `q_seed`: returns the nearby solution (same branch).

    Seeding from the previous servo target makes one or two iterations enough at 500 Hz and
    keeps the arm on the same elbow/wrist branch, like a UR's servoL.
    """
    q = np.array(q_seed, dtype=np.float64)
    lam2 = damping * damping
    it = 0
    err = np.full(6, np.inf)
    J = None
    for it in range(1, max_iterations + 1):
        J, T = jacobian(q, tcp_offset)
        err = pose_error(T_target, T)
        if err @ err < tolerance * tolerance:
            it -= 1
            break
        dq = J.T @ np.linalg.solve(J @ J.T + lam2 * np.eye(6), err)
        biggest = np.max(np.abs(dq))
        if biggest > max_step:
            dq *= max_step / biggest
        q += dq
    else:
        err = pose_error(T_target, forward(q, tcp_offset))
    ep, er = float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:]))
    return IKResult(q, bool(ep < 1e-6 and er < 1e-5), ep, er, it, J)


def tcp_pose(q, tcp_offset: float = 0.0) -> Pose:
    T = forward(q, tcp_offset)
    return Pose(T[:3, 3].copy(), matrix_to_quat_xyzw(T[:3, :3]))


def matrix_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion (x, y, z, w), Shepperd's method, without scipy."""
    tr = R[0, 0] + R[1, 1] + R[2, 2]
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    return np.array(q)


def pose_matrix(pose: Pose) -> np.ndarray:
    """Pose -> 4x4 without scipy (the hot path of the simulated servo loop)."""
    x, y, z, w = pose.quat_xyzw
    T = np.eye(4)
    T[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    T[:3, 3] = pose.position
    return T
