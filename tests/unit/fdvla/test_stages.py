"""The study's stage logic: order, resume after an interruption at any stage, refusal to mix."""

import json

import pytest

from fdvla.study.stages import Stage, StageError, StageRunner


def _stage(name, calls, params=None, fail=False):
    def run(folder):
        calls.append(name)
        (folder / "out.txt").write_text(name)
        if fail:
            raise KeyboardInterrupt  # an interruption, as Ctrl-C would bring
    return Stage(name, run, params or {"p": 1})


def test_runs_in_order_then_skips_finished(tmp_path):
    calls = []
    stages = [_stage("a/x", calls), _stage("b", calls)]
    assert StageRunner(tmp_path, log=lambda m: None).run(stages) == {"a/x": "ran", "b": "ran"}
    assert calls == ["a/x", "b"]
    marker = json.loads((tmp_path / "a/x/stage.json").read_text())
    assert marker["params"] == {"p": 1}
    assert StageRunner(tmp_path, log=lambda m: None).run(stages) == {"a/x": "skipped",
                                                                      "b": "skipped"}
    assert calls == ["a/x", "b"]


@pytest.mark.parametrize("interrupted", [0, 1, 2])
def test_resume_after_interruption_at_any_stage(tmp_path, interrupted):
    names = ["demos", "train", "eval"]
    calls = []
    stages = [_stage(n, calls, fail=(i == interrupted)) for i, n in enumerate(names)]
    with pytest.raises(KeyboardInterrupt):
        StageRunner(tmp_path, log=lambda m: None).run(stages)
    assert not (tmp_path / names[interrupted] / "stage.json").exists()
    calls.clear()
    outcome = StageRunner(tmp_path, log=lambda m: None).run(
        [_stage(n, calls) for n in names])
    assert calls == names[interrupted:]
    assert [outcome[n] for n in names] == ["skipped"] * interrupted + ["ran"] * (3 - interrupted)


def test_changed_parameters_are_refused_not_mixed(tmp_path):
    calls = []
    StageRunner(tmp_path, log=lambda m: None).run([_stage("train", calls, {"steps": 10})])
    with pytest.raises(StageError, match="other parameters"):
        StageRunner(tmp_path, log=lambda m: None).run([_stage("train", calls, {"steps": 20})])
    StageRunner(tmp_path, redo=["train"], log=lambda m: None).run(
        [_stage("train", calls, {"steps": 20})])
    assert calls == ["train", "train"]


def test_redo_prefix_reruns_a_family(tmp_path):
    calls = []
    stages = [_stage("eval/button/fdvla", calls), _stage("eval/plug/fdvla", calls),
              _stage("train/button/fdvla", calls)]
    StageRunner(tmp_path, log=lambda m: None).run(stages)
    calls.clear()
    StageRunner(tmp_path, redo=["eval"], log=lambda m: None).run(stages)
    assert calls == ["eval/button/fdvla", "eval/plug/fdvla"]


def test_torn_marker_counts_as_unfinished(tmp_path):
    calls = []
    StageRunner(tmp_path, log=lambda m: None).run([_stage("a", calls)])
    (tmp_path / "a" / "stage.json").write_text('{"fingerp')
    StageRunner(tmp_path, log=lambda m: None).run([_stage("a", calls)])
    assert calls == ["a", "a"]
