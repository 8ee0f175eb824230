"""The launch file's teleop:=true / record:=DIR arguments add the graph's teleop process, the
same one `fdvla record` runs (evaluated against the launch API stand-in of the bringup tests)."""

from helpers.launch_file import evaluate_launch
from fdvla.config import load_setup
from fdvla.graph import build_graph


def test_teleop_and_record_arguments_add_the_teleop_process(monkeypatch, tmp_path):
    nodes = evaluate_launch(monkeypatch, robot="sim", teleop="true", record=str(tmp_path))
    names = [n.kwargs["arguments"][n.kwargs["arguments"].index("--process") + 1] for n in nodes]
    assert names == ["sim_cell", "kinect_camera", "wrist_camera", "teleop"]
    args = nodes[-1].kwargs["arguments"]
    assert "teleop.enabled=true" in args and f"recorder.out={tmp_path}" in args
    cfg = load_setup("sim", ["teleop.enabled=true", f"recorder.out={tmp_path}"])
    [teleop] = [p for p in build_graph(cfg) if p.name == "teleop"]
    assert [n.kind for n in teleop.nodes] == ["spacemouse", "teleop", "recorder"]
    assert teleop.robot is None  # never shares a process with the robot backend


def test_without_the_arguments_there_is_no_teleop_process(monkeypatch):
    nodes = evaluate_launch(monkeypatch, robot="ur5e")
    assert all("teleop" not in n.kwargs["arguments"] for n in nodes)


def test_recorder_only_process_and_sensorless_topics(tmp_path):
    cfg = load_setup("ur5e_sensorless", [f"recorder.out={tmp_path}"])
    [teleop] = [p for p in build_graph(cfg) if p.name == "teleop"]
    [rec] = teleop.nodes
    topics = [t for t, _ in rec.params["topic_types"]]
    assert rec.kind == "recorder" and "/wrench" not in topics
    assert "/kinect/color/image_raw" in topics and "/sim/task_state" not in topics
