"""The study's force analysis on a real (tiny, briefly trained) policy and dataset."""

import subprocess
import sys

import numpy as np
import pytest

from fdvla.study.force import force_trace
from fdvla_model.dataset import write_synthetic_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("force")
    write_synthetic_dataset(root / "data", episodes=4, length=12)
    policies = {}
    for variant in ("fdvla", "no_force"):
        out = root / variant
        subprocess.run([sys.executable, "-m", "fdvla.cli", "train", "--dataset", root / "data",
                        "--variant", variant, "--preset", "tiny", "--steps", "2",
                        "--batch-size", "2", "--out", out, "--no-progress"], check=True)
        policies[variant] = out / "policy"
    return root / "data", policies


def test_fdvla_force_trace_over_the_held_out_episode(trained):
    data, policies = trained
    trace = force_trace(policies["fdvla"], data)
    n = len(trace["t"])
    assert n == 12  # every frame of the held-out (last) episode
    assert len(trace["measured"]) == len(trace["predicted"]) == n
    assert np.all(np.diff(trace["t"]) > 0)
    err = trace["force_error"]
    assert np.isfinite(err) and err >= 0
    # |F_pred - F_meas| >= | |F_pred| - |F_meas| |, frame by frame, so the mean error bounds the
    # mean gap of the magnitudes the plot shows
    gap = np.abs(np.asarray(trace["predicted"]) - np.asarray(trace["measured"])).mean()
    assert err >= gap - 1e-6
    assert trace["input"].startswith("images + state")


def test_a_variant_without_force_token_has_no_trace(trained):
    data, policies = trained
    assert force_trace(policies["no_force"], data) is None
