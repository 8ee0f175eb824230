"""The policy node and the live view come from the one graph definition: bringup, the launch
file's policy:= / instruction:= / view:=, and `fdvla_process --process policy` agree."""

from helpers.launch_file import evaluate_launch
from fdvla.config import load_setup
from fdvla.graph import build_graph
from fdvla_policy_node.inference import PolicySettings


def test_policy_is_its_own_process_with_the_setup_facts():
    graph = {p.name: p for p in build_graph(load_setup("sim_sensorless", [
        "policy.checkpoint=default", "instruction=press the emergency button"]))}
    assert set(graph) == {"sim_cell", "kinect_camera", "wrist_camera", "policy"}
    (node,) = graph["policy"].nodes
    assert node.kind == "policy" and graph["policy"].robot is None
    p = node.params
    assert p["checkpoint"] == "default" and p["instruction"] == "press the emergency button"
    assert p["wrench_available"] is False  # sensorless
    settings = PolicySettings.from_dict(p)  # the node's settings: PolicySettings' defaults
    assert settings.chunking.guidance == "rtc" and settings.chunking.threshold == 0.5
    hw = {q.name: q for q in build_graph(load_setup("ur5e_sensorless", ["policy.checkpoint=x"]))}
    assert hw["policy"].nodes[0].params["wrench_available"] is False
    assert build_graph(load_setup("ur5e", ["policy.checkpoint=x"]))[-1].nodes[0].params[
        "wrench_available"] is True


def test_no_policy_or_view_unless_asked():
    names = [p.name for p in build_graph(load_setup("sim"))]
    assert "policy" not in names and "view" not in names


def test_launch_file_policy_instruction_and_view_args(monkeypatch):
    nodes = evaluate_launch(monkeypatch, robot="sim", policy="default",
                            instruction="press the emergency button", view="true")
    procs = [n.kwargs["arguments"] for n in nodes]
    names = [a[a.index("--process") + 1] for a in procs]
    assert names == ["sim_cell", "kinect_camera", "wrist_camera", "policy", "view"]
    policy_args = procs[3]
    assert "policy.checkpoint=default" in policy_args
    assert "instruction=press the emergency button" in policy_args


def test_one_source_of_policy_defaults_and_bad_keys_refused_before_start():
    """The node, the lock-step evaluation and the graph read the same defaults (PolicySettings),
    and a misspelt setting fails the graph, not the policy process later."""
    import pytest

    from fdvla.config import ConfigError
    from fdvla_policy_node.inference import SchedulerConfig
    from fdvla_policy_node.policy_node import PolicyNodeConfig

    assert PolicyNodeConfig is PolicySettings
    assert PolicySettings().chunking == SchedulerConfig()
    flat = PolicySettings.from_dict({"guidance": "none", "extra_latency": 0.3}).to_dict()
    assert flat["guidance"] == "none" and flat["extra_latency"] == 0.3
    assert flat["smooth_degree"] == SchedulerConfig().smooth_degree
    with pytest.raises(ConfigError, match="thresold"):
        build_graph(load_setup("sim", ["policy.checkpoint=default", "policy.thresold=0.5"]))


def test_the_oracle_localiser_is_checked_and_runs_only_on_the_simulation():
    import pytest

    from fdvla.config import ConfigError

    graph = build_graph(load_setup("sim", ["policy.checkpoint=x", "policy.localiser=oracle",
                                           "policy.localiser_noise=0.002"]))
    params = graph[-1].nodes[0].params
    assert params["localiser"] == "oracle" and params["localiser_noise"] == 0.002
    with pytest.raises(ConfigError, match="the 'ur_rtde' backend has none"):
        build_graph(load_setup("ur5e", ["policy.checkpoint=x", "policy.localiser=oracle"]))
    with pytest.raises(ConfigError, match="policy.localiser must be one of learned, oracle"):
        build_graph(load_setup("sim", ["policy.checkpoint=x", "policy.localiser=vlm"]))
    with pytest.raises(ConfigError, match="localiser_noise is a standard deviation"):
        build_graph(load_setup("sim", ["policy.checkpoint=x", "policy.localiser_noise=-1"]))
