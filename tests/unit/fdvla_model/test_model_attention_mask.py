"""Eq. 6: the directional attention mask, as a matrix and inside the frozen VLM."""

import pytest
import torch

from fdvla_model.model.attention_mask import (
    action_attention_mask,
    directional_attention_mask,
    prefix_attention_mask,
)


def test_directional_mask_matches_equation_6_case_by_case():
    # tokens: two perceptual (f_V, f_L) then three control (f_S, f_pF, and one more to check causality)
    is_control = torch.tensor([False, False, True, True, True])
    mask = directional_attention_mask(is_control)
    n = len(is_control)
    for i in range(n):
        for j in range(n):
            if not is_control[i] and not is_control[j]:
                expected = True  # percept -> percept
            elif is_control[i] and not is_control[j]:
                expected = True  # control -> percept
            elif is_control[i] and is_control[j]:
                expected = i >= j  # control -> control, causal
            else:
                expected = False  # percept never sees control
            assert bool(mask[i, j]) == expected, (i, j)


def test_padding_is_masked_on_the_key_side_only():
    is_control = torch.tensor([False, False, False, True])
    key_valid = torch.tensor([[True, True, False, True]])
    mask = prefix_attention_mask(is_control, key_valid)
    assert not mask[0, :, 2].any()  # nobody attends to the padded token
    assert mask[0].any(dim=1).all()  # every query row keeps at least one key (no NaN softmax)


def test_action_tokens_see_real_prefix_and_earlier_actions():
    prefix_valid = torch.tensor([[True, False, True]])
    mask = action_attention_mask(prefix_valid, num_actions=3)[0]
    assert mask.shape == (3, 6)
    assert mask[:, 0].all() and not mask[:, 1].any() and mask[:, 2].all()
    assert torch.equal(mask[:, 3:], torch.ones(3, 3, dtype=torch.bool).tril())


def _prefix(policy, batch):
    prefix = policy.encode_prefix(batch, training=True)
    return prefix


@pytest.mark.parametrize("variant", ["fdvla", "no_fdm"])
def test_vision_language_outputs_ignore_state_and_force(variant, make_policy, make_batch):
    policy = make_policy(variant)
    batch = make_batch(policy.config)
    changed = dict(batch, state=batch["state"] + 3.0, wrench=batch["wrench"] * -2.0)
    with torch.no_grad():
        before, after = _prefix(policy, batch), _prefix(policy, changed)
    num_percept = before.num_vision_tokens + policy.config.tokenizer_max_length
    torch.testing.assert_close(before.hidden[:, :num_percept], after.hidden[:, :num_percept])
    for layer in range(policy.config.num_vlm_layers):  # the cached keys the expert reads, too
        torch.testing.assert_close(before.kv.keys[layer][:, :num_percept], after.kv.keys[layer][:, :num_percept])
    # ... while the control stream does see the change
    assert not torch.allclose(before.hidden[:, num_percept:], after.hidden[:, num_percept:])


def test_state_token_does_not_see_the_force_token(make_policy, make_batch):
    policy = make_policy("no_fdm")
    batch = make_batch(policy.config)
    with torch.no_grad():
        before = _prefix(policy, batch)
        after = _prefix(policy, dict(batch, wrench=batch["wrench"] + 4.0))
    state_index = before.hidden.shape[1] - 2
    torch.testing.assert_close(before.hidden[:, state_index], after.hidden[:, state_index])
    assert not torch.allclose(before.hidden[:, -1], after.hidden[:, -1])
