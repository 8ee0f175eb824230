"""RTC guidance runs through the model's own sampler: zero weight is plain sampling, bit for bit;
weight 1 pins the committed steps to the old chunk; the soft overlap is pulled toward it."""

import numpy as np
import pytest
import torch

from fdvla_model.action_space import action_vector
from fdvla_model.model import FDVLAConfig, FDVLAPolicy, NormalizationStats
from fdvla_msgs.types import Pose
from fdvla_policy_node.inference import PolicyRunner
from fdvla_policy_node.inference.loading import PolicyInfo
from fdvla_policy_node.inference.runner import Guide, dummy_observation

POSE = Pose(np.array([-0.45, -0.13, 0.24]), np.array([0.7071068, 0.7071068, 0.0, 0.0]))
CHUNK = 10


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(3)
    cfg = FDVLAConfig.tiny(variant="fdvla", chunk_size=CHUNK, state_dim=15, action_dim=9,
                           camera_names=["kinect", "wrist"], num_steps=4)
    policy = FDVLAPolicy(cfg).eval()
    stats = NormalizationStats.identity(15, 9)
    stats.action_mean = action_vector(POSE).astype(np.float32)
    stats.action_std = np.full(9, 0.05, np.float32)
    policy.set_normalization_stats(stats)
    info = PolicyInfo(path=None, variant="fdvla", camera_names=["kinect", "wrist"], chunk_size=CHUNK,
                      action_dt=0.1, needs_wrench=False)
    obs = dummy_observation(info, stamp=1.0, size=(48, 64))
    rng = np.random.default_rng(0)
    obs.images = {c: rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for c in info.camera_names}
    return policy, info, obs


def infer(setup, guide=None):
    policy, info, obs = setup
    return PolicyRunner(policy, info, seed=7).infer(obs, guide)  # same seed: same initial noise


def test_zero_weight_guidance_is_plain_sampling(setup):
    plain = infer(setup)
    old = plain.actions + 0.02
    free = infer(setup, Guide(old, np.zeros(CHUNK, np.float32)))
    np.testing.assert_array_equal(free.actions, plain.actions)
    np.testing.assert_array_equal(free.predicted_wrench, plain.predicted_wrench)
    np.testing.assert_array_equal(free.force_token, plain.force_token)


def test_guidance_pins_the_committed_steps_and_pulls_the_overlap_toward_the_old_chunk(setup):
    plain = infer(setup)
    old = plain.actions + 0.02
    weights = np.array([1, 1, 1, 0.8, 0.5, 0.2, 0, 0, 0, 0], np.float32)
    guided = infer(setup, Guide(old, weights))
    np.testing.assert_allclose(guided.actions[:3], old[:3], atol=1e-6)  # committed: the old chunk
    gap_plain = np.abs(plain.actions - old).max(axis=1)
    gap_guided = np.abs(guided.actions - old).max(axis=1)
    assert np.all(gap_guided[3:6] < gap_plain[3:6])  # the soft overlap moves toward it
    assert not np.allclose(guided.actions[6:], old[6:], atol=1e-3)  # the free tail is the model's
    np.testing.assert_array_equal(guided.predicted_wrench, plain.predicted_wrench)
