"""One rule refuses a wrench-reading variant where there is no force/torque sensor; every
entry point (graph start, lock-step eval) asks it, so they refuse alike, in one line."""

import json
from types import SimpleNamespace

import pytest

from fdvla_model.model.configuration_fdvla import VARIANTS
from fdvla_policy_node.inference.agents import check_fits_setup
from fdvla_policy_node.inference.loading import PolicyLoadError, refuse_without_wrench


@pytest.mark.parametrize("variant", VARIANTS)
def test_only_wrench_reading_variants_are_refused_and_only_without_a_sensor(variant):
    refuse_without_wrench(variant, wrench_available=True, setup="ur5e")
    if variant in ("force_token", "no_fdm"):
        with pytest.raises(PolicyLoadError) as refused:
            refuse_without_wrench(variant, wrench_available=False, setup="ur5e_sensorless")
        message = str(refused.value)
        assert "\n" not in message and "ur5e_sensorless" in message
        assert "needs the measured wrench" in message and "no force/torque sensor" in message
    else:
        refuse_without_wrench(variant, wrench_available=False, setup="ur5e_sensorless")


def test_graph_check_and_lockstep_eval_give_the_same_refusal(tmp_path):
    from fdvla.evaluation.lockstep import evaluate_lockstep

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"config": {"variant": "raw_force"}}))  # alias
    (ckpt / "model.safetensors").write_bytes(b"")
    with pytest.raises(PolicyLoadError) as from_graph:
        check_fits_setup(ckpt, wrench_available=False, setup="sim_sensorless")
    runner = SimpleNamespace(info=SimpleNamespace(variant="no_fdm"))
    with pytest.raises(PolicyLoadError) as from_eval:
        evaluate_lockstep(runner, "button", 1, sensorless=True)
    assert str(from_graph.value) == str(from_eval.value)
