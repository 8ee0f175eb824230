"""`fdvla eval`'s chunking options reach the policy settings, and a bad value is refused before
anything runs."""

import argparse
import subprocess
import sys

from fdvla.evaluation.cli import _policy_overrides, add_eval_parser
from fdvla_policy_node.inference import PolicySettings


def _parse(*argv):
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["eval", "--policy", "default", "--out", "x", *argv])


def test_the_thresholds_and_the_noise_scale_land_in_the_settings():
    args = _parse("--threshold", "1.0", "--contact-threshold", "1.0", "--noise-scale", "0")
    settings = PolicySettings.from_dict(_policy_overrides(args))
    assert settings.chunking.threshold == 1.0
    assert settings.chunking.contact_threshold == 1.0
    assert settings.noise_scale == 0.0
    default = PolicySettings.from_dict(_policy_overrides(_parse()))
    assert default.chunking.contact_threshold == PolicySettings().chunking.contact_threshold


def test_a_contact_threshold_outside_0_1_is_refused(tmp_path):
    r = subprocess.run([sys.executable, "-m", "fdvla.cli", "eval", "--policy", "default",
                        "--task", "button", "--episodes", "1", "--lockstep",
                        "--contact-threshold", "1.5", "--out", str(tmp_path / "e")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "contact_threshold" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "e" / "results.json").exists()
