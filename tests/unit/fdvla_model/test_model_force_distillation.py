"""Eqs. 3-5: the FDM's single query over [p, f_V, f_S], its output, and L_dist."""

import math

import pytest
import torch

from fdvla_model.model.configuration_fdvla import FORCE_OBJECTIVES
from fdvla_model.model.force_distillation import ForceDistillationModule, distillation_loss


def _reference_fdm(fdm: ForceDistillationModule, vision, state, query=None):
    """Eqs. 3-4 written out with the module's weights (per head, plain loops)."""
    batch, hidden = vision.shape[0], vision.shape[-1]
    p = fdm.query.expand(batch, -1) if query is None else query
    context = fdm.context_norm(torch.cat([p[:, None], vision, state], dim=1))
    q = fdm.q_proj(p)
    k = fdm.k_proj(context)
    v = fdm.v_proj(context)
    d_k = hidden // fdm.num_heads
    heads = []
    for h in range(fdm.num_heads):
        cols = slice(h * d_k, (h + 1) * d_k)
        alpha = torch.softmax(torch.einsum("bd,bnd->bn", q[:, cols], k[:, :, cols]) / math.sqrt(d_k), dim=-1)
        heads.append(torch.einsum("bn,bnd->bd", alpha, v[:, :, cols]))
    z = torch.cat(heads, dim=-1)
    return fdm.ffn(fdm.norm(fdm.o_proj(z) + p))


def test_fdm_matches_equations_3_and_4():
    torch.manual_seed(0)
    fdm = ForceDistillationModule(hidden_size=32, num_heads=4)
    vision, state = torch.randn(3, 10, 32), torch.randn(3, 1, 32)
    force_token, alpha = fdm(vision, state)
    torch.testing.assert_close(force_token, _reference_fdm(fdm, vision, state))
    assert alpha.shape == (3, 4, 1 + 10 + 1)  # one weight per token of [p, f_V, f_S]
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3, 4))
    query = torch.randn(3, 32)  # the force_token ablation: f_aF as the query
    torch.testing.assert_close(fdm(vision, state, query=query)[0], _reference_fdm(fdm, vision, state, query))


def test_policy_fdm_context_is_exactly_vision_and_state(make_policy, make_batch):
    policy = make_policy("fdvla")
    config = policy.config
    batch = make_batch(config)
    with torch.no_grad():
        prefix = policy.encode_prefix(batch, training=False)
        reworded = policy.encode_prefix(dict(batch, task=["a different instruction", "x"]), training=False)
        moved = policy.encode_prefix(dict(batch, state=batch["state"] + 1.0), training=False)
    num_vision = len(config.camera_names) * config.tokens_per_image
    assert prefix.fdm_attention.shape == (2, config.fdm_num_heads, 1 + num_vision + 1)
    # language is not in the FDM's context; vision and state are
    torch.testing.assert_close(prefix.force_token, reworded.force_token)
    assert not torch.allclose(prefix.force_token, moved.force_token)


def test_distillation_loss_is_squared_l2_distance_per_token_dimension():
    predicted, actual = torch.randn(4, 16), torch.randn(4, 16)
    expected = sum(torch.dot(predicted[i] - actual[i], predicted[i] - actual[i]) for i in range(4)) / 4 / 16
    torch.testing.assert_close(distillation_loss(predicted, actual), expected)


def test_policy_dist_loss_is_distance_between_predicted_and_actual_tokens(make_policy, make_batch):
    policy = make_policy("fdvla")
    batch = make_batch(policy.config)
    torch.manual_seed(3)
    losses = policy.compute_loss(batch)
    with torch.no_grad():
        prefix = policy.encode_prefix(batch, training=True)
    expected = (prefix.force_token - prefix.actual_force_token).pow(2).mean(-1).mean()
    torch.testing.assert_close(losses["dist_loss"], expected)
    assert float(expected) > 0


def test_dist_loss_trains_both_branches_and_decoder_loss_reaches_only_the_decoder(make_policy, make_batch):
    """The paper-literal objective "joint"."""
    policy = make_policy("fdvla", force_objective="joint").train()
    batch = make_batch(policy.config)
    losses = policy.compute_loss(batch)
    model = policy.model
    # L_dist alone: gradients into the FDM (and the state projection feeding it) and the force encoder
    losses["dist_loss"].backward(retain_graph=True)
    assert model.force_distillation.query.grad.abs().sum() > 0
    assert model.force_encoder.mlp[0].weight.grad.abs().sum() > 0
    assert model.force_decoder.mlp[1].weight.grad is None
    policy.zero_grad(set_to_none=True)
    # the decoder loss must not push anything into the model (its input is detached)
    losses["force_decoder_loss"].backward()
    assert model.force_decoder.mlp[1].weight.grad.abs().sum() > 0
    assert model.force_encoder.mlp[0].weight.grad is None
    assert model.force_distillation.query.grad is None


def test_variants_without_distillation_report_zero_dist_loss(make_policy, make_batch):
    for variant in ("force_token", "no_fdm", "no_force"):
        policy = make_policy(variant)
        losses = policy.compute_loss(make_batch(policy.config))
        assert float(losses["dist_loss"]) == 0.0
        assert torch.isfinite(losses["loss"])
    assert float(make_policy("no_force").compute_loss(make_batch(policy.config))["force_decoder_loss"]) == 0.0


@pytest.mark.parametrize("objective", ["joint", "anchored", "stopgrad", "teacher"])
def test_each_force_objective_trains_what_it_says(make_policy, make_batch, objective):
    """Which loss reaches the measured-force encoder (and the decoder), objective by objective;
    nothing ever reaches the frozen VLM."""
    spec = FORCE_OBJECTIVES[objective]
    policy = make_policy("fdvla", force_objective=objective, train_expert_only=True)
    encoder, decoder = policy.model.force_encoder, policy.model.force_decoder
    trainable = {id(p) for p in policy.trainable_parameters()}
    assert (id(encoder.mlp[0].weight) in trainable) == (not spec.frozen_teacher)
    assert (id(decoder.mlp[1].weight) in trainable) == (not spec.frozen_teacher)
    losses = policy.compute_loss(make_batch(policy.config))

    def encoder_grad(loss):
        policy.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward(retain_graph=True)
        grad = encoder.mlp[0].weight.grad
        return grad is not None and float(grad.abs().sum()) > 0

    assert encoder_grad(losses["dist_loss"]) == spec.target_gradient
    assert encoder_grad(losses["force_decoder_loss"]) == spec.decoder_trains_encoder
    policy.zero_grad(set_to_none=True)
    losses["loss"].backward()
    assert policy.model.force_distillation.query.grad.abs().sum() > 0  # the student always learns
    assert all(p.grad is None for p in policy.model.vlm_with_expert.vlm.parameters())


def test_other_variants_ignore_the_force_objective(make_policy, make_batch):
    """No L_dist: the encoder learns from L_flow only and the decoder reads a detached f_aF."""
    for objective in ("anchored", "teacher"):
        policy = make_policy("no_fdm", force_objective=objective)
        assert id(policy.model.force_encoder.mlp[0].weight) in {id(p) for p in policy.trainable_parameters()}
        policy.compute_loss(make_batch(policy.config))["force_decoder_loss"].backward()
        assert policy.model.force_encoder.mlp[0].weight.grad is None
