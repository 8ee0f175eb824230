"""The ROS-free core of the policy node: observation assembly, chunk scheduling and guidance,
checkpoint loading and refusal."""

import numpy as np
import pytest

from fdvla_msgs.types import Pose, chunk_delay
from fdvla_policy_node.inference import (ChunkScheduler, ObservationAssembler, ObservationConfig,
                                         PolicyLoadError, PolicyRunner, SchedulerConfig,
                                         load_for_inference)
from fdvla_policy_node.inference.runner import dummy_observation
from helpers.checkpoints import make_checkpoint

POSE = Pose(np.array([-0.45, -0.13, 0.24]), np.array([0.7071068, 0.7071068, 0.0, 0.0]))


def filled(needs_wrench=False, t=10.0):
    a = ObservationAssembler(ObservationConfig(needs_wrench=needs_wrench, sync_tolerance=0.05,
                                               max_age=0.2))
    a.set_instruction("press the emergency button")
    a.set_image("kinect", t, np.zeros((4, 4, 3), np.uint8))
    a.set_image("wrist", t - 0.01, np.zeros((4, 4, 3), np.uint8))
    a.set_joints(t, np.zeros(6))
    a.set_tcp(t, POSE)
    return a


def test_observation_from_agreeing_fresh_samples_is_stamped_with_the_newest_frame():
    obs, why = filled().assemble(10.05)
    assert why == "" and obs.stamp == 10.0 and obs.wrench is None


@pytest.mark.parametrize("mutate, reason", [
    (lambda a: a.set_image("wrist", 9.7, np.zeros((4, 4, 3), np.uint8)), "stale:camera:wrist"),
    (lambda a: a.set_image("wrist", 9.9, np.zeros((4, 4, 3), np.uint8)), "unsynced"),
    (lambda a: a.set_instruction("  "), "no_instruction"),
])
def test_stale_unsynced_or_missing_input_gives_no_observation_and_says_why(mutate, reason):
    a = filled()
    mutate(a)
    obs, why = a.assemble(10.05)
    assert obs is None and why == reason


def test_wrench_variant_needs_a_wrench_sample():
    a = filled(needs_wrench=True)
    assert a.assemble(10.05) == (None, "missing:wrench")
    a.set_wrench(10.0, np.ones(6))
    obs, _ = a.assemble(10.05)
    assert np.allclose(obs.wrench, 1.0)


def test_scheduler_starts_next_inference_past_the_threshold_and_counts_idle_time():
    s = ChunkScheduler(SchedulerConfig(threshold=0.6), action_dt=0.1)
    assert s.should_infer(0.0)
    assert s.accept(0.0, np.zeros((11, 9)), 0.0) == 0.0  # first chunk: no idle time
    assert not s.should_infer(0.5)  # 50 % of 1.0 s executed
    assert s.should_infer(0.61)
    assert s.accept(0.6, np.zeros((11, 9)), 1.8) == pytest.approx(0.8)  # old chunk ended at 1.0


def test_an_arm_held_back_by_a_contact_re_plans_sooner():
    # A plan descending 2 cm over 1 s; the arm stops on a stop 4 mm down (a press that latched).
    s = ChunkScheduler(SchedulerConfig(threshold=0.5, contact_threshold=0.25,
                                       contact_lead=0.0065), action_dt=0.1)
    actions = np.zeros((11, 9))
    actions[:, 2] = np.linspace(0.10, 0.08, 11)
    s.accept(0.0, actions, 0.0)
    following, held = [0.0, 0.0, 0.094], [0.0, 0.0, 0.096]
    assert s.lag(0.3, following) == pytest.approx(0.0, abs=1e-9)
    assert not s.should_infer(0.3, following)  # following the plan: the plain threshold
    assert s.lag(0.3, held) == pytest.approx(0.002)
    assert not s.should_infer(0.3, held)  # 2 mm behind: no contact to speak of
    assert s.lag(0.45, held) == pytest.approx(0.005)
    assert not s.should_infer(0.45, held)
    assert s.should_infer(0.40, [0.0, 0.0, 0.1])  # 8 mm behind, past the contact threshold
    assert not s.should_infer(0.2, [0.0, 0.0, 0.1])  # ... but not before it
    assert not s.should_infer(0.40)  # no measured TCP: the plain threshold
    assert s.should_infer(0.5)
    with pytest.raises(ValueError, match="contact_threshold"):
        SchedulerConfig(contact_threshold=0.0)
    with pytest.raises(ValueError, match="contact_lead"):
        SchedulerConfig(contact_lead=-0.01)


def test_scheduler_times_chunks_as_the_controller_executes_them():
    """The contract's rule (fdvla_msgs.types.chunk_delay): a chunk that finds the arm holding
    starts from it, whatever the latency; one that continues an executing chunk keeps its time."""
    s = ChunkScheduler(SchedulerConfig(threshold=0.5), action_dt=0.1)
    s.accept(0.0, np.zeros((11, 9)), 0.7)  # from rest, 0.7 s of inference: due from 0.7 on
    assert s.stamp == pytest.approx(0.7)
    assert not s.should_infer(1.1) and s.should_infer(1.2)
    s.accept(1.2, np.zeros((11, 9)), 1.5)  # the old chunk (to 1.7) still runs: continues it
    assert s.stamp == pytest.approx(1.2)
    s.accept(1.8, np.zeros((11, 9)), 3.0)  # old chunk ended at 2.2, arm held 0.8 s: skip 0.4
    assert s.stamp == pytest.approx(1.8 + 0.8)
    assert chunk_delay(5.0, 5.3, None) == 0.0  # executing: nothing retimed
    assert chunk_delay(5.0, 5.3, -np.inf) == pytest.approx(0.3)  # from rest: all of it
    assert chunk_delay(5.0, 5.3, 5.1) == pytest.approx(0.2)  # held since 5.1


def test_rtc_guide_commits_the_steps_executing_during_inference_and_fades_after():
    s = ChunkScheduler(SchedulerConfig(guidance="rtc", rtc_decay_steps=2.0), action_dt=0.1)
    old = np.arange(11)[:, None] * np.ones((1, 9))
    s.accept(0.0, old, 0.0)
    s.observe_latency(0.25)
    g = s.guide(0.6, 11)
    # the new grid starts at 0.6 s: old index 6 onwards, linearly interpolated
    np.testing.assert_allclose(g.actions[:5, 0], [6, 7, 8, 9, 10])
    assert np.all(g.weights[:3] == 1.0)  # 0, 0.1, 0.2 s < 0.25 s latency: committed
    assert 0 < g.weights[4] < g.weights[3] < 1.0
    assert np.all(g.weights[5:] == 0.0)  # past the old chunk's end: free


def test_an_old_chunk_the_arm_does_not_follow_guides_nothing():
    """A refused chunk (or one overtaken by a reset) must not anchor the next: measured in real
    time, RTC otherwise inpainted every new chunk from a plan 14 cm away, all refused."""
    s = ChunkScheduler(SchedulerConfig(guidance="rtc", follow_tolerance=0.05), action_dt=0.1)
    old = np.zeros((11, 9))
    old[:, 0] = np.linspace(0.0, 0.1, 11)  # x from 0 to 10 cm over 1 s
    s.accept(0.0, old, 0.0)
    # at 0.6 s the chunk is at x = 6 cm: an arm 1 cm behind it follows it
    assert not s.drop_if_not_followed(0.6, [0.05, 0.0, 0.0])
    assert s.guide(0.6, 11) is not None
    # an arm 14 cm away (the chunk was refused, or the cell was reset) does not
    assert s.drop_if_not_followed(0.6, [0.06, 0.14, 0.0])
    assert s.guide(0.6, 11) is None and s.should_infer(0.6)
    assert not s.drop_if_not_followed(0.7, [0.0, 0.0, 0.0])  # nothing left to drop


def test_blend_starts_on_the_old_chunk_and_ends_on_the_new():
    s = ChunkScheduler(SchedulerConfig(guidance="blend", blend_time=0.3), action_dt=0.1)
    s.accept(0.0, np.zeros((11, 9)), 0.0)
    out = s.join(0.5, np.ones((11, 9)))
    assert out[0, 0] == pytest.approx(0.0) and out[-1, 0] == pytest.approx(1.0)
    assert np.all(np.diff(out[:, 0]) >= 0)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "policy", POSE)


def test_runner_predicts_a_chunk_on_the_observation_time_grid_and_rtc_pins_the_prefix(ckpt):
    policy, info = load_for_inference(ckpt, "cpu")
    runner = PolicyRunner(policy, info)
    obs = dummy_observation(info, stamp=5.0)
    inf = runner.infer(obs)
    assert inf.chunk.stamp == 5.0 and len(inf.chunk) == info.chunk_size
    np.testing.assert_allclose(inf.chunk.times, np.arange(info.chunk_size) * 0.1)
    assert inf.predicted_wrench.shape == (6,) and inf.force_token.ndim == 1
    s = ChunkScheduler(SchedulerConfig(guidance="rtc"), info.action_dt)
    shifted = inf.actions + np.array([0.01, 0, 0, 0, 0, 0, 0, 0, 0])
    s.accept(4.9, shifted, 4.9)
    s.observe_latency(0.2)
    g = s.guide(5.0, info.chunk_size)
    guided = runner.infer(obs, g)
    np.testing.assert_allclose(guided.actions[:2], g.actions[:2], atol=1e-5)
    assert np.abs(guided.actions[-1] - g.actions[-1]).max() > 1e-3  # free part is the model's


def test_corrupt_mismatched_or_pickled_checkpoints_are_refused_with_one_line(ckpt, tmp_path):
    import shutil

    bad = tmp_path / "corrupt"
    shutil.copytree(ckpt, bad)
    (bad / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(PolicyLoadError, match="corrupt|cannot load"):
        load_for_inference(bad, "cpu")
    mism = tmp_path / "mismatch"
    shutil.copytree(ckpt, mism)
    import json

    manifest = json.loads((mism / "config.json").read_text())
    manifest["config"]["state_dim"] = 14  # the normaliser's buffers no longer fit
    (mism / "config.json").write_text(json.dumps(manifest))
    with pytest.raises(PolicyLoadError, match="does not match"):
        load_for_inference(mism, "cpu")
    pickle = tmp_path / "policy.pt"
    pickle.write_bytes(b"x")
    with pytest.raises(PolicyLoadError, match="pickled"):
        load_for_inference(pickle, "cpu")
    with pytest.raises(PolicyLoadError, match="does not exist"):
        load_for_inference(tmp_path / "nope", "cpu")
