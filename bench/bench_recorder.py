"""Episode recorder throughput: 0 messages lost between publishers and the bag?

    python bench/bench_recorder.py [--duration 300] [--state-rate 500] [--camera-fps 30]
                                   [--width 320 --height 240] [--out DIR]

Runs the recorder as the graph's own `teleop` process (`python -m fdvla.process --process
teleop --set recorder.out=...`, i.e. exactly what `fdvla record` / `record:=DIR` start), and a
publisher process that plays the robot side at its real rates: /joint_states, /tcp_pose,
/wrench at --state-rate, both cameras (Image + CameraInfo) at --camera-fps, and
/controller/target_pose at 50 Hz, counting every message it publishes. One episode is recorded
for --duration seconds; then the bag (read with rosbags) is compared with the sent counts, and
the recorder process's CPU share (from /proc, in % of one core) is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fdvla_drivers.environment import apply_defaults

apply_defaults()
os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))

PUBLISHER = r'''
import json, sys, threading, time
import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped, WrenchStamped
from sensor_msgs.msg import CameraInfo, Image, JointState
from fdvla_msgs import conversions as conv, qos, topics as T
from fdvla_msgs.types import Pose

state_rate, fps, w, h, stop_file, out_file = (float(sys.argv[1]), float(sys.argv[2]),
    int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
rclpy.init()
node = rclpy.create_node("bench_publisher")
pubs = {t: node.create_publisher(m, t, qos.SENSOR_PUB) for t, m in [
    (T.JOINT_STATES, JointState), (T.TCP_POSE, PoseStamped), (T.WRENCH, WrenchStamped),
    (T.CONTROLLER_TARGET_POSE, PoseStamped),
    *[(T.camera_image_topic(c), Image) for c in T.CAMERAS],
    *[(T.camera_info_topic(c), CameraInfo) for c in T.CAMERAS]]}
sent = {t: 0 for t in pubs}
pose = Pose(np.array([0.4, 0.1, 0.3]), np.array([0.0, 1.0, 0.0, 0.0]))
img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
go = threading.Event()

def paced(period, fn):
    def run():
        t = time.monotonic()
        while not go.is_set():
            fn()
            t += period
            d = t - time.monotonic()
            if d > 0:
                time.sleep(d)
    th = threading.Thread(target=run, daemon=True); th.start(); return th

def state():
    now = time.time()
    pubs[T.JOINT_STATES].publish(conv.joint_state_to_msg(now, np.zeros(6), np.zeros(6)))
    pubs[T.TCP_POSE].publish(conv.pose_to_msg(pose, now))
    pubs[T.WRENCH].publish(conv.wrench_to_msg(np.zeros(6), now))
    for t in (T.JOINT_STATES, T.TCP_POSE, T.WRENCH):
        sent[t] += 1

def cams():
    now = time.time()
    for c in T.CAMERAS:
        pubs[T.camera_image_topic(c)].publish(conv.image_to_msg(img, now, T.camera_frame(c)))
        pubs[T.camera_info_topic(c)].publish(CameraInfo(header=conv.header(now, T.camera_frame(c)),
                                                        width=w, height=h))
        sent[T.camera_image_topic(c)] += 1
        sent[T.camera_info_topic(c)] += 1

def target():
    pubs[T.CONTROLLER_TARGET_POSE].publish(conv.pose_to_msg(pose, time.time()))
    sent[T.CONTROLLER_TARGET_POSE] += 1

print("READY", flush=True)
sys.stdin.readline()  # the bench says go once the recorder is recording
threads = [paced(1 / state_rate, state), paced(1 / fps, cams), paced(1 / 50, target)]
import os
while not os.path.exists(stop_file):
    time.sleep(0.05)
go.set()
for th in threads:
    th.join()
time.sleep(0.5)
json.dump(sent, open(out_file, "w"))
node.destroy_node(); rclpy.shutdown()
'''


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=300.0)
    ap.add_argument("--state-rate", type=float, default=500.0)
    ap.add_argument("--camera-fps", type=float, default=30.0)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--out", default=None, help="bag folder (default: a temporary folder)")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from fdvla_teleop.bags import read_bag
    from fdvla_drivers.nodes.session import RosSession

    console = Console()
    work = Path(args.out or tempfile.mkdtemp(prefix="bench_recorder_"))
    bags = work / "bags"
    stop_file, sent_file = work / "stop", work / "sent.json"
    rec = subprocess.Popen([sys.executable, "-m", "fdvla.process", "--robot", "sim",
                            "--process", "teleop", "--set", f"recorder.out={bags}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(args.state_rate),
                            str(args.camera_fps), str(args.width), str(args.height),
                            str(stop_file), str(sent_file)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    session = RosSession("bench_recorder")
    try:
        assert pub.stdout.readline().strip() == "READY"
        from fdvla_msgs import topics as T

        res = session.call_trigger(T.SRV_RECORDER_START, timeout=60)
        assert res.success, res.message
        time.sleep(2.0)  # let every subscription match before the publishers start
        c0, t0 = cpu_seconds(rec.pid), time.monotonic()
        pub.stdin.write("go\n")
        pub.stdin.flush()
        console.print(f"recording {args.duration:.0f} s: state {args.state_rate:.0f} Hz x3, "
                      f"2 cameras {args.width}x{args.height} @ {args.camera_fps:.0f} Hz, "
                      f"targets 50 Hz -> {bags}")
        time.sleep(args.duration)
        stop_file.touch()
        pub.wait(timeout=60)
        time.sleep(2.0)  # the recorder drains its queue
        cpu = (cpu_seconds(rec.pid) - c0) / (time.monotonic() - t0)
        res = session.call_trigger(T.SRV_RECORDER_STOP, timeout=120)
        assert res.success, res.message
        bag_path = res.message.split()[-1]
    finally:
        session.close()
        for p in (rec, pub):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
    sent = json.loads(sent_file.read_text())
    bag = read_bag(bag_path)
    table = Table(title=f"recorder bench ({args.duration:.0f} s)")
    for col in ("topic", "sent", "in bag", "lost", "rate Hz"):
        table.add_column(col)
    lost_total = 0
    for topic, n in sorted(sent.items()):
        got = bag.count(topic)
        lost_total += max(n - got, 0)
        table.add_row(topic, str(n), str(got), str(n - got), f"{n / args.duration:.1f}")
    console.print(table)
    size = sum(f.stat().st_size for f in Path(bag_path).glob("*"))
    console.print(f"lost {lost_total} of {sum(sent.values())} messages; bag "
                  f"{size / 2**20:.0f} MiB ({size / 2**20 / args.duration:.1f} MiB/s); recorder "
                  f"process CPU {100 * cpu:.0f}% of one core")
    return 0 if lost_total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
