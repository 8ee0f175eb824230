"""Checkpoints: safetensors + JSON config + normalisation stats + tokenizer; clear mismatch errors."""

import json

import numpy as np
import pytest
import torch

from fdvla_policy_node.model import CheckpointMismatchError, FDVLAConfig, FDVLAPolicy, NormalizationStats


def _stats(config):
    rng = np.random.default_rng(0)
    return NormalizationStats(
        state_mean=rng.normal(size=config.state_dim), state_std=rng.uniform(0.5, 2, config.state_dim),
        action_mean=rng.normal(size=config.action_dim), action_std=rng.uniform(0.5, 2, config.action_dim),
        wrench_mean=rng.normal(size=6), wrench_std=rng.uniform(1, 5, 6),
    )


def test_round_trip_restores_weights_stats_and_behaviour(tmp_path, make_policy, make_batch, fixed_noise):
    policy = make_policy("fdvla")
    policy.set_normalization_stats(_stats(policy.config))
    batch = make_batch(policy.config)
    noise = fixed_noise(policy.config)
    expected, expected_aux = policy.sample_actions(batch, noise=noise, return_aux=True)

    policy.save(tmp_path / "ckpt")
    names = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer"} <= names
    assert not any(name.endswith((".pt", ".pth", ".bin", ".pkl")) for name in names)

    loaded = FDVLAPolicy.load(tmp_path / "ckpt")
    assert loaded.config == policy.config
    actions, aux = loaded.eval().sample_actions(batch, noise=noise, return_aux=True)
    torch.testing.assert_close(actions, expected)
    torch.testing.assert_close(aux["predicted_wrench"], expected_aux["predicted_wrench"])
    np.testing.assert_allclose(loaded.normalization_stats().wrench_std, policy.normalization_stats().wrench_std)
    for (name, a), (_, b) in zip(policy.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_config_json_round_trip(tmp_path):
    config = FDVLAConfig.tiny(variant="no_fdm", state_dim=9, action_dim=8, camera_names=["kinect"])
    config.to_json(tmp_path / "c.json")
    assert FDVLAConfig.from_json(tmp_path / "c.json") == config


def _edit_manifest(directory, edit):
    path = directory / "config.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def test_unknown_config_field_is_named(tmp_path, make_policy):
    make_policy("fdvla").save(tmp_path)
    _edit_manifest(tmp_path, lambda m: m["config"].update(force_gain=3))
    with pytest.raises(CheckpointMismatchError, match="force_gain"):
        FDVLAPolicy.load(tmp_path)


def test_weights_that_do_not_fit_the_config_are_named(tmp_path, make_policy):
    make_policy("fdvla").save(tmp_path)
    _edit_manifest(tmp_path, lambda m: m["config"].update(state_dim=9))  # the stats buffers were 7 wide
    with pytest.raises(CheckpointMismatchError, match="normalizer.state_mean"):
        FDVLAPolicy.load(tmp_path)


def test_variant_change_reports_missing_modules(tmp_path, make_policy):
    make_policy("no_force").save(tmp_path)
    _edit_manifest(tmp_path, lambda m: m["config"].update(variant="fdvla"))
    with pytest.raises(CheckpointMismatchError, match="model.force_distillation"):
        FDVLAPolicy.load(tmp_path)


def test_other_format_version_is_rejected(tmp_path, make_policy):
    make_policy("fdvla").save(tmp_path)
    _edit_manifest(tmp_path, lambda m: m.update(format_version=99))
    with pytest.raises(CheckpointMismatchError, match="format_version"):
        FDVLAPolicy.load(tmp_path)
    with pytest.raises(CheckpointMismatchError, match="config.json"):
        FDVLAPolicy.load(tmp_path / "nothing-here")
