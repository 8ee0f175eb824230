"""The force-history extension: the force encoder reads the last K wrench frames (issue 18).

The dataset's window (`wrench_window`) and the policy node's (`WrenchHistory`) must give a model
the same rows for the same readings, or a policy trained on one would run on another input.
"""

import numpy as np
import pytest
import torch

from fdvla_model.dataset import EpisodeDataset, write_synthetic_dataset
from fdvla_model.dataset.episode_dataset import wrench_window
from fdvla_model.model import FDVLAConfig
from fdvla_model.model.force_teacher import fit_force_teacher
from fdvla_model.train import TrainConfig, train
from fdvla_policy_node.inference.observation import (ObservationAssembler, ObservationConfig,
                                                     WrenchHistory)


def _ramp(frames: int) -> np.ndarray:
    """A wrench whose every frame is different: row t is t + [0, .1, .2, .3, .4, .5]."""
    return (np.arange(frames)[:, None] + np.arange(6)[None] / 10.0).astype(np.float32)


def test_the_dataset_window_ends_at_the_frame_and_repeats_the_first_before_the_start():
    w = _ramp(10)
    assert wrench_window(w, 4, 1).shape == (6,) and np.array_equal(wrench_window(w, 4, 1), w[4])
    window = wrench_window(w, 4, 3)
    assert window.shape == (3, 6) and window.dtype == np.float32
    assert np.array_equal(window, w[2:5])
    assert np.array_equal(wrench_window(w, 1, 4), w[[0, 0, 0, 1]])


def test_the_node_history_gives_the_dataset_window_for_the_same_readings():
    """Readings at 500 Hz, frames at 10 Hz: at each frame the node's window is the dataset's."""
    fps, rate, frames, k = 10.0, 500.0, 30, 8
    w = _ramp(frames)
    history = WrenchHistory(k, 1.0 / fps)
    assert history.window() is None
    for i in range(int(frames / fps * rate)):
        t = i / rate
        frame = int(np.floor(t * fps + 1e-9))
        history.add(t, w[frame])  # the reading holds the frame's value until the next frame
        if i % int(rate / fps) == 0:
            assert np.allclose(history.window(), wrench_window(w, frame, k)), frame
    assert len(history._stamps) <= k / fps * rate + 2  # it forgets what no window needs


def test_the_history_starts_again_when_time_goes_back():
    history = WrenchHistory(3, 0.1)
    for t in (0.0, 0.1, 0.2, 0.3):
        history.add(t, np.full(6, t))
    assert np.allclose(history.window()[:, 0], [0.1, 0.2, 0.3])
    history.add(0.05, np.full(6, 9.0))  # a reset clock: a new episode
    assert np.allclose(history.window(), 9.0)
    with pytest.raises(ValueError):
        WrenchHistory(0, 0.1)


def test_the_assembler_carries_the_window_for_a_history_policy():
    cfg = ObservationConfig(cameras=("wrist",), needs_wrench=True, wrench_history=4,
                            wrench_spacing=0.1, max_age=1.0)
    a = ObservationAssembler(cfg)
    a.set_instruction("press")
    for i in range(11):
        a.set_wrench(i * 0.05, np.full(6, float(i)))
    a.set_image("wrist", 0.5, np.zeros((4, 4, 3), np.uint8))
    a.set_joints(0.5, np.zeros(6))
    a.set_tcp(0.5, object())
    obs, why = a.assemble(0.5)
    assert why == "" and obs.wrench.shape == (4, 6)
    assert np.allclose(obs.wrench[:, 0], [4.0, 6.0, 8.0, 10.0])  # 0.2, 0.3, 0.4, 0.5 s


def test_a_history_model_reads_its_older_frames_and_checks_the_shape(make_policy, make_batch):
    policy = make_policy("no_fdm", force_history=5)
    assert policy.model.force_encoder.mlp[0].in_features == 30
    batch = make_batch(policy.config)
    batch["wrench"] = torch.randn(2, 5, 6, generator=torch.Generator().manual_seed(3)) * 5
    prefix, _, _ = policy._encode(batch, training=False)
    older = dict(batch, wrench=batch["wrench"].clone())
    older["wrench"][:, 0] += 20.0  # only the oldest frame differs
    changed, _, _ = policy._encode(older, training=False)
    assert not torch.allclose(prefix.actual_force_token, changed.actual_force_token)
    out = policy.predict_force(batch)
    assert out["predicted_wrench"].shape == (2, 6)  # the newest frame of the decoded window
    with pytest.raises(ValueError, match=r"\(B, 5, 6\)"):
        policy.compute_loss(dict(batch, wrench=torch.zeros(2, 6)))
    with pytest.raises(ValueError, match="force_history"):
        FDVLAConfig.tiny("no_fdm", force_history=0)


def test_the_teacher_autoencodes_the_whole_window(make_policy):
    policy = make_policy("fdvla", force_objective="teacher", force_history=3)
    windows = torch.randn(256, 3, 6, generator=torch.Generator().manual_seed(0)) * 5.0
    fit = fit_force_teacher(policy, windows, steps=300)
    assert fit["teacher_mse"] < 0.1 * fit["teacher_mse_mean"]
    with pytest.raises(ValueError, match="force_history 3"):
        fit_force_teacher(policy, windows[:, 0], steps=1)


def test_train_with_a_force_history_feeds_windows_and_saves_it(tmp_path):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, episodes=2, length=8, image_size=(32, 32), seed=1)
    sample = EpisodeDataset(root, chunk_size=2, wrench_history=4)[1]
    assert tuple(sample["wrench"].shape) == (4, 6)
    first = EpisodeDataset(root, chunk_size=2)[0]["wrench"]
    assert torch.equal(sample["wrench"][0], first) and torch.equal(sample["wrench"][1], first)
    for variant in ("fdvla", "no_fdm"):
        out = tmp_path / variant
        train(TrainConfig(dataset=str(root), out=str(out), variant=variant, steps=2, batch_size=4,
                          chunk_size=2, warmup_steps=1, teacher_steps=5, progress=False,
                          force_history=4))
        from fdvla_model.model import FDVLAPolicy

        assert FDVLAPolicy.load(out / "policy").config.force_history == 4


def test_history_dropout_replaces_the_past_of_the_chosen_windows_only():
    from fdvla_model.train.augment import drop_force_history

    windows = torch.randn(4000, 5, 6)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(drop_force_history(windows, 0.0, g()), windows)
    assert torch.equal(drop_force_history(windows[:, 0], 1.0, g()), windows[:, 0])  # (B, 6)
    assert torch.equal(drop_force_history(windows[:, :1], 1.0, g()), windows[:, :1])  # K = 1
    all_dropped = drop_force_history(windows, 1.0, g())
    assert torch.equal(all_dropped, windows[:, -1:].expand_as(windows))
    half = drop_force_history(windows, 0.5, g())
    dropped = (half == windows[:, -1:]).all(dim=(1, 2))
    kept = (half == windows).all(dim=(1, 2))
    assert bool((dropped ^ kept).all())  # a window is dropped whole or left whole
    assert torch.equal(half[:, -1], windows[:, -1])  # the newest reading always stays
    assert 0.45 < float(dropped.float().mean()) < 0.55
    assert torch.equal(drop_force_history(windows, 0.5, g()), half)  # seeded


def test_train_with_history_dropout_checks_it_and_saves_a_history_policy(tmp_path):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, episodes=2, length=8, image_size=(32, 32), seed=1)
    common = dict(dataset=str(root), variant="no_fdm", steps=2, batch_size=4, chunk_size=2,
                  warmup_steps=1, progress=False)
    with pytest.raises(ValueError, match="needs --force-history"):
        train(TrainConfig(out=str(tmp_path / "a"), force_history_dropout=0.5, **common))
    with pytest.raises(ValueError, match="share in"):
        train(TrainConfig(out=str(tmp_path / "b"), force_history=3, force_history_dropout=1.5,
                          **common))
    out = tmp_path / "c"
    train(TrainConfig(out=str(out), force_history=3, force_history_dropout=0.5, **common))
    from fdvla_model.model import FDVLAPolicy

    assert FDVLAPolicy.load(out / "policy").config.force_history == 3
