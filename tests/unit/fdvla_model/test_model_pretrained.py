"""Pretrained weights: a SmolVLM directory via transformers, and the SmolVLA key layout."""

import copy
import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

from fdvla_model.model import FDVLAConfig, FDVLAPolicy
from fdvla_model.model.configuration_fdvla import tiny_vlm_config
from fdvla_model.model.tokenizer import BYTE_TOKENIZER_VOCAB_SIZE, build_byte_tokenizer

TINY_OVERRIDES = dict(
    image_size=64, tokenizer_max_length=16, num_vlm_layers=4, fdm_num_heads=4,
    force_encoder_hidden=32, force_decoder_hidden=32,
)


@pytest.fixture(scope="module")
def smolvlm_dir(tmp_path_factory):
    """A small SmolVLM saved the way the hub stores one (config.json, safetensors, tokenizer)."""
    directory = tmp_path_factory.mktemp("smolvlm")
    values = tiny_vlm_config(BYTE_TOKENIZER_VOCAB_SIZE)
    values["text_config"]["num_hidden_layers"] = 6  # more than we keep
    torch.manual_seed(7)
    SmolVLMForConditionalGeneration(SmolVLMConfig(**values)).save_pretrained(directory)
    build_byte_tokenizer().save_pretrained(directory)
    return directory


def test_from_pretrained_vlm_loads_the_first_text_layers(smolvlm_dir, make_batch):
    policy = FDVLAPolicy.from_pretrained_vlm(str(smolvlm_dir), variant="fdvla", **TINY_OVERRIDES)
    reference = SmolVLMForConditionalGeneration.from_pretrained(smolvlm_dir).state_dict()
    ours = policy.model.vlm_with_expert.vlm.state_dict()
    for key, value in ours.items():
        torch.testing.assert_close(value, reference[key], msg=key)
    assert not any(".text_model.layers.4." in key for key in ours)  # only num_vlm_layers kept
    assert policy.config.vlm_name_or_path == str(smolvlm_dir)
    assert policy.sample_actions(make_batch(policy.config)).shape == (2, 50, 7)


def test_checkpoint_without_vlm_reloads_it_from_the_directory(tmp_path, smolvlm_dir, make_batch, fixed_noise):
    policy = FDVLAPolicy.from_pretrained_vlm(str(smolvlm_dir), variant="fdvla", **TINY_OVERRIDES).eval()
    batch, noise = make_batch(policy.config), fixed_noise(policy.config)
    expected = policy.sample_actions(batch, noise=noise)
    policy.save(tmp_path / "ckpt", include_vlm=False)
    loaded = FDVLAPolicy.load(tmp_path / "ckpt").eval()
    torch.testing.assert_close(loaded.sample_actions(batch, noise=noise), expected)


def test_a_vlm_from_a_named_source_is_not_stored_by_default(tmp_path, smolvlm_dir, make_batch, fixed_noise):
    """The name is stored and the weights reloaded from it, also after a load/save cycle."""
    policy = FDVLAPolicy.from_pretrained_vlm(str(smolvlm_dir), variant="fdvla", **TINY_OVERRIDES).eval()
    batch, noise = make_batch(policy.config), fixed_noise(policy.config)
    expected = policy.sample_actions(batch, noise=noise)
    policy.save(tmp_path / "a")
    loaded = FDVLAPolicy.load(tmp_path / "a")
    loaded.save(tmp_path / "b")
    for name in ("a", "b"):
        manifest = json.loads((tmp_path / name / "config.json").read_text())
        assert manifest["vlm_weights"] == "external"
        assert not (tmp_path / name / "vlm.safetensors").exists()
        assert not [k for k in load_file(str(tmp_path / name / "model.safetensors")) if ".vlm." in k]
    torch.testing.assert_close(FDVLAPolicy.load(tmp_path / "b").sample_actions(batch, noise=noise), expected)


def _smolvla_layout_state_dict(config: FDVLAConfig) -> dict[str, torch.Tensor]:
    """A checkpoint in lerobot SmolVLA's key layout, written from the layout's rules (not our modules)."""
    generator = torch.Generator().manual_seed(11)

    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    vlm_values = copy.deepcopy(config.vlm_config)
    vlm_values["text_config"]["num_hidden_layers"] = config.num_vlm_layers + 2  # extra layers SmolVLA drops
    vlm = SmolVLMForConditionalGeneration(SmolVLMConfig(**vlm_values))
    state = {f"model.vlm_with_expert.vlm.{k}": rand(*v.shape) for k, v in vlm.state_dict().items()}

    text = config.vlm_config["text_config"]
    width = int(text["hidden_size"] * 0.75)
    intermediate = 256 * -(-4 * int(2 * width / 3) // 256)
    heads, kv = text["num_attention_heads"] * text["head_dim"], text["num_key_value_heads"] * text["head_dim"]
    for i in range(config.num_vlm_layers):
        prefix = f"model.vlm_with_expert.lm_expert.layers.{i}."
        kv_in = width if i % 2 == 0 else kv  # odd layers cross-attend to the VLM's keys/values
        shapes = {
            "self_attn.q_proj.weight": (heads, width), "self_attn.k_proj.weight": (kv, kv_in),
            "self_attn.v_proj.weight": (kv, kv_in), "self_attn.o_proj.weight": (width, heads),
            "mlp.gate_proj.weight": (intermediate, width), "mlp.up_proj.weight": (intermediate, width),
            "mlp.down_proj.weight": (width, intermediate),
            "input_layernorm.weight": (width,), "post_attention_layernorm.weight": (width,),
        }
        state.update({prefix + name: rand(*shape) for name, shape in shapes.items()})
    state["model.vlm_with_expert.lm_expert.norm.weight"] = rand(width)
    d = text["hidden_size"]
    for name, (out_f, in_f) in {
        "state_proj": (d, 32), "action_in_proj": (width, 32), "action_out_proj": (32, width),
        "action_time_mlp_in": (width, 2 * width), "action_time_mlp_out": (width, width),
    }.items():
        state[f"model.{name}.weight"] = rand(out_f, in_f)
        state[f"model.{name}.bias"] = rand(out_f)
    state["normalize_inputs.buffer_observation_state.mean"] = rand(6)  # lerobot's stats: ignored
    return state


def test_smolvla_layout_checkpoint_loads_key_for_key(tmp_path, make_policy):
    policy = make_policy("fdvla")
    fresh_fdm = {k: v.clone() for k, v in policy.model.force_distillation.state_dict().items()}
    state = _smolvla_layout_state_dict(policy.config)
    # compiled SmolVLA checkpoints carry an "_orig_mod" infix
    state = {k.replace("model.action_", "model._orig_mod.action_"): v for k, v in state.items()}
    state["model.some_other_head.weight"] = torch.zeros(3)
    save_file(state, str(tmp_path / "model.safetensors"))

    missing, unexpected = policy.load_smolvla_weights(tmp_path)
    assert missing == []
    assert unexpected == ["model.some_other_head.weight"]
    own = policy.state_dict()
    for key, value in state.items():
        key = key.replace("_orig_mod.", "")
        if key in own:
            assert torch.equal(own[key], value), key
    assert torch.equal(own["model.action_in_proj.weight"], state["model._orig_mod.action_in_proj.weight"])
    for key, value in policy.model.force_distillation.state_dict().items():
        assert torch.equal(value, fresh_fdm[key])  # FD-VLA's modules start fresh
    # SmolVLA's weights were trained on SmolVLA's resampling (no antialiasing); the VLM is SmolVLA's
    assert policy.config.smolvla_resize and policy.vlm_source is None
    policy.save(tmp_path / "ckpt")
    loaded = FDVLAPolicy.load(tmp_path / "ckpt")
    assert loaded.config.smolvla_resize
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["vlm_weights"] == "separate"


def test_smolvla_checkpoint_missing_keys_are_reported(tmp_path, make_policy):
    policy = make_policy("no_force")
    state = _smolvla_layout_state_dict(policy.config)
    del state["model.state_proj.bias"]
    save_file(state, str(tmp_path / "smolvla.safetensors"))
    missing, unexpected = policy.load_smolvla_weights(tmp_path / "smolvla.safetensors")
    assert missing == ["model.state_proj.bias"] and unexpected == []


def test_smolvla_checkpoint_of_other_sizes_is_a_clear_error(tmp_path, make_policy):
    policy = make_policy("fdvla")
    state = _smolvla_layout_state_dict(policy.config)
    state["model.state_proj.weight"] = torch.zeros(policy.config.text_hidden_size, 14)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="model.state_proj.weight"):
        policy.load_smolvla_weights(tmp_path)
