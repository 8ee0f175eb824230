"""The vector spaces the policy sees: state and action vectors built from TCP poses.

state  (15) = TCP position xyz (m) + TCP rotation 6D + 6 joint positions (rad)
action  (9) = target TCP position xyz (m) + target rotation 6D

The 6D rotation is the first two columns of the rotation matrix (Zhou et al., "On the Continuity
of Rotation Representations"): unlike quaternions or rotation vectors it has no double cover and
no discontinuity, so a regression target stays smooth. Going back, Gram-Schmidt turns any two
non-parallel 3-vectors into a proper rotation, so a slightly-off network output still yields a
valid pose. Plain numpy + scipy; no ROS, no torch.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from fdvla_msgs.types import UR_JOINT_NAMES, Pose, equivalent_yaw

ROTATION_6D_NAMES = ("r11", "r21", "r31", "r12", "r22", "r32")
POSE_VECTOR_NAMES = ("x", "y", "z", *ROTATION_6D_NAMES)
STATE_NAMES = tuple(f"tcp_{n}" for n in POSE_VECTOR_NAMES) + tuple(UR_JOINT_NAMES)
ACTION_NAMES = tuple(f"target_{n}" for n in POSE_VECTOR_NAMES)
WRENCH_NAMES = ("fx", "fy", "fz", "tx", "ty", "tz")

POSE_VECTOR_DIM = len(POSE_VECTOR_NAMES)  # 9
STATE_DIM = len(STATE_NAMES)  # 15
ACTION_DIM = len(ACTION_NAMES)  # 9
WRENCH_DIM = len(WRENCH_NAMES)  # 6


def rotation_to_6d(matrices: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 6): column 1 then column 2."""
    m = np.asarray(matrices, dtype=np.float64)
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"expected (..., 3, 3) matrices, got {m.shape}")
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def rotation_from_6d(vectors: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) proper rotation matrices by Gram-Schmidt."""
    v = np.asarray(vectors, dtype=np.float64)
    if v.shape[-1] != 6:
        raise ValueError(f"expected (..., 6) vectors, got {v.shape}")
    degenerate = ValueError("6D rotation is degenerate (zero or parallel columns, or not finite)")
    a, b = v[..., :3], v[..., 3:]
    a_norm = np.linalg.norm(a, axis=-1, keepdims=True)
    if not np.all(np.isfinite(v)) or np.any(a_norm < 1e-9):
        raise degenerate
    e1 = a / a_norm
    b_orth = b - np.sum(e1 * b, axis=-1, keepdims=True) * e1
    b_norm = np.linalg.norm(b_orth, axis=-1, keepdims=True)
    if np.any(b_norm < 1e-9):
        raise degenerate
    e2 = b_orth / b_norm
    e3 = np.cross(e1, e2)
    return np.stack([e1, e2, e3], axis=-1)


def pose_to_vector(pose: Pose) -> np.ndarray:
    """Pose -> (9,) [x, y, z, r11, r21, r31, r12, r22, r32]."""
    return np.concatenate([pose.position, rotation_to_6d(pose.rotation.as_matrix())])


def vector_to_pose(vector: np.ndarray) -> Pose:
    """(9,) pose vector -> Pose (rotation re-orthonormalised)."""
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    if v.shape != (POSE_VECTOR_DIM,):
        raise ValueError(f"pose vector must have {POSE_VECTOR_DIM} elements, got {v.shape}")
    return Pose.from_rotation(v[:3], Rotation.from_matrix(rotation_from_6d(v[3:])))


def poses_to_vectors(positions: np.ndarray, quats_xyzw: np.ndarray) -> np.ndarray:
    """Batched: (N, 3) positions + (N, 4) quaternions -> (N, 9) pose vectors."""
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    rot = Rotation.from_quat(np.asarray(quats_xyzw, dtype=np.float64).reshape(-1, 4))
    return np.concatenate([positions, rotation_to_6d(rot.as_matrix())], axis=-1)


def vectors_to_poses(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched: (N, 9) pose vectors -> ((N, 3) positions, (N, 4) quaternions xyzw)."""
    v = np.asarray(vectors, dtype=np.float64).reshape(-1, POSE_VECTOR_DIM)
    quats = Rotation.from_matrix(rotation_from_6d(v[:, 3:])).as_quat()
    return v[:, :3].copy(), quats


def state_vector(tcp_pose: Pose, joint_positions: np.ndarray) -> np.ndarray:
    """(15,) state: TCP pose vector + joint positions in UR_JOINT_NAMES order."""
    q = np.asarray(joint_positions, dtype=np.float64).reshape(-1)
    if q.shape != (len(UR_JOINT_NAMES),):
        raise ValueError(f"expected {len(UR_JOINT_NAMES)} joint positions, got {q.shape}")
    return np.concatenate([pose_to_vector(tcp_pose), q])


def split_state_vector(state: np.ndarray) -> tuple[Pose, np.ndarray]:
    """Inverse of state_vector: (TCP pose, joint positions)."""
    s = np.asarray(state, dtype=np.float64).reshape(-1)
    if s.shape != (STATE_DIM,):
        raise ValueError(f"state vector must have {STATE_DIM} elements, got {s.shape}")
    return vector_to_pose(s[:POSE_VECTOR_DIM]), s[POSE_VECTOR_DIM:].copy()


def action_vector(target_pose: Pose) -> np.ndarray:
    """(9,) action for a target TCP pose."""
    return pose_to_vector(target_pose)


def action_to_pose(action: np.ndarray) -> Pose:
    """(9,) action -> target TCP pose."""
    return vector_to_pose(action)


# ----------------------------------------------------------------------------- target frame
#: Where a checkpoint's state and action vectors live: the robot's `base` frame (the global
#: policy), or the frame of the task's localised target (a ViTaL local policy, which sees the
#: same contact wherever the target was placed).
ACTION_FRAMES = ("base", "target")


class TargetFrame:
    """A frame at the target's position, turned about base z by its (symmetric) yaw: positions,
    6D rotations and wrenches expressed in it and back. The joint angles of a state say where
    the arm is in the cell, which a local policy must not learn, so `states_in` zeroes them."""

    def __init__(self, position, yaw: float = 0.0):
        self.position = np.asarray(position, dtype=np.float64).reshape(3)
        self.yaw = float(yaw)
        if not (np.all(np.isfinite(self.position)) and np.isfinite(self.yaw)):
            raise ValueError("target frame: position and yaw must be finite")
        self._r = Rotation.from_euler("z", self.yaw).as_matrix()

    @classmethod
    def from_label(cls, label, symmetry: int) -> "TargetFrame":
        """From an episode's target label (fdvla_model.dataset.target_label.TargetLabel): its
        position, its yaw as far as a `symmetry`-fold target shows it."""
        return cls(label.position, equivalent_yaw(label.yaw, symmetry))

    def _map(self, vectors: np.ndarray, r: np.ndarray, shift: np.ndarray) -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float64)
        flat = v.reshape(-1, v.shape[-1])
        out = flat.copy()
        out[:, :3] = (flat[:, :3] - shift) @ r.T
        rot = rotation_from_6d(flat[:, 3:POSE_VECTOR_DIM])
        out[:, 3:POSE_VECTOR_DIM] = rotation_to_6d(r @ rot)
        return out.reshape(v.shape)

    def poses_in(self, vectors: np.ndarray) -> np.ndarray:
        """(..., 9) pose vectors in `base` -> in this frame."""
        return self._map(vectors, self._r.T, self.position)

    def poses_out(self, vectors: np.ndarray) -> np.ndarray:
        """(..., 9) pose vectors in this frame -> in `base`."""
        out = self._map(vectors, self._r, np.zeros(3))
        out[..., :3] += self.position
        return out

    def states_in(self, states: np.ndarray) -> np.ndarray:
        """(..., 15) states in `base` -> TCP pose in this frame, joint angles zeroed."""
        s = np.asarray(states, dtype=np.float64)
        out = np.zeros_like(s)
        out[..., :POSE_VECTOR_DIM] = self.poses_in(s[..., :POSE_VECTOR_DIM])
        return out

    def wrenches_in(self, wrenches: np.ndarray) -> np.ndarray:
        """(..., 6) force and torque in `base` axes -> in this frame's axes (NaN rows stay)."""
        w = np.asarray(wrenches, dtype=np.float64)
        out = np.empty_like(w)
        out[..., :3] = w[..., :3] @ self._r
        out[..., 3:] = w[..., 3:] @ self._r
        return out
