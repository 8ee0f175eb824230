import pytest

from fdvla.config import ROBOT_SETUPS, ConfigError, load_setup
from fdvla.graph import build_graph
from fdvla_drivers.control import ControllerConfig, SafetyLimits


@pytest.mark.parametrize("robot", ROBOT_SETUPS)
def test_every_setup_builds_a_graph_with_valid_settings(robot):
    cfg = load_setup(robot)
    graph = build_graph(cfg)
    kinds = [n.kind for p in graph for n in p.nodes]
    assert kinds.count("robot_state") == 1 and kinds.count("controller") == 1
    assert kinds.count("camera") == 2
    names = [n.name for p in graph for n in p.nodes]
    assert len(names) == len(set(names))
    SafetyLimits.from_dict(cfg["safety"])
    ControllerConfig.from_dict({k: v for k, v in cfg["controller"].items()
                                if k != "target_pose_rate"})


def test_sensorless_setups_inherit_and_drop_the_sensor():
    assert load_setup("sim_sensorless")["robot"]["has_wrench"] is False
    assert load_setup("sim")["robot"]["has_wrench"] is True
    ur = load_setup("ur5e_sensorless")
    assert ur["robot"]["has_wrench"] is False
    assert ur["robot"]["host"] == load_setup("ur5e")["robot"]["host"]


def test_cameras_run_in_processes_of_their_own_sim_and_hardware():
    sim = build_graph(load_setup("sim", ["sim_snapshot=fdvla_sim_1_dx"]))
    assert [p.name for p in sim] == ["sim_cell", "kinect_camera", "wrist_camera"]
    kinds = {p.name: [n.kind for n in p.nodes] for p in sim}
    assert kinds["sim_cell"] == ["robot_state", "controller", "sim_episode"]
    assert kinds["kinect_camera"] == ["camera"] and kinds["wrist_camera"] == ["camera"]
    # The cameras read the physics process's state from the one shared-memory name.
    assert sim[0].robot["snapshot"] == "fdvla_sim_1_dx"
    assert {p.nodes[0].params["snapshot"] for p in sim[1:]} == {"fdvla_sim_1_dx"}
    # Lock-step (data generation): the cameras render in the cell's process, on its clock.
    lockstep = build_graph(load_setup("sim", ["robot.realtime=false"]))
    assert [p.name for p in lockstep] == ["sim_cell"]
    assert "snapshot" not in lockstep[0].robot
    assert [p.name for p in build_graph(load_setup("sim", ["cameras={}"]))] == ["sim_cell"]
    procs = build_graph(load_setup("ur5e"))
    assert procs[0].robot["backend"] == "ur_rtde"
    assert {p.name for p in procs} == {"robot_driver", "kinect_camera", "wrist_camera"}


def test_overrides_and_errors(tmp_path):
    cfg = load_setup("sim", ["robot.task=wipe", "cameras.kinect.fps=15", "safety.max_force=50"])
    assert cfg["robot"]["task"] == "wipe"
    assert cfg["cameras"]["kinect"]["fps"] == 15
    assert cfg["safety"]["max_force"] == 50
    with pytest.raises(ConfigError, match="unknown robot setup"):
        load_setup("ur10")
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_setup("sim", ["robot.task"])
    loop = tmp_path / "a.yaml"
    loop.write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="extends itself"):
        load_setup(str(loop))
    with pytest.raises(ValueError, match="unknown safety limit"):
        SafetyLimits.from_dict({"max_forse": 3})


def test_appearance_split_reaches_every_sim_camera_and_is_checked():
    cfg = load_setup("sim", ["robot.appearance=lighting"])
    cams = [n for p in build_graph(cfg) for n in p.nodes if n.kind == "camera"]
    assert len(cams) == 2 and {n.params["appearance"] for n in cams} == {"lighting"}
    nominal = [n for p in build_graph(load_setup("sim")) for n in p.nodes if n.kind == "camera"]
    assert {n.params["appearance"] for n in nominal} == {"nominal"}
    with pytest.raises(ConfigError, match="robot.appearance: unknown appearance split 'fog'"):
        load_setup("sim", ["robot.appearance=fog"])
    with pytest.raises(ConfigError, match="robot.appearance: an evaluation split"):
        load_setup("ur5e", ["robot.appearance=lighting"])


def test_where_simulated_episodes_start_is_checked():
    cfg = load_setup("sim", ["robot.task_start=near_target"])
    cell = [p for p in build_graph(cfg) if p.robot is not None]
    assert len(cell) == 1 and cell[0].robot["task_start"] == "near_target"
    with pytest.raises(ConfigError, match="robot.task_start: 'above' is not one of"):
        load_setup("sim", ["robot.task_start=above"])
    with pytest.raises(ConfigError, match="robot.task_start: where simulated episodes start"):
        load_setup("ur5e", ["robot.task_start=near_target"])


def test_where_simulated_objects_are_placed_is_checked():
    cfg = load_setup("sim", ["robot.task_placement=wide"])
    cell = [p for p in build_graph(cfg) if p.robot is not None]
    assert len(cell) == 1 and cell[0].robot["task_placement"] == "wide"
    with pytest.raises(ConfigError, match="robot.task_placement: 'far' is not one of nominal, wide"):
        load_setup("sim", ["robot.task_placement=far"])
    with pytest.raises(ConfigError, match="robot.task_placement: where the simulated objects"):
        load_setup("ur5e", ["robot.task_placement=wide"])


@pytest.mark.parametrize("robot", ROBOT_SETUPS)
def test_depth_is_off_in_every_shipped_setup(robot):
    cams = [n for p in build_graph(load_setup(robot)) for n in p.nodes if n.kind == "camera"]
    assert cams and not any(n.params.get("depth") for n in cams)


def test_camera_depth_is_set_per_camera_and_checked():
    cfg = load_setup("sim", ["cameras.kinect.depth=true"])
    cams = {n.params["name"]: n.params for p in build_graph(cfg) for n in p.nodes
            if n.kind == "camera"}
    assert cams["kinect"]["depth"] is True and "depth" not in cams["wrist"]
    load_setup("ur5e", ["cameras.kinect.depth=true"])  # the Azure Kinect has depth
    with pytest.raises(ConfigError, match="cameras.wrist.depth: the 'realsense' camera backend "
                                          "gives no depth"):
        load_setup("ur5e", ["cameras.wrist.depth=true"])
    with pytest.raises(ConfigError, match="cameras.kinect.depth: 'yes please' is not true"):
        load_setup("sim", ["cameras.kinect.depth=yes please"])


def _pointer_manifest(root, output="pixel"):
    """A ViTaL checkpoint's manifest and localiser config (all the graph reads of it)."""
    from fdvla_model.localise import LocaliserConfig
    from fdvla_model.vital_checkpoint import write_vital_manifest

    (root / "localiser").mkdir(parents=True)
    LocaliserConfig(output=output).to_json(root / "localiser" / "config.json")
    return write_vital_manifest(root, "local_policy", "localiser")


def test_a_pointing_checkpoint_turns_on_the_scene_cameras_depth_and_needs_its_calibration(tmp_path):
    def cameras(robot, *sets):
        graph = build_graph(load_setup(robot, list(sets)))
        return {n.params["name"]: n.params for p in graph for n in p.nodes if n.kind == "camera"}

    pointer = _pointer_manifest(tmp_path / "pointer")
    cams = cameras("sim", f"policy.checkpoint={pointer}")
    assert cams["kinect"]["depth"] is True and "depth" not in cams["wrist"]
    # With the oracle the pointer is not asked, and a position localiser needs no depth.
    assert "depth" not in cameras("sim", f"policy.checkpoint={pointer}",
                                  "policy.localiser=oracle")["kinect"]
    regressor = _pointer_manifest(tmp_path / "regressor", output="position")
    assert "depth" not in cameras("sim", f"policy.checkpoint={regressor}")["kinect"]
    # A real Azure Kinect publishes its extrinsics only from the setup's calibration.
    with pytest.raises(ConfigError, match="cameras.kinect.pose_in_base: the policy's localiser "
                                          "points"):
        cameras("ur5e", f"policy.checkpoint={pointer}")
    calibrated = "cameras.kinect.pose_in_base=[-1.0, -0.17, 0.55, 0.0, 0.0, 0.0, 1.0]"
    cams = cameras("ur5e", f"policy.checkpoint={pointer}", calibrated)
    assert cams["kinect"]["depth"] is True
    assert cams["kinect"]["pose_in_base"] == [-1.0, -0.17, 0.55, 0.0, 0.0, 0.0, 1.0]
    with pytest.raises(ConfigError, match="the 'realsense' backend gives no depth"):
        cameras("ur5e", f"policy.checkpoint={pointer}", calibrated,
                "cameras.kinect.backend=realsense")


@pytest.mark.parametrize("bad, why", [("[1, 2, 3]", "7 numbers"),
                                      ("[0, 0, 0, 0, 0, 0, 2]", "not of unit length"),
                                      ("here", "7 numbers")])
def test_a_cameras_calibration_is_checked(bad, why):
    with pytest.raises(ConfigError, match=f"cameras.kinect.pose_in_base: .*{why}"):
        load_setup("ur5e", [f"cameras.kinect.pose_in_base={bad}"])
