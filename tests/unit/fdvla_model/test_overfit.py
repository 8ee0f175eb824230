"""A tiny FD-VLA overfits a small synthetic dataset: the policy really learns through `train`."""

import pytest
import torch

from fdvla_model.dataset import EpisodeDataset, write_synthetic_dataset
from fdvla_model.model import FDVLAPolicy
from fdvla_model.model.modeling_fdvla import sample_flow_time
from fdvla_model.train import TrainConfig, train

CHUNK = 4


def _whole_dataset(dataset, repeats):
    samples = [dataset[i] for i in range(len(dataset))] * repeats
    return torch.utils.data.default_collate(samples)


@torch.no_grad()
def _training_loss(policy, batch, seed=123):
    """The training objective on the training set, with fixed noise and flow times."""
    g = torch.Generator().manual_seed(seed)
    n = len(batch["task"])
    noise = torch.randn(n, CHUNK, policy.config.max_action_dim, generator=g)
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    time = sample_flow_time(n, policy.config.time_beta_alpha, policy.config.time_beta_beta)
    torch.set_rng_state(state)
    policy.eval()
    return {k: float(v) for k, v in policy.compute_loss(batch, noise=noise, time=time).items()}


@torch.no_grad()
def _sampled_action_error(policy, batch):
    policy.eval()
    # zero noise: the deterministic mean prediction of the flow
    actions = policy.sample_actions(batch, noise=torch.zeros(len(batch["task"]), CHUNK, 9))
    err = ((actions - batch["actions"]) / policy.normalizer.action_std) ** 2
    return float(err[~batch["action_is_pad"]].mean())


@pytest.mark.slow
def test_tiny_fdvla_overfits_a_small_dataset(tmp_path):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, episodes=1, length=6, image_size=(32, 32), seed=0)
    cfg = TrainConfig(dataset=str(root), out=str(tmp_path / "out"), variant="fdvla", steps=300, batch_size=24,
                      lr=3e-3, warmup_steps=10, min_lr_ratio=1.0, chunk_size=CHUNK, save_every=10_000,
                      progress=False, seed=0)
    result = train(cfg)
    trained = result.policy
    untrained = FDVLAPolicy(trained.config)
    untrained.set_normalization_stats(trained.normalization_stats())

    batch = _whole_dataset(EpisodeDataset(root, chunk_size=CHUNK), repeats=16)
    before, after = _training_loss(untrained, batch), _training_loss(trained, batch)
    print("loss before", before, "after", after)
    assert after["flow_loss"] * 10 <= before["flow_loss"]
    # The student f_pF explains >= 90% of the teacher's variance on the data it trained on (the
    # untrained policy's L_dist is against another, random encoder: no baseline to compare).
    with torch.no_grad():
        target = trained.encode_prefix(batch, training=True).actual_force_token.float()
    assert after["dist_loss"] <= 0.1 * float(target.var(dim=0).mean())
    assert after["loss"] < before["loss"] / 3
    err_before, err_after = _sampled_action_error(untrained, batch), _sampled_action_error(trained, batch)
    print("sampled action error before", err_before, "after", err_after)
    assert err_after * 10 <= err_before and err_after < 0.05
