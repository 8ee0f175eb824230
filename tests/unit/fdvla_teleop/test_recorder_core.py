"""The recorder core (ROS-free) with the real bag library: refusals, episode facts, the
readable prefix of a bag whose recorder never closed it, and a disk that fills up."""

import subprocess
import sys
import textwrap
import time

import pytest
from rclpy.serialization import serialize_message
from std_msgs.msg import String

from fdvla_teleop.bags import find_bags, read_bag
from fdvla_teleop.recorder import BagWriteError, EpisodeRecorder, RecorderRefusal

TOPIC, TYPE = "/fdvla/instruction", "std_msgs/msg/String"


def msg(i):
    return serialize_message(String(data=f"m{i}"))


def test_refusals_and_facts(tmp_path):
    rec = EpisodeRecorder(tmp_path, {"task": "button", "setup": "sim"})
    rec.add_topic("/chatter", TYPE)
    try:
        with pytest.raises(RecorderRefusal, match="not recording"):
            rec.stop()
        with pytest.raises(RecorderRefusal, match="not recording"):
            rec.discard()
        path = rec.start(instruction="press it")
        with pytest.raises(RecorderRefusal, match="already recording episode 0"):
            rec.start()
        for i in range(20):
            rec.on_message("/chatter", msg(i))
        assert rec.stop(success=True, note="fine") == path
        path2 = rec.start()
        rec.on_message("/chatter", msg(0))
        rec.discard(note="bumped the table")
    finally:
        rec.close()
    bag = read_bag(path)
    assert bag.count("/chatter") == 20 and not bag.recovered
    assert bag.custom_data["task"] == "button" and bag.custom_data["success"] == "true"
    assert bag.custom_data["instruction"] == "press it"
    assert bag.custom_data["operator_note"] == "fine" and bag.custom_data["status"] == "ok"
    assert read_bag(path2).custom_data["status"] == "discarded"
    assert [p.name for p in find_bags([tmp_path])] == ["episode_0000", "episode_0001"]


def test_messages_outside_an_episode_are_not_recorded_but_the_instruction_is(tmp_path):
    rec = EpisodeRecorder(tmp_path)
    rec.add_topic(TOPIC, TYPE, latched=True)
    rec.add_topic("/chatter", TYPE)
    rec.on_message(TOPIC, msg("instr"))
    rec.on_message("/chatter", msg(1))
    path = rec.start()
    rec.on_message("/chatter", msg(2))
    rec.stop()
    rec.close()
    bag = read_bag(path)
    assert bag.count(TOPIC) == 1 and bag.count("/chatter") == 1


def test_unclosed_bag_keeps_its_flushed_prefix(tmp_path):
    rec = EpisodeRecorder(tmp_path, flush_period=0.1)
    rec.add_topic("/chatter", TYPE)
    rec.start()
    for i in range(50):
        rec.on_message("/chatter", msg(i))
    time.sleep(0.5)  # a flush happened; the recorder is never closed (as if killed)
    [bag_dir] = find_bags([tmp_path])
    assert bag_dir.parent.name == ".recording"  # not renamed into place
    bag = read_bag(bag_dir)
    assert bag.recovered and bag.count("/chatter") == 50


def test_disk_full_fails_the_episode_with_a_clear_error(tmp_path):
    # A real write error: the file-size limit (RLIMIT_FSIZE) stands in for a full disk.
    script = textwrap.dedent(f"""
        import resource, signal, sys, time
        from rclpy.serialization import serialize_message
        from std_msgs.msg import String
        from fdvla_teleop.recorder import EpisodeRecorder, BagWriteError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        rec = EpisodeRecorder({str(tmp_path)!r}, flush_period=0.05, min_free_bytes=0)
        rec.add_topic("/big", "std_msgs/msg/String")
        rec.start()
        for i in range(100):
            rec.on_message("/big", serialize_message(String(data="x" * 10_000)))
            time.sleep(0.002)
        time.sleep(0.3)
        print("STATUS", rec.status()["error"])
        try:
            rec.stop()
        except BagWriteError as e:
            print("STOP", e)
        try:
            rec.start()
        except Exception as e:
            print("START", type(e).__name__, e)
        rec.close()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert "disk full" in lines["STATUS"] and "episode 0 failed" in lines["STATUS"]
    assert "disk full" in lines["STOP"]
    assert (tmp_path / "episode_0000.failed").is_dir()
    assert not (tmp_path / "episode_0000").exists()


def test_no_free_space_refuses_to_start(tmp_path):
    rec = EpisodeRecorder(tmp_path, min_free_bytes=2**62)
    try:
        with pytest.raises(BagWriteError, match="disk full"):
            rec.start()
        assert not rec.recording
    finally:
        rec.close()
