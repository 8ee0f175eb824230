"""Pose <-> vector conversions of the state/action spaces."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fdvla_msgs.types import Pose
from fdvla_model.action_space import (
    ACTION_DIM,
    STATE_DIM,
    action_to_pose,
    action_vector,
    poses_to_vectors,
    rotation_from_6d,
    rotation_to_6d,
    split_state_vector,
    state_vector,
    vector_to_pose,
    vectors_to_poses,
)


def _random_poses(n, seed=0):
    rng = np.random.default_rng(seed)
    rots = Rotation.random(n, random_state=seed)
    return [Pose(rng.uniform(-1, 1, 3), r.as_quat()) for r in rots]


def test_6d_is_the_first_two_matrix_columns():
    R = Rotation.from_euler("xyz", [0.3, -0.7, 1.1]).as_matrix()
    v = rotation_to_6d(R)
    np.testing.assert_allclose(v[:3], R[:, 0])
    np.testing.assert_allclose(v[3:], R[:, 1])


def test_pose_round_trip_through_action_vector():
    for pose in _random_poses(20):
        back = action_to_pose(action_vector(pose))
        dp, dr = pose.distance_to(back)
        assert dp < 1e-12 and dr < 1e-9


def test_gram_schmidt_repairs_a_perturbed_6d_vector():
    R = Rotation.from_euler("zyx", [0.5, 0.2, -0.4]).as_matrix()
    noisy = rotation_to_6d(R) + np.array([0.02, -0.01, 0.03, 0.01, 0.02, -0.02])
    noisy[:3] *= 1.7  # scale of the first column must not matter
    fixed = rotation_from_6d(noisy)
    np.testing.assert_allclose(fixed @ fixed.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(fixed) == pytest.approx(1.0)
    # the first column keeps the direction of the first 3-vector
    np.testing.assert_allclose(fixed[:, 0], noisy[:3] / np.linalg.norm(noisy[:3]))
    assert Rotation.from_matrix(fixed).inv().__mul__(Rotation.from_matrix(R)).magnitude() < 0.1


def test_degenerate_6d_is_rejected():
    with pytest.raises(ValueError):
        rotation_from_6d(np.array([1.0, 0, 0, 2.0, 0, 0]))  # parallel columns
    with pytest.raises(ValueError):
        rotation_from_6d(np.zeros(6))


def test_batched_conversions_match_single():
    poses = _random_poses(7, seed=3)
    positions = np.stack([p.position for p in poses])
    quats = np.stack([p.quat_xyzw for p in poses])
    vectors = poses_to_vectors(positions, quats)
    assert vectors.shape == (7, ACTION_DIM)
    for v, p in zip(vectors, poses):
        np.testing.assert_allclose(v, action_vector(p))
    pos_back, quat_back = vectors_to_poses(vectors)
    np.testing.assert_allclose(pos_back, positions)
    # q and -q are the same rotation
    dots = np.abs(np.sum(quat_back * quats, axis=1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-12)


def test_state_vector_layout_and_inverse():
    pose = Pose.from_ur([0.4, -0.1, 0.3, 3.0, 0.1, -0.2])
    q = np.array([0.1, -1.5, 1.4, -1.2, -1.57, 0.3])
    s = state_vector(pose, q)
    assert s.shape == (STATE_DIM,)
    np.testing.assert_allclose(s[:3], pose.position)
    np.testing.assert_allclose(s[9:], q)
    pose_back, q_back = split_state_vector(s)
    assert pose.distance_to(pose_back)[1] < 1e-9
    np.testing.assert_allclose(q_back, q)
    with pytest.raises(ValueError):
        state_vector(pose, q[:5])
    with pytest.raises(ValueError):
        vector_to_pose(np.zeros(8))
