"""The frozen force teacher (a wrench autoencoder) and the metrics that show the student learning."""

import pytest
import torch

from fdvla_model.model.force_teacher import _pooled_r2, fit_force_teacher, force_learning_metrics


def test_pooled_r2_is_the_explained_share_of_variance():
    target = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])  # total squared spread 8 + 8 = 16
    assert _pooled_r2(target, target) == pytest.approx(1.0)
    assert _pooled_r2(target.mean(0, keepdim=True).expand_as(target), target) == pytest.approx(0.0)
    assert _pooled_r2(target + 1.0, target) == pytest.approx(1 - 6 / 16)


def test_fitted_teacher_encodes_the_wrench_and_training_leaves_it_alone(make_policy, make_batch):
    policy = make_policy("fdvla", force_objective="teacher")
    wrenches = torch.randn(256, 6, generator=torch.Generator().manual_seed(0)) * 5.0
    fit = fit_force_teacher(policy, wrenches, steps=300)
    assert fit["teacher_mse"] < 0.05 * fit["teacher_mse_mean"]
    assert not any(p.requires_grad for p in policy.model.force_encoder.parameters())  # still frozen
    before = {k: v.clone() for k, v in policy.model.force_encoder.state_dict().items()}
    optimizer = torch.optim.Adam(policy.trainable_parameters(), lr=1e-2)
    for _ in range(2):
        optimizer.zero_grad()
        policy.compute_loss(make_batch(policy.config))["loss"].backward()
        optimizer.step()
    for key, value in policy.model.force_encoder.state_dict().items():
        assert torch.equal(value, before[key]), key
    # the decoder reads the teacher's token: metrics on a batch say so
    metrics = force_learning_metrics(policy, make_batch(policy.config, batch_size=8))
    assert metrics["wrench_mse_actual"] < 0.1 * metrics["wrench_mse_mean"]


def test_student_learns_the_teacher_token(make_policy, make_batch):
    """With the teacher objective f_pF comes to explain most of f_aF's variance on a batch whose
    wrench follows the state (a few dozen steps), and the metrics report it."""
    torch.manual_seed(0)
    policy = make_policy("fdvla", force_objective="teacher", dist_loss_weight=1.0, chunk_size=4).train()
    batch = make_batch(policy.config, batch_size=8)
    batch["wrench"] = torch.cat([batch["state"][:, :6] * 5.0], dim=1)
    fit_force_teacher(policy, batch["wrench"], steps=200)
    start = force_learning_metrics(policy, batch)
    optimizer = torch.optim.Adam(policy.trainable_parameters(), lr=3e-3)
    for _ in range(60):
        optimizer.zero_grad()
        policy.compute_loss(batch)["loss"].backward()
        optimizer.step()
    end = force_learning_metrics(policy, batch)
    assert start["token_r2"] < 0.2 < 0.6 < end["token_r2"]
    assert end["wrench_mse_pred"] < 0.5 * end["wrench_mse_mean"] and end["wrench_skill_pred"] > 0.5
    assert end["target_spread"] == pytest.approx(start["target_spread"])  # a fixed teacher cannot shrink


def test_metrics_need_a_force_branch_and_measured_rows(make_policy, make_batch):
    assert force_learning_metrics(make_policy("no_force"), make_batch(make_policy("no_force").config)) == {}
    policy = make_policy("fdvla")
    batch = make_batch(policy.config)
    batch["wrench"] = torch.full((2, 6), float("nan"))
    assert force_learning_metrics(policy, batch) == {}
    no_fdm = make_policy("no_fdm")
    assert "token_r2" not in force_learning_metrics(no_fdm, make_batch(no_fdm.config))
