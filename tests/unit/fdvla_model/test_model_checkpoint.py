"""Checkpoints: safetensors + JSON config + normalisation stats + tokenizer; clear mismatch errors."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fdvla_model.model import CheckpointMismatchError, FDVLAConfig, FDVLAPolicy, NormalizationStats


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


# --- where the frozen VLM goes --------------------------------------------------------------------

DATA = Path(__file__).parent / "data"


def _vlm_keys(path):
    return [k for k in load_file(str(path)) if k.startswith("model.vlm_with_expert.vlm.")]


def test_checkpoint_written_by_the_previous_code_still_loads_and_acts_the_same():
    """tests/unit/fdvla_model/data/checkpoint_v1_tiny: format 1, VLM inside model.safetensors, config with
    anchor_force_encoder and without force_objective/smolvla_resize (written before they existed)."""
    manifest = json.loads((DATA / "checkpoint_v1_tiny" / "config.json").read_text())
    assert manifest["format_version"] == 1 and "force_objective" not in manifest["config"]
    policy = FDVLAPolicy.load(DATA / "checkpoint_v1_tiny")
    assert policy.config.force_objective == "anchored" and not policy.config.smolvla_resize
    expected = load_file(str(DATA / "checkpoint_v1_tiny_expected.safetensors"))
    batch = {"images": {"kinect": expected["image"]}, "state": expected["state"], "task": ["press the button", "wipe"]}
    actions, aux = policy.sample_actions(batch, noise=expected["noise"], return_aux=True)
    torch.testing.assert_close(actions, expected["actions"])
    torch.testing.assert_close(aux["predicted_wrench"], expected["predicted_wrench"])


def test_a_vlm_built_here_is_stored_once_beside_the_weights(tmp_path, make_policy, make_batch, fixed_noise):
    policy = make_policy("fdvla")
    policy.save(tmp_path / "a")
    manifest = json.loads((tmp_path / "a" / "config.json").read_text())
    assert manifest["format_version"] == 2 and manifest["vlm_weights"] == "separate"
    assert _vlm_keys(tmp_path / "a" / "model.safetensors") == []
    assert len(_vlm_keys(tmp_path / "a" / "vlm.safetensors")) > 10
    first = (tmp_path / "a" / "vlm.safetensors").stat()
    time.sleep(0.01)
    policy.save(tmp_path / "a")  # same VLM: the file is left as it is
    again = (tmp_path / "a" / "vlm.safetensors").stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    batch, noise = make_batch(policy.config), fixed_noise(policy.config)
    torch.testing.assert_close(FDVLAPolicy.load(tmp_path / "a").sample_actions(batch, noise=noise),
                               policy.sample_actions(batch, noise=noise))
    # a changed VLM is rewritten, not silently reused
    with torch.no_grad():
        next(policy.model.vlm_with_expert.vlm.parameters()).add_(1.0)
    policy.save(tmp_path / "a")
    assert json.loads((tmp_path / "a" / "config.json").read_text())["vlm_sha256"] != manifest["vlm_sha256"]
    torch.testing.assert_close(FDVLAPolicy.load(tmp_path / "a").sample_actions(batch, noise=noise),
                               policy.sample_actions(batch, noise=noise))


def test_checkpoints_sharing_a_vlm_store_hold_one_copy(tmp_path, make_policy):
    policy = make_policy("no_force")
    for name in ("step_1", "step_2"):
        policy.save(tmp_path / name, vlm_store=tmp_path / ".vlm")
    stored = list((tmp_path / ".vlm").iterdir())
    assert len(stored) == 1
    inodes = {(tmp_path / n / "vlm.safetensors").stat().st_ino for n in ("step_1", "step_2")}
    assert inodes == {stored[0].stat().st_ino}
    shutil.rmtree(tmp_path / "step_1")  # pruning one checkpoint leaves the other whole
    FDVLAPolicy.load(tmp_path / "step_2")


def test_a_tampered_vlm_file_is_refused(tmp_path, make_policy):
    make_policy("fdvla").save(tmp_path)
    _edit_manifest(tmp_path, lambda m: m.update(vlm_sha256="0" * 64))
    with pytest.raises(CheckpointMismatchError, match="hash"):
        FDVLAPolicy.load(tmp_path)
    (tmp_path / "vlm.safetensors").unlink()
    with pytest.raises(CheckpointMismatchError, match="vlm.safetensors"):
        FDVLAPolicy.load(tmp_path)
