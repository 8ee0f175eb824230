"""`fdvla study`'s pipeline on a toy scale: which commands run, in which order, and resume."""

import json

import pytest

from fdvla.study.pipeline import run_study
from fdvla.study.protocol import SCALES
from fdvla.study.stages import StageError


class Commands:
    """Stands where the `fdvla` subprocesses would run: records each command line and leaves
    the file each command's next stage reads; can be told to fail at one command."""

    def __init__(self, fail_at=None):
        self.lines = []
        self.fail_at = fail_at

    def __call__(self, argv):
        argv = [str(a) for a in argv]
        if self.fail_at is not None and len(self.lines) == self.fail_at:
            raise StageError("interrupted")
        self.lines.append(argv)
        out = argv[argv.index("--out") + 1]
        if argv[0] == "eval":
            import pathlib
            pathlib.Path(out, "results.json").write_text(json.dumps(
                {"episodes": [{"success": True}, {"success": False, "failure": "timeout"}]}))


def write_force(policy_dir, dataset_root, out_file):
    out_file.write_text(json.dumps({"t": [0.0, 0.1], "measured": [0.0, 9.0],
                                    "predicted": [1.0, 7.0], "force_error": 1.5}))


def test_toy_study_runs_every_stage_in_order_and_writes_the_report(tmp_path):
    scale = SCALES["toy"].with_overrides(variants=("fdvla", "force_token"))
    cmds = Commands()
    report = run_study(tmp_path, scale, run=cmds, analyze=write_force, log=lambda m: None)
    kinds = [c[0] for c in cmds.lines]
    assert kinds == ["sim-demos", "dataset", "train", "train", "eval", "eval"]
    evals = {c[c.index("--policy") + 1].split("/")[-2]: c for c in cmds.lines if c[0] == "eval"}
    # deployed as the paper deploys them: FD-VLA without a sensor, force_token with one
    assert evals["fdvla"][evals["fdvla"].index("--robot") + 1] == "sim_sensorless"
    assert evals["force_token"][evals["force_token"].index("--robot") + 1] == "sim"
    # held-out placements: evaluation seeds differ from the demonstrations'
    demo_seed = cmds.lines[0][cmds.lines[0].index("--seed") + 1]
    assert evals["fdvla"][evals["fdvla"].index("--seed") + 1] != demo_seed
    text = report.read_text()
    assert "1/2 = 50.0%" in text
    assert "| button | fdvla | 1.50 |" in text  # force error from the force stage


def test_interrupted_study_resumes_where_it_stopped(tmp_path):
    scale = SCALES["toy"]
    with pytest.raises(StageError):
        run_study(tmp_path, scale, run=Commands(fail_at=3), analyze=write_force,
                  log=lambda m: None)
    cmds = Commands()
    run_study(tmp_path, scale, run=cmds, analyze=write_force, log=lambda m: None)
    # sim-demos, dataset and the first training had finished: not run again
    assert [c[0] for c in cmds.lines] == ["train"] * 3 + ["eval"] * 4
    again = Commands()
    run_study(tmp_path, scale, run=again, analyze=write_force, log=lambda m: None)
    assert again.lines == []
    assert (tmp_path / "report.md").is_file()


def test_a_study_folder_keeps_its_scale(tmp_path):
    run_study(tmp_path, SCALES["toy"], run=Commands(), analyze=write_force, log=lambda m: None)
    with pytest.raises(StageError, match="another scale"):
        run_study(tmp_path, SCALES["small"], run=Commands(), analyze=write_force, log=lambda m: None)


def test_changed_settings_redo_only_the_stages_named(tmp_path):
    """More evaluation episodes on a finished study: refused until --redo eval, which reruns the
    evaluations only and leaves demonstrations and training alone."""
    run_study(tmp_path, SCALES["toy"], run=Commands(), analyze=write_force, log=lambda m: None)
    more = SCALES["toy"].with_overrides(eval_episodes=5)
    with pytest.raises(StageError, match="--redo eval/button/fdvla"):
        run_study(tmp_path, more, run=Commands(), analyze=write_force, log=lambda m: None)
    commands = Commands()
    run_study(tmp_path, more, run=commands, analyze=write_force, redo=["eval"], log=lambda m: None)
    assert [c[0] for c in commands.lines] == ["eval"] * 4
    assert all(c[c.index("--episodes") + 1] == "5" for c in commands.lines)
    assert json.loads((tmp_path / "study.json").read_text())["scale"]["eval_episodes"] == 5
