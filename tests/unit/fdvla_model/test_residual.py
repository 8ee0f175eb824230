"""ViTaL's residual (issue 19, item 5): the bounded actor, save/load, and SAC learning a
correction on a problem whose answer is known."""

import numpy as np
import pytest
import torch

from fdvla_model.residual import (FEATURES, ReplayBuffer, ResidualActor, ResidualConfig,
                                  ResidualLoadError, SACLearner, load_residual, save_residual)


def test_the_actor_starts_near_no_correction_and_never_exceeds_its_bound():
    cfg = ResidualConfig(max_offset=0.004)
    actor = ResidualActor(cfg)
    f = np.random.default_rng(0).normal(size=(200, len(FEATURES))) * 5
    mean = np.stack([actor.offset(x) for x in f])
    assert np.abs(mean).max() < 0.1 * cfg.max_offset  # starts as (almost) no correction
    explored = np.stack([actor.offset(x, explore=True) for x in f])
    assert np.abs(explored).max() <= cfg.max_offset + 1e-12
    assert explored.std() > 1e-4  # but it explores
    a, logp = actor.sample(torch.as_tensor(f, dtype=torch.float32))
    assert a.shape == (200, 3) and torch.isfinite(logp).all()


def test_save_and_load_round_trip_and_refusals(tmp_path):
    actor = ResidualActor(ResidualConfig(max_offset=0.003, hidden=16))
    with torch.no_grad():
        actor.net[-1].bias[:3] = torch.tensor([0.5, -0.2, 0.1])
    save_residual(actor, tmp_path / "r")
    back = load_residual(tmp_path / "r")
    x = np.ones(len(FEATURES), np.float32)
    assert back.config == actor.config
    assert np.allclose(back.offset(x), actor.offset(x))
    with pytest.raises(ResidualLoadError, match="no model.safetensors"):
        (tmp_path / "r" / "model.safetensors").unlink()
        load_residual(tmp_path / "r")
    with pytest.raises(ValueError, match="at most 0.02 m"):
        ResidualConfig(max_offset=0.1)


def test_replay_buffer_keeps_the_newest():
    b = ReplayBuffer(2, size=3)
    for i in range(5):
        b.add([i, i], [0, 0, 0], float(i), [i, i], False)
    assert len(b) == 3 and sorted(b.r.tolist()) == [2.0, 3.0, 4.0]


def test_sac_learns_the_offset_a_reward_asks_for():
    """One-step episodes: the reward is highest at the offset (+0.6, -0.3, 0) of the bound
    whatever the features; after training the actor's mean is near it."""
    cfg = ResidualConfig(hidden=32, batch_size=64, warmup_decisions=64, lr=3e-3)
    learner = SACLearner(cfg, seed=0)
    rng = np.random.default_rng(0)
    want = np.array([0.6, -0.3, 0.0])
    for _ in range(1500):
        f = rng.normal(size=len(FEATURES)).astype(np.float32)
        a = learner.actor.offset(f, explore=True) / cfg.max_offset
        learner.buffer.add(f, a, -float(np.sum((a - want) ** 2)), f, True)
        if learner.ready():
            learner.update()
    got = np.stack([learner.actor.offset(rng.normal(size=len(FEATURES)))
                    for _ in range(20)]) / cfg.max_offset
    assert np.abs(got.mean(axis=0) - want).max() < 0.15, got.mean(axis=0)
