"""Presets and configuration checks; the full preset is built on the meta device (no download)."""

import pytest
import torch

from fdvla_model.model import VARIANTS, FDVLAConfig, FDVLAPolicy
from fdvla_model.model.tokenizer import BYTE_TOKENIZER_VOCAB_SIZE, build_byte_tokenizer


@pytest.fixture(scope="module")
def full_policy_on_meta():
    with torch.device("meta"):
        return FDVLAPolicy(FDVLAConfig.full())


def test_full_preset_has_smolvla_sizes(full_policy_on_meta):
    policy = full_policy_on_meta
    config = policy.config
    assert (config.chunk_size, config.num_steps, config.image_size) == (50, 10, 512)
    assert (config.max_state_dim, config.max_action_dim, config.tokenizer_max_length) == (32, 32, 48)
    vlm = policy.model.vlm_with_expert.vlm
    assert len(vlm.model.text_model.layers) == 16
    assert vlm.model.text_model.embed_tokens.weight.shape == (49280, 960)
    assert len(vlm.model.vision_model.encoder.layers) == 12
    expert = policy.model.vlm_with_expert.lm_expert
    assert len(expert.layers) == 16
    assert expert.layers[0].self_attn.q_proj.weight.shape == (15 * 64, 720)  # 0.75 x 960
    assert expert.layers[0].self_attn.k_proj.weight.shape == (5 * 64, 720)  # joint-attention layer
    assert expert.layers[1].self_attn.k_proj.weight.shape == (5 * 64, 5 * 64)  # cross-attention layer
    assert policy.model.state_proj.weight.shape == (960, 32)


def test_full_preset_gives_64_tokens_per_512px_image(full_policy_on_meta):
    vlm = full_policy_on_meta.model.vlm_with_expert.vlm.model
    patches = vlm.vision_model.embeddings.patch_embedding(torch.empty(1, 3, 512, 512, device="meta"))
    assert patches.shape == (1, 768, 32, 32)  # SigLIP, patch 16
    tokens = vlm.connector(patches.flatten(2).transpose(1, 2).contiguous())  # pixel shuffle by 4, then projection
    assert tokens.shape == (1, 64, 960)
    assert full_policy_on_meta.config.tokens_per_image == 64
    assert full_policy_on_meta.config.prefix_length == 2 * 64 + 48 + 2


def test_full_preset_trainable_part_excludes_the_vlm(full_policy_on_meta):
    counts = full_policy_on_meta.num_parameters()
    assert counts["frozen_vlm"] > 2e8
    assert 5e7 < counts["trainable"] < counts["frozen_vlm"]


def test_tiny_tokenizer_fits_the_tiny_vocabulary():
    tokenizer = build_byte_tokenizer()
    ids = tokenizer(["Drück den Not-Aus-Knopf ✓\n"], padding="max_length", max_length=48)["input_ids"][0]
    assert max(ids) < BYTE_TOKENIZER_VOCAB_SIZE
    assert FDVLAConfig.tiny().vlm_config["text_config"]["vocab_size"] == BYTE_TOKENIZER_VOCAB_SIZE


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(variant="raw_forces"), "variant"),
        (dict(force_objective="shrink"), "force_objective"),
        (dict(state_dim=40), "state_dim"),
        (dict(action_dim=0), "action_dim"),
        (dict(image_size=96), "image_size"),
        (dict(camera_names=[]), "camera"),
        (dict(fdm_num_heads=5), "fdm_num_heads"),
        (dict(action_frame="tool"), "action_frame"),
        (dict(target_yaw_symmetry=-1), "target_yaw_symmetry"),
    ],
)
def test_invalid_configurations_are_rejected(overrides, message):
    with pytest.raises(ValueError, match=message):
        FDVLAConfig.tiny(**overrides)


def test_every_variant_builds_from_both_presets():
    for variant in VARIANTS:
        assert FDVLAConfig.tiny(variant=variant).variant == variant
        assert FDVLAConfig.full(variant=variant).needs_wrench_at_inference == (variant in ("force_token", "no_fdm"))


def test_one_variant_registry_with_the_raw_force_alias():
    from fdvla_model import train
    from fdvla_model.model import configuration_fdvla as registry

    config = FDVLAConfig.tiny(variant="raw_force")
    assert config.variant == "no_fdm" and config.needs_wrench_at_inference
    assert FDVLAConfig.from_dict(config.to_dict()) == config
    # the trainer's choices are the registry's names plus its aliases, not a second list
    assert train.VARIANTS == registry.VARIANTS + tuple(registry.VARIANT_ALIASES) == registry.VARIANT_CHOICES
    assert train.TrainConfig(dataset="", out="", variant="raw_force").model_variant == "no_fdm"
    assert set(train.WRENCH_INPUT_VARIANTS) == {"force_token", "no_fdm"}


def test_configs_written_before_force_objective_load_as_they_were_trained():
    values = FDVLAConfig.tiny().to_dict()
    del values["force_objective"], values["smolvla_resize"]
    for anchor, objective in ((True, "anchored"), (False, "joint")):
        config = FDVLAConfig.from_dict(dict(values, anchor_force_encoder=anchor))
        assert config.force_objective == objective and config.smolvla_resize is False
    assert FDVLAConfig.tiny().force_objective == "teacher"  # the default chosen in docs/model.md
