"""The sampler's guidance hook: one Euler loop serves plain and guided (RTC) sampling."""

import torch


def test_hook_sees_every_step_and_the_end_and_identity_guidance_changes_nothing(
    make_policy, make_batch, fixed_noise
):
    policy = make_policy("fdvla", num_steps=4)
    batch = make_batch(policy.config)
    noise = fixed_noise(policy.config)
    plain, plain_aux = policy.sample_actions(batch, noise=noise, return_aux=True)
    calls = []

    def identity(x_t, x_1, t):
        calls.append(t)
        torch.testing.assert_close(x_1, noise, rtol=0, atol=0)  # always the initial noise
        return x_t

    guided, guided_aux = policy.sample_actions(batch, noise=noise, return_aux=True, guidance=identity)
    assert calls == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert torch.equal(guided, plain)
    assert torch.equal(guided_aux["predicted_wrench"], plain_aux["predicted_wrench"])


def test_force_outputs_are_public_and_match_sampling(make_policy, make_batch, fixed_noise):
    policy = make_policy("fdvla")
    batch = make_batch(policy.config)
    _, aux = policy.sample_actions(batch, noise=fixed_noise(policy.config), return_aux=True)
    with torch.no_grad():
        outputs = policy.force_outputs(policy.encode_prefix(batch))
    assert torch.equal(outputs["force_token"], aux["force_token"])
    assert torch.equal(outputs["predicted_wrench"], aux["predicted_wrench"])
    no_force = make_policy("no_force")
    with torch.no_grad():
        assert no_force.force_outputs(no_force.encode_prefix(batch)) == {
            "force_token": None, "predicted_wrench": None}
