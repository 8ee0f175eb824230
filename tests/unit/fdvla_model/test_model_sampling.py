"""Inference: sensor-free sampling, the prefix cache, raw units in and out, image resizing."""

import numpy as np
import pytest
import torch

from fdvla_model.model import MissingWrenchError, NormalizationStats
from fdvla_model.model.modeling_fdvla import resize_with_pad


def test_fdvla_samples_without_a_wrench_and_ignores_one(make_policy, make_batch, fixed_noise):
    policy = make_policy("fdvla")
    config = policy.config
    batch = make_batch(config)
    noise = fixed_noise(config)
    without = dict(batch)
    del without["wrench"], without["actions"]
    actions, aux = policy.sample_actions(without, noise=noise, return_aux=True)
    assert actions.shape == (2, config.chunk_size, config.action_dim)
    assert torch.isfinite(actions).all()
    assert aux["force_token"].shape == (2, config.text_hidden_size)
    assert aux["predicted_wrench"].shape == (2, 6)
    for wrench in (batch["wrench"], torch.full((2, 6), 100.0)):
        with_wrench, aux_w = policy.sample_actions(dict(without, wrench=wrench), noise=noise, return_aux=True)
        torch.testing.assert_close(with_wrench, actions)
        torch.testing.assert_close(aux_w["predicted_wrench"], aux["predicted_wrench"])


@pytest.mark.parametrize("variant", ["force_token", "no_fdm"])
def test_sensor_variants_need_a_wrench_at_inference(variant, make_policy, make_batch, fixed_noise):
    policy = make_policy(variant)
    batch = make_batch(policy.config)
    noise = fixed_noise(policy.config)
    no_wrench = {k: v for k, v in batch.items() if k != "wrench"}
    with pytest.raises(MissingWrenchError, match="wrench at inference"):
        policy.sample_actions(no_wrench, noise=noise)
    a = policy.sample_actions(batch, noise=noise)
    b = policy.sample_actions(dict(batch, wrench=batch["wrench"] + 20.0), noise=noise)
    assert not torch.allclose(a, b)  # the wrench really is an input


@pytest.mark.parametrize("variant", ["fdvla", "no_force"])
def test_cached_and_uncached_sampling_agree(variant, make_policy, make_batch, fixed_noise):
    policy = make_policy(variant, num_steps=4)
    batch = make_batch(policy.config)
    noise = fixed_noise(policy.config)
    cached = policy.sample_actions(batch, noise=noise, use_cache=True)
    uncached = policy.sample_actions(batch, noise=noise, use_cache=False)
    torch.testing.assert_close(cached, uncached, rtol=1e-5, atol=1e-5)


def test_sampling_is_euler_integration_of_the_velocity(make_policy, make_batch, fixed_noise):
    policy = make_policy("no_force", num_steps=3)
    batch = make_batch(policy.config)
    noise = fixed_noise(policy.config)
    actions = policy.sample_actions(batch, noise=noise)
    with torch.no_grad():
        prefix = policy.encode_prefix(batch, training=False)
        x = noise.clone()
        for t in (1.0, 2 / 3, 1 / 3):
            x = x - (1 / 3) * policy.model.velocity(prefix.kv, x, torch.full((2,), t))
    torch.testing.assert_close(actions, x[..., : policy.config.action_dim], rtol=1e-5, atol=1e-5)


def test_outputs_are_in_raw_units(make_policy, make_batch, fixed_noise):
    policy = make_policy("fdvla")
    config = policy.config
    batch = make_batch(config)
    noise = fixed_noise(config)
    base, base_aux = policy.sample_actions(batch, noise=noise, return_aux=True)
    stats = NormalizationStats.identity(config.state_dim, config.action_dim)
    stats.action_mean = np.full(config.action_dim, 5.0, np.float32)
    stats.action_std = np.full(config.action_dim, 2.0, np.float32)
    stats.wrench_mean = np.array([0, 0, -10, 0, 0, 0], np.float32)
    stats.wrench_std = np.full(6, 3.0, np.float32)
    policy.set_normalization_stats(stats)
    scaled, scaled_aux = policy.sample_actions(batch, noise=noise, return_aux=True)
    torch.testing.assert_close(scaled, base * 2.0 + 5.0, rtol=1e-5, atol=1e-5)
    expected_wrench = base_aux["predicted_wrench"] * 3.0 + torch.tensor([0, 0, -10.0, 0, 0, 0])
    torch.testing.assert_close(scaled_aux["predicted_wrench"], expected_wrench, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(policy.normalization_stats().action_std, stats.action_std)


def test_state_is_normalised_inside(make_policy, make_batch, fixed_noise):
    policy = make_policy("no_force")
    config = policy.config
    batch = make_batch(config)
    noise = fixed_noise(config)
    base = policy.sample_actions(batch, noise=noise)
    stats = NormalizationStats.identity(config.state_dim, config.action_dim)
    stats.state_mean = np.full(config.state_dim, 100.0, np.float32)
    stats.state_std = np.full(config.state_dim, 10.0, np.float32)
    policy.set_normalization_stats(stats)
    shifted = dict(batch, state=batch["state"] * 10.0 + 100.0)  # the same state, in other raw units
    torch.testing.assert_close(policy.sample_actions(shifted, noise=noise), base, rtol=1e-4, atol=1e-4)


def test_wrong_stats_shape_is_rejected(make_policy):
    policy = make_policy("fdvla")
    with pytest.raises(ValueError, match="state_mean"):
        policy.set_normalization_stats(NormalizationStats.identity(3, policy.config.action_dim))


def test_predict_force_matches_sampling_aux(make_policy, make_batch, fixed_noise):
    policy = make_policy("fdvla")
    batch = make_batch(policy.config)
    _, aux = policy.sample_actions(batch, noise=fixed_noise(policy.config), return_aux=True)
    force = policy.predict_force(batch)
    torch.testing.assert_close(force["force_token"], aux["force_token"])
    torch.testing.assert_close(force["predicted_wrench"], aux["predicted_wrench"])
    with pytest.raises(ValueError, match="no_force"):
        make_policy("no_force").predict_force(batch)


def test_images_of_any_size_are_resized_with_padding(make_policy, make_batch):
    image = torch.rand(1, 3, 30, 60)
    out = resize_with_pad(image, 64)
    assert out.shape == (1, 3, 64, 64)
    assert torch.all(out[:, :, :32] == 0)  # aspect 2:1 kept: the top half is padding
    assert out[:, :, 32:].abs().sum() > 0
    policy = make_policy("no_force")
    for hw in ((480, 640), (64, 64), (20, 90)):
        actions = policy.sample_actions(make_batch(policy.config, image_hw=hw))
        assert actions.shape == (2, policy.config.chunk_size, policy.config.action_dim)


def test_uint8_images_mean_the_same_as_floats(make_policy, make_batch, fixed_noise):
    policy = make_policy("no_force")
    batch = make_batch(policy.config)
    as_bytes = {name: (image * 255).round().to(torch.uint8) for name, image in batch["images"].items()}
    as_floats = {name: image.float() / 255.0 for name, image in as_bytes.items()}
    noise = fixed_noise(policy.config)
    torch.testing.assert_close(
        policy.sample_actions(dict(batch, images=as_bytes), noise=noise),
        policy.sample_actions(dict(batch, images=as_floats), noise=noise),
    )


def test_missing_camera_is_named(make_policy, make_batch):
    policy = make_policy("fdvla")
    batch = make_batch(policy.config)
    del batch["images"]["wrist"]
    with pytest.raises(KeyError, match="wrist"):
        policy.sample_actions(batch)


def test_one_task_string_is_broadcast_and_language_changes_actions(make_policy, make_batch, fixed_noise):
    policy = make_policy("no_force")
    batch = make_batch(policy.config)
    noise = fixed_noise(policy.config)
    same = policy.sample_actions(dict(batch, task="wipe the whiteboard"), noise=noise)
    listed = policy.sample_actions(dict(batch, task=["wipe the whiteboard"] * 2), noise=noise)
    torch.testing.assert_close(same, listed)
    other = policy.sample_actions(dict(batch, task="insert the plug into the socket"), noise=noise)
    assert not torch.allclose(same, other)


def test_bfloat16_model_keeps_float32_statistics(make_policy, make_batch, fixed_noise):
    policy = make_policy("fdvla")
    config = policy.config
    stats = NormalizationStats.identity(config.state_dim, config.action_dim)
    stats.action_mean = np.full(config.action_dim, 0.4567, np.float32)
    policy.set_normalization_stats(stats)
    policy = policy.to(torch.bfloat16)
    assert policy.normalizer.action_mean.dtype == torch.float32
    assert policy.model.state_proj.weight.dtype == torch.bfloat16
    actions, aux = policy.sample_actions(make_batch(config), noise=fixed_noise(config), return_aux=True)
    assert actions.dtype == torch.float32 and torch.isfinite(actions).all()
    assert aux["predicted_wrench"].dtype == torch.float32


def test_prefix_and_denoise_step_trace_as_single_graphs(make_policy, make_batch):
    """Static shapes, no data-dependent Python branching: torch.compile needs no graph break."""
    policy = make_policy("fdvla")
    batch = make_batch(policy.config)
    torch._dynamo.reset()
    with torch.no_grad():
        images = policy._prepare_images(batch)
        ids, valid = policy._prepare_language(batch, 2)
        state = policy._prepare_state(batch)
        encode = torch.compile(policy.model.encode_prefix, fullgraph=True, backend="eager", dynamic=False)
        prefix = encode(images, ids, valid, state, None)
        step = torch.compile(policy.model.velocity, fullgraph=True, backend="eager", dynamic=False)
        x_t, t = torch.randn(2, 50, policy.config.max_action_dim), torch.full((2,), 0.7)
        compiled = step(prefix.kv, x_t, t)
        torch.testing.assert_close(compiled, policy.model.velocity(prefix.kv, x_t, t))


# --- the KV cache against one joint forward over [prefix, suffix] -----------------------------------


def _joint_velocity(policy, captured, x_t, t):
    """v(x_t, t) from ONE pass per layer over the concatenated [prefix, action] sequence, no cache:
    prefix rows use the VLM layer's weights, action rows the expert layer's; joint layers attend
    over all tokens under one (P + A) x (P + A) mask (prefix rows never see actions, actions see
    valid prefix tokens and earlier actions); cross layers feed the expert the VLM layer's keys/values
    of this same pass."""
    from fdvla_model.model.modeling_fdvla import sinusoidal_time_embedding
    from fdvla_model.model.vlm_with_expert import apply_rope

    model, cfg = policy.model, policy.config
    embedder = model.vlm_with_expert
    prefix_embeds, prefix_mask, prefix_pos, valid = captured
    batch, num_prefix = valid.shape
    num_actions = x_t.shape[1]
    action = model.action_in_proj(x_t)
    time_emb = sinusoidal_time_embedding(t, cfg.expert_hidden_size, cfg.min_period, cfg.max_period)
    fused = torch.cat([action, time_emb[:, None, :].expand_as(action)], dim=2)
    suffix = model.action_time_mlp_out(torch.nn.functional.silu(model.action_time_mlp_in(fused)))

    full = torch.zeros(batch, num_prefix + num_actions, num_prefix + num_actions, dtype=torch.bool)
    full[:, :num_prefix, :num_prefix] = prefix_mask
    full[:, num_prefix:, :num_prefix] = valid[:, None, :]
    full[:, num_prefix:, num_prefix:] = torch.tril(torch.ones(num_actions, num_actions, dtype=torch.bool))
    joint_pos = valid.sum(1, keepdim=True) + torch.arange(num_actions)[None]
    cross_pos = torch.arange(num_actions)[None].expand(batch, -1)
    wavelength, head_dim = cfg.rope_max_wavelength, embedder.head_dim

    def heads(x):
        return x.view(*x.shape[:-1], -1, head_dim)

    def attend(q, k, v, mask):
        groups = q.shape[2] // k.shape[2]
        k, v = k.repeat_interleave(groups, dim=2), v.repeat_interleave(groups, dim=2)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / head_dim**0.5
        scores = scores.masked_fill(~mask[:, None], float("-inf"))
        return torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v).flatten(2)

    hp, hs = prefix_embeds, suffix
    for i, (vlm_layer, exp_layer) in enumerate(zip(embedder.text_model.layers, embedder.lm_expert.layers)):
        xp, xs = vlm_layer.input_layernorm(hp), exp_layer.input_layernorm(hs)
        qp = apply_rope(heads(vlm_layer.self_attn.q_proj(xp)), prefix_pos, wavelength)
        kp = apply_rope(heads(vlm_layer.self_attn.k_proj(xp)), prefix_pos, wavelength)
        vp = heads(vlm_layer.self_attn.v_proj(xp))
        if embedder.is_self_attention_layer(i):
            qs = apply_rope(heads(exp_layer.self_attn.q_proj(xs)), joint_pos, wavelength)
            ks = apply_rope(heads(exp_layer.self_attn.k_proj(xs)), joint_pos, wavelength)
            vs = heads(exp_layer.self_attn.v_proj(xs))
            out = attend(torch.cat([qp, qs], 1), torch.cat([kp, ks], 1), torch.cat([vp, vs], 1), full)
            out_p, out_s = out[:, :num_prefix], out[:, num_prefix:]
        else:
            out_p = attend(qp, kp, vp, prefix_mask)
            qs = apply_rope(heads(exp_layer.self_attn.q_proj(xs)), cross_pos, wavelength)
            ks = heads(exp_layer.self_attn.k_proj(kp.flatten(2)))
            vs = heads(exp_layer.self_attn.v_proj(vp.flatten(2)))
            out_s = attend(qs, ks, vs, full[:, num_prefix:, :num_prefix])
        hp = hp + vlm_layer.self_attn.o_proj(out_p)
        hp = hp + vlm_layer.mlp(vlm_layer.post_attention_layernorm(hp))
        hs = hs + exp_layer.self_attn.o_proj(out_s)
        hs = hs + exp_layer.mlp(exp_layer.post_attention_layernorm(hs))
    return model.action_out_proj(embedder.lm_expert.norm(hs))


@pytest.mark.parametrize("variant", ["fdvla", "no_force"])
def test_cached_sampling_matches_a_joint_prefix_suffix_forward(variant, make_policy, make_batch, fixed_noise):
    policy = make_policy(variant, num_steps=3, chunk_size=6)
    batch = make_batch(policy.config)
    batch["task"] = ["press", "wipe the whiteboard slowly"]  # different padding per row
    noise = fixed_noise(policy.config)
    cached = policy.sample_actions(batch, noise=noise)

    embedder = policy.model.vlm_with_expert
    captured = []
    original = embedder.forward_prefix
    embedder.forward_prefix = lambda *args: captured.append(args[:3] + (args[3],)) or original(*args)
    try:
        policy.encode_prefix(batch)  # only to read the prefix's inputs: embeddings, mask, positions
    finally:
        embedder.forward_prefix = original
    assert not captured[0][3].all()  # language padding is really exercised
    with torch.no_grad():
        x = noise.clone()
        for step in range(3):
            t = torch.full((2,), 1.0 - step / 3)
            x = x - _joint_velocity(policy, captured[0], x, t) / 3
    joint = policy.normalizer.unnormalize("action", x[..., : policy.config.action_dim])
    torch.testing.assert_close(cached, joint, rtol=1e-4, atol=1e-4)


def test_smolvla_resize_is_plain_bilinear_without_antialiasing(make_policy):
    """SmolVLA's resampling (bilinear, align_corners=False, no low-pass) halves an image by
    averaging 2x2 blocks exactly; the antialiased default spreads wider."""
    image = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    blocks = torch.nn.functional.avg_pool2d(image, 2)
    torch.testing.assert_close(resize_with_pad(image, 64, antialias=False), blocks)
    assert (resize_with_pad(image, 64) - blocks).abs().max() > 0.01
    tall = torch.rand(1, 3, 128, 96)  # 64 x 48 after resizing: 16 black columns on the left
    out = resize_with_pad(tall, 64, antialias=False)
    assert torch.equal(out[..., :16], torch.zeros(1, 3, 64, 16))
    torch.testing.assert_close(out[..., 16:], torch.nn.functional.avg_pool2d(tall, 2))
    for flag, expected in ((True, blocks), (False, resize_with_pad(image, 64))):
        policy = make_policy("no_force", smolvla_resize=flag)
        prepared = policy._prepare_images({"images": {c: image for c in policy.config.camera_names}})
        torch.testing.assert_close(prepared[0], expected * 2 - 1)
