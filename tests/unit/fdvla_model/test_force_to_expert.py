"""The force-to-expert extension: the force token also enters the action expert (issue 18).

A model with it must start as the model without it (the added path is zero), must let the force
token change the actions through the expert even with the VLM prefix held fixed, and must keep
the path through save/load and `fdvla train`.
"""

import pytest
import torch

from fdvla_model.dataset import write_synthetic_dataset
from fdvla_model.model import FDVLAConfig, FDVLAPolicy
from fdvla_model.train import TrainConfig, train


def test_only_a_variant_with_a_force_token_takes_it_and_old_configs_load_without_it():
    with pytest.raises(ValueError, match="no force token"):
        FDVLAConfig.tiny("no_force", force_to_expert=True)
    for variant in ("fdvla", "force_token", "no_fdm"):
        assert FDVLAConfig.tiny(variant, force_to_expert=True).force_to_expert
    old = FDVLAConfig.tiny("no_fdm").to_dict()
    old.pop("force_to_expert")
    assert FDVLAConfig.from_dict(old).force_to_expert is False


def test_it_starts_as_the_model_without_it(make_policy, make_batch, fixed_noise):
    plain = make_policy("no_fdm", seed=4)
    extended = make_policy("no_fdm", seed=4, force_to_expert=True)
    missing, unexpected = extended.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["model.force_expert_proj.weight", "model.force_expert_proj.bias"]
    assert not unexpected
    batch = make_batch(plain.config)
    noise = fixed_noise(plain.config)
    torch.testing.assert_close(extended.sample_actions(batch, noise=noise),
                               plain.sample_actions(batch, noise=noise))


def test_the_force_token_reaches_the_expert_past_a_fixed_prefix(make_policy, make_batch):
    for with_path in (False, True):
        policy = make_policy("no_fdm", seed=1, force_to_expert=with_path)
        if with_path:
            torch.nn.init.normal_(policy.model.force_expert_proj.weight, std=0.5)
        prefix = policy.encode_prefix(make_batch(policy.config))
        x_t = torch.randn(2, policy.config.chunk_size, policy.config.max_action_dim)
        t = torch.full((2,), 0.5)
        v = policy.model.velocity(prefix.kv, x_t, t, prefix.force_token)
        other = policy.model.velocity(prefix.kv, x_t, t, prefix.force_token + 3.0)
        assert torch.allclose(v, other) is (not with_path)  # the plain model ignores it
        if with_path:
            with pytest.raises(ValueError, match="force token"):
                policy.model.velocity(prefix.kv, x_t, t)


def test_it_trains_and_is_saved_by_fdvla_train(tmp_path, make_policy, make_batch):
    policy = make_policy("fdvla", force_to_expert=True).train()
    policy.compute_loss(make_batch(policy.config))["loss"].backward()
    assert policy.model.force_expert_proj.weight.grad.abs().sum() > 0
    root = tmp_path / "ds"
    write_synthetic_dataset(root, episodes=2, length=8, image_size=(32, 32), seed=1)
    out = tmp_path / "run"
    train(TrainConfig(dataset=str(root), out=str(out), variant="no_fdm", steps=3, batch_size=4,
                      chunk_size=2, warmup_steps=1, progress=False, lr=1e-2,
                      force_to_expert=True))
    saved = FDVLAPolicy.load(out / "policy")
    assert saved.config.force_to_expert
    assert saved.model.force_expert_proj.weight.abs().sum() > 0  # trained away from zero
