"""Eq. 8: time sampling, the interpolation path, the velocity target and L_flow."""

import numpy as np
import pytest
import torch
from scipy import stats

from fdvla_model.model.modeling_fdvla import (
    flow_matching_loss,
    flow_target,
    noisy_actions,
    sample_flow_time,
)


def test_flow_time_follows_beta_1_5_1_on_0_001_to_1():
    torch.manual_seed(0)
    t = sample_flow_time(20000, 1.5, 1.0).numpy()
    assert t.min() >= 0.001 and t.max() <= 1.0
    result = stats.kstest(t, stats.beta(1.5, 1.0, loc=0.001, scale=0.999).cdf)
    assert result.pvalue > 1e-3
    # and it is not uniform (the check above has power)
    assert stats.kstest(t, stats.uniform(loc=0.001, scale=0.999).cdf).pvalue < 1e-6


def test_interpolation_path_and_target():
    actions, noise = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    t = torch.tensor([0.0, 0.25, 1.0])
    x_t = noisy_actions(actions, noise, t)
    torch.testing.assert_close(x_t[0], actions[0])
    torch.testing.assert_close(x_t[1], 0.25 * noise[1] + 0.75 * actions[1])
    torch.testing.assert_close(x_t[2], noise[2])
    # following the target from x_t for time t lands on the data: x_t - t * u = a
    u = flow_target(actions, noise)
    torch.testing.assert_close(x_t - t[:, None, None] * u, actions)


def test_flow_loss_ignores_padded_steps():
    velocity, target = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    valid = torch.tensor([[True, True, False, False], [True, True, True, True]])
    expected = ((velocity - target)[valid] ** 2).mean()
    torch.testing.assert_close(flow_matching_loss(velocity, target, valid), expected)


def test_policy_flow_loss_regresses_noise_minus_actions(make_policy, make_batch, fixed_noise):
    policy = make_policy("no_force")
    config = policy.config
    batch = make_batch(config)
    noise = fixed_noise(config)
    time = torch.tensor([0.3, 0.8])
    losses = policy.compute_loss(batch, noise=noise, time=time)
    # recompute by hand in normalised (here identity) units
    actions = torch.nn.functional.pad(batch["actions"], (0, config.max_action_dim - config.action_dim))
    with torch.no_grad():
        prefix = policy.encode_prefix(batch, training=True)
        x_t = time[:, None, None] * noise + (1 - time[:, None, None]) * actions
        velocity = policy.model.velocity(prefix.kv, x_t, time)
    dims = slice(0, config.action_dim)
    expected = ((velocity[..., dims] - (noise - actions)[..., dims]) ** 2).mean()
    torch.testing.assert_close(losses["flow_loss"], expected)
    torch.testing.assert_close(losses["loss"], expected)


def test_padded_chunk_steps_do_not_affect_the_loss(make_policy, make_batch, fixed_noise):
    policy = make_policy("no_force")
    batch = make_batch(policy.config)
    pad = torch.zeros(2, policy.config.chunk_size, dtype=torch.bool)
    pad[:, -10:] = True
    batch["action_is_pad"] = pad
    garbage = batch["actions"].clone()
    garbage[:, -10:] = 1e3
    noise, time = fixed_noise(policy.config), torch.tensor([0.5, 0.5])
    a = policy.compute_loss(batch, noise=noise, time=time)["flow_loss"]
    b = policy.compute_loss(dict(batch, actions=garbage), noise=noise, time=time)["flow_loss"]
    torch.testing.assert_close(a, b)


def test_gradients_reach_trainable_modules_not_the_frozen_vlm(make_policy, make_batch):
    policy = make_policy("fdvla", train_expert_only=True).train()  # SmolVLA's setting
    policy.compute_loss(make_batch(policy.config))["loss"].backward()
    vlm = policy.model.vlm_with_expert.vlm
    assert not vlm.training  # frozen VLM stays in eval mode
    assert all(p.grad is None and not p.requires_grad for p in vlm.parameters())
    trainable = policy.trainable_parameters()
    assert {id(p) for p in trainable}.isdisjoint(id(p) for p in vlm.parameters())
    assert policy.model.state_proj.weight.grad.abs().sum() > 0  # through the frozen VLM
    assert policy.model.vlm_with_expert.lm_expert.layers[1].self_attn.k_proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("variant", ["fdvla", "force_token", "no_fdm"])
def test_training_a_force_variant_without_wrench_is_a_clear_error(variant, make_policy, make_batch):
    from fdvla_model.model import MissingWrenchError

    policy = make_policy(variant)
    batch = make_batch(policy.config)
    del batch["wrench"]
    with pytest.raises(MissingWrenchError, match="wrench"):
        policy.compute_loss(batch)


def test_loss_combines_terms_with_lambda(make_policy, make_batch, fixed_noise):
    policy = make_policy("fdvla", dist_loss_weight=0.25, force_decoder_loss_weight=0.5)
    batch = make_batch(policy.config)
    losses = policy.compute_loss(batch, noise=fixed_noise(policy.config), time=torch.tensor([0.4, 0.6]))
    expected = losses["flow_loss"] + 0.25 * losses["dist_loss"] + 0.5 * losses["force_decoder_loss"]
    torch.testing.assert_close(losses["loss"], expected)
    assert np.isfinite([float(v.detach()) for v in losses.values()]).all()


@pytest.mark.parametrize("variant", ["fdvla", "force_token", "no_fdm", "no_force"])
def test_every_trainable_parameter_gets_a_gradient(variant, make_policy, make_batch):
    """No parameter sits unused (DistributedDataParallel would refuse to train otherwise)."""
    policy = make_policy(variant).train()
    policy.compute_loss(make_batch(policy.config))["loss"].backward()
    unused = [name for name, p in policy.named_parameters()
              if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())]
    assert unused == []


def test_samples_without_a_sensor_train_actions_only(make_policy, make_batch, fixed_noise):
    policy = make_policy("fdvla").train()
    batch = make_batch(policy.config)
    batch["wrench"][1] = float("nan")  # sample 1 was recorded without a force sensor
    noise, time = fixed_noise(policy.config), torch.tensor([0.4, 0.7])
    losses = policy.compute_loss(batch, noise=noise, time=time)
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in policy.trainable_parameters() if p.grad is not None)
    prefix = policy.encode_prefix(dict(batch, wrench=batch["wrench"][[0, 0]]), training=True)
    only_first = (prefix.force_token[0] - prefix.actual_force_token[0]).pow(2).mean()
    torch.testing.assert_close(losses["dist_loss"], only_first)


@pytest.mark.parametrize("variant", ["force_token", "no_fdm"])
def test_sensor_variants_reject_unmeasured_wrench(variant, make_policy, make_batch):
    from fdvla_model.model import MissingWrenchError

    policy = make_policy(variant)
    batch = make_batch(policy.config)
    batch["wrench"][0] = float("nan")
    with pytest.raises(MissingWrenchError, match="1 of 2"):
        policy.compute_loss(batch)


def test_tiny_preset_from_scratch_trains_its_vlm(make_policy, make_batch):
    """A random VLM frozen would hand the expert random projections of the pixels: the tiny
    preset trains it, vision encoder included."""
    policy = make_policy("fdvla").train()
    assert not policy.config.train_expert_only and not policy.config.freeze_vision_encoder
    policy.compute_loss(make_batch(policy.config))["loss"].backward()
    vlm = policy.model.vlm_with_expert.vlm
    trainable = {id(p) for p in policy.trainable_parameters()}
    vision = vlm.model.vision_model
    assert all(id(p) in trainable for p in vision.parameters())
    assert vision.embeddings.patch_embedding.weight.grad.abs().sum() > 0
    assert vlm.model.connector.modality_projection.proj.weight.grad.abs().sum() > 0
    assert vlm.model.text_model.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0
    unused = policy.model.vlm_with_expert.unused_vlm_parameters()
    assert unused and not any(p.requires_grad for p in unused)  # the last layer's Q, MLP; the norm
    assert policy.num_parameters()["frozen_vlm"] == sum(p.numel() for p in unused)


def test_frozen_vision_encoder_trains_the_text_layers_only(make_policy, make_batch):
    policy = make_policy("fdvla", train_expert_only=False, freeze_vision_encoder=True).train()
    policy.compute_loss(make_batch(policy.config))["loss"].backward()
    vlm = policy.model.vlm_with_expert.vlm
    vision = vlm.model.vision_model
    assert not vision.training
    assert all(p.grad is None and not p.requires_grad for p in vision.parameters())
    trainable = {id(p) for p in policy.trainable_parameters()}
    assert trainable.isdisjoint(id(p) for p in vision.parameters())
    assert vlm.model.connector.modality_projection.proj.weight.grad.abs().sum() > 0
    assert vlm.model.text_model.layers[0].mlp.up_proj.weight.grad.abs().sum() > 0
    unused = policy.model.vlm_with_expert.unused_vlm_parameters()
    assert policy.num_parameters()["frozen_vlm"] == sum(p.numel() for p in [*vision.parameters(), *unused])
