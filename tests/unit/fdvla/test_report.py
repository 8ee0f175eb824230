"""The study's report: Wilson intervals, the table beside the paper's, figures."""

import json
import math

import pytest

from fdvla.study.pipeline import collect, demonstrations_used, failure_kind
from fdvla.study.protocol import SCALES
from fdvla.study.report import CellResult, ordering, wilson_interval, write_report


def _wilson_by_formula(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("k,n", [(21, 30), (0, 10), (10, 10), (3, 7)])
def test_wilson_interval_matches_the_formula(k, n):
    lo, hi = wilson_interval(k, n)
    elo, ehi = _wilson_by_formula(k, n)
    assert lo == pytest.approx(max(elo, 0.0), abs=1e-9)
    assert hi == pytest.approx(min(ehi, 1.0), abs=1e-9)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_ordering_by_mean_success():
    r = {("button", "a"): CellResult("button", "a", 1, 10),
         ("button", "b"): CellResult("button", "b", 7, 10),
         ("plug", "a"): CellResult("plug", "a", 2, 10),
         ("plug", "b"): CellResult("plug", "b", 3, 10)}
    assert ordering(r, ["a", "b"]) == ["b", "a"]


def test_ties_are_not_read_as_an_ordering(tmp_path):
    scale = SCALES["toy"]
    r = {("button", v): CellResult("button", v, 0, 2) for v in scale.variants}
    text = write_report(tmp_path, scale, r, {}, {}, "cmd").read_text()
    assert "fdvla = force_token = no_fdm = no_force" in text
    assert "Some variants tie" in text


@pytest.mark.parametrize("failure, kind", [
    ("button not latched (pressed 2.0 of 10.0 mm)", "button not latched"),
    ("marks left: 3/8", "marks left"),
    ("smeared: rubbed 6.2 N > 5 N (1/8 marks)", "smeared"),
    ("plug seated, not held home (seating force 12.0 N, band 25.1-32.0 N)",
     "plug seated, not held home"),
    ("", "unknown"), (None, "unknown")])
def test_failures_group_by_their_words_not_their_figures(failure, kind):
    assert failure_kind(failure) == kind


def test_report_from_evaluation_outputs(tmp_path):
    scale = SCALES["toy"].with_overrides(tasks=("button", "plug"))
    outcomes = {("button", "fdvla"): [True, True, False], ("button", "no_force"): [False] * 3}
    for (task, variant), succ in outcomes.items():
        d = tmp_path / "eval" / task / variant
        d.mkdir(parents=True)
        eps = [{"success": s, "failure": "" if s else "button not latched (pressed 2.0 of 10.0 mm)",
                "progress": 1.0 if s else 0.2, "fault": ""} for s in succ]
        if variant == "no_force":  # the controller's safety stops, with each episode's numbers
            eps[0]["fault"] = "force 60.2 N above limit 60.0 N"
            eps[1]["fault"] = "force 61.0 N above limit 60.0 N"
            eps[2]["fault"] = ("estimated contact force 60.1 N above limit 60.0 N (sensorless "
                               "estimate from servo tracking error)")
        (d / "results.json").write_text(json.dumps({"episodes": eps}))
        f = tmp_path / "force" / task / variant
        f.mkdir(parents=True)
        trace = {"t": [0, 1], "measured": [0, 10], "predicted": [1, 8], "force_error": 1.5}
        (f / "force.json").write_text(json.dumps(trace if variant == "fdvla" else None))
    tr = tmp_path / "train" / "button" / "fdvla"
    tr.mkdir(parents=True)
    (tr / "losses.jsonl").write_text('{"step": 1, "flow_loss": 2.0}\n{"step": 2, "flow_loss": 1.0}\n{"st')
    results, curves = collect(tmp_path, scale)
    assert results[("button", "fdvla")].successes == 2
    assert results[("button", "fdvla")].failures["button not latched"] == 1
    assert len(curves[("button", "fdvla")]) == 2  # the torn last line is dropped
    data = tmp_path / "data" / "button" / "dataset"
    for name in ("episode_000000", "episode_000001", "episode_000002.partial"):
        (data / name).mkdir(parents=True)
    (data / "meta.json").write_text("{}")
    used = demonstrations_used(tmp_path, scale)
    assert used["button"] == 2 and used["plug"] is None  # complete episodes of built datasets
    report = write_report(tmp_path, scale, results, curves, {"eval/button/fdvla": 3.0}, "cmd",
                          demos_used=used)
    text = report.read_text()
    assert "button 2, plug -" in text
    assert "2/3 = 66.7%" in text and "(paper 21/30)" in text
    assert "0/3 = 0.0%" in text
    assert "not run" in text  # plug was never evaluated
    assert "button not latched x1" in text
    assert "| button | no_force | 3 | button not latched x3 | force # N above limit # N x2, " \
           "estimated contact force # N above limit # N x1 |" in text
    assert "fdvla > no_force" in text and "Some variants tie" not in text
    assert "| button | fdvla | 1.50 |" in text
    assert "| fdvla | 0.73 | - |" in text and "| no_force | 0.20 | - |" in text  # mean progress
    for png in ("success.png", "force_error.png", "training.png"):
        assert (tmp_path / png).stat().st_size > 1000
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["button/fdvla"]["wilson95"][0] < 2 / 3 < saved["button/fdvla"]["wilson95"][1]
