"""`fdvla record`: teleoperate and record demonstrations, one bag per episode.

The setup's robot-side processes run as children under the supervisor (`GraphRun`), the graph's
`teleop` process (SpaceMouse, teleop, recorder nodes) runs here, next to a terminal status line
and the keyboard: space start/stop (stop keeps the episode, marked success), f stop marked
failed, x discard, i/k j/l u/o jog the tool along x/y/z (through the same teleop mapping as the
SpaceMouse), m cycle the teleop mode (full / translation / rotation), q quit.
"""

from __future__ import annotations

import os
from pathlib import Path
import select
import sys
import termios
import time
import tty

import numpy as np

KEY_AXES = {"i": (0, 1), "k": (0, -1), "j": (1, 1), "l": (1, -1), "u": (2, 1), "o": (2, -1)}
KEY_DEFLECTION = 0.6  # fraction of full SpaceMouse deflection a jog key gives
KEY_HOLD = 0.15  # s a key press keeps the axis deflected (terminal auto-repeat refreshes it)


class Keyboard:
    """Single keys from a terminal in cbreak mode (or lines from a pipe, for scripting)."""

    def __init__(self):
        self.tty = sys.stdin.isatty()
        self._old = None

    def __enter__(self):
        if self.tty:
            self._old = termios.tcgetattr(sys.stdin)
            tty.setcbreak(sys.stdin.fileno())
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, self._old)

    def keys(self, timeout: float) -> str:
        r, _, _ = select.select([sys.stdin], [], [], timeout)
        if not r:
            return ""
        data = os.read(sys.stdin.fileno(), 64).decode(errors="ignore")
        return data if data else "q"  # end of a piped script quits


def run_record(robot: str, task: str | None, instruction: str, out: str, device: str | None,
               overrides: list, operator: str = "", duration: float | None = None) -> int:
    from geometry_msgs.msg import Twist, WrenchStamped

    from fdvla.graph_run import GraphRun
    from fdvla.runtime import ProcessRuntime
    from fdvla.supervisor import LogFile, quote_override
    from fdvla_msgs import qos, topics
    from fdvla_teleop.recorder import BagWriteError, RecorderRefusal
    from fdvla_teleop.teleop import MODES

    sets = list(overrides)
    if task:
        sets.append(f"robot.task={task}")
    sets += [quote_override("instruction", instruction), "teleop.enabled=true",
             quote_override("recorder.out", str(out))]
    if device:
        sets.append(f"teleop.device={device}")
    if operator:
        sets.append(quote_override("recorder.facts.operator", operator))
    log = LogFile(Path(out) / "logs" / "graph.log")
    run = GraphRun(robot, sets, log, own=("teleop",)).start()
    cfg = run.cfg
    runtime = None
    say = lambda text: print("\r\033[K" + text, flush=True)  # noqa: E731
    try:
        runtime = ProcessRuntime(run.own[0], run.context).start()
        for n in runtime.nodes:
            run.add_node(n)
        rec_node = next(n for n in runtime.nodes if hasattr(n, "recorder"))
        sm = next((n for n in runtime.nodes if hasattr(n, "device")), None)
        teleop = next((n for n in runtime.nodes if hasattr(n, "mapper")), None)
        if sm is not None and sm.error:
            say(f"SpaceMouse: {sm.error} -- keyboard only")
        force = {"n": float("nan")}
        run.session.node.create_subscription(
            WrenchStamped, topics.WRENCH,
            lambda m: force.__setitem__("n", float(np.linalg.norm(
                [m.wrench.force.x, m.wrench.force.y, m.wrench.force.z]))), qos.SENSOR_SUB)
        jog_pub = run.session.node.create_publisher(Twist, topics.SPACENAV_TWIST, qos.SENSOR_PUB)
        jog = {"axes": np.zeros(6), "until": 0.0}
        say(f"fdvla record: {cfg['name']} -> {out}. space start/stop, f failed, x discard, "
            "i/k j/l u/o jog, m mode, q quit")
        t_end = None if duration is None else time.monotonic() + duration
        with Keyboard() as kb:
            while t_end is None or time.monotonic() < t_end:
                run.check()
                for key in kb.keys(0.05):
                    try:
                        if key == "q":
                            raise KeyboardInterrupt
                        if key == " ":
                            if rec_node.recorder.recording:
                                say(f"saved {rec_node.stop_episode()}")
                            else:
                                say(f"recording into {rec_node.start_episode()}")
                        elif key == "f":
                            say(f"saved as failed {rec_node.stop_episode(success=False)}")
                        elif key == "m" and teleop is not None:
                            teleop.mode = MODES[(MODES.index(teleop.mode) + 1) % len(MODES)]
                            say(f"teleop mode: {teleop.mode}")
                        elif key == "x":
                            say(f"discarded (kept, marked) {rec_node.recorder.discard()}")
                        elif key in KEY_AXES:
                            axis, sign = KEY_AXES[key]
                            jog["axes"] = np.zeros(6)
                            jog["axes"][axis] = sign * KEY_DEFLECTION
                            jog["until"] = time.monotonic() + KEY_HOLD
                    except (RecorderRefusal, BagWriteError) as e:
                        say(str(e))
                if time.monotonic() < jog["until"]:
                    a = jog["axes"]
                    msg = Twist()
                    msg.linear.x, msg.linear.y, msg.linear.z = map(float, a[:3])
                    jog_pub.publish(msg)
                st = rec_node.recorder.status()
                state = (f"\033[1;31m● REC\033[0m episode {st['episode']} "
                         f"{st['duration']:5.1f} s {st['bag_bytes'] / 2**20:6.1f} MiB"
                         if st["state"] == "recording" else "idle")
                f = force["n"]
                sys.stdout.write(f"\r\033[K{state} | saved {st['episodes_done']} | |F| "
                                 f"{'-' if f != f else f'{f:5.1f} N'}"
                                 + (f" | {st['error']}" if st["error"] else ""))
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        print()
        run.stop()  # the robot holds first, then every node goes: an open episode is
        if runtime is not None:  # finished as not successful
            runtime.shutdown()
        log.close()
    return 0
