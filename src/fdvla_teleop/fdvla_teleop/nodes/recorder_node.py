"""The episode recorder node: /recorder/start|stop|discard and raw CDR subscriptions.

Thin adapter over `fdvla_teleop.recorder.EpisodeRecorder`: every contract topic of the setup is
subscribed with `raw=True` (the serialized bytes as received, never deserialised here) and
handed to the recorder with its receive time. The subscriptions live on an inner node spun by an
executor of their own (rclpy's EventsExecutor where available) in a dedicated thread, so the
~1600 messages/s of a real cell never wait behind services, timers or other nodes' callbacks.
"""

from __future__ import annotations

import json
import threading
import time

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from fdvla_drivers.nodes.common import DiagnosticsMixin
from fdvla_msgs import conversions as conv
from fdvla_msgs import qos, topics
from fdvla_teleop.recorder import BagWriteError, EpisodeRecorder, RecorderRefusal
from fdvla_teleop.topics import is_latched, message_class

#: Deep reliable queues: a reader that falls behind for a moment catches up instead of losing.
RECORD_QOS = QoSProfile(depth=200, history=HistoryPolicy.KEEP_LAST,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)


class RecorderNode(DiagnosticsMixin, Node):
    def __init__(self, out: str, topic_types: list, facts: dict | None = None,
                 flush_period: float = 1.0, node_name: str = "recorder", **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self.recorder = EpisodeRecorder(out, facts, flush_period=flush_period)
        self._task_state: dict | None = None
        self._rx = Node(f"{node_name}_rx", context=self.context)
        for topic, msgtype in topic_types:
            self.recorder.add_topic(topic, msgtype, latched=is_latched(topic))
            profile = qos.LATCHED if is_latched(topic) else RECORD_QOS
            self._rx.create_subscription(message_class(msgtype), topic,
                                         lambda data, t=topic: self.recorder.on_message(t, data),
                                         profile, raw=True)
        self._rx_stop = threading.Event()
        self._rx_executor = _fast_executor(self.context)
        self._rx_executor.add_node(self._rx)
        self._rx_thread = threading.Thread(target=self._spin_rx, name="recorder-rx", daemon=True)
        self._rx_thread.start()
        if any(t == topics.SIM_TASK_STATE for t, _ in topic_types):
            self.create_subscription(String, topics.SIM_TASK_STATE, self._on_task_state,
                                     qos.SIM_TASK_STATE)
        self.create_service(Trigger, topics.SRV_RECORDER_START, self._on_start)
        self.create_service(Trigger, topics.SRV_RECORDER_STOP, self._on_stop)
        self.create_service(Trigger, topics.SRV_RECORDER_DISCARD, self._on_discard)
        self.setup_diagnostics()

    # ------------------------------------------------------------------ sim facts
    def _on_task_state(self, msg: String) -> None:
        try:
            self._task_state = json.loads(msg.data)
        except ValueError:
            pass

    def sim_facts(self) -> dict:
        """The sim checker's verdict and the episode's seed (empty on hardware)."""
        st = self._task_state
        if not st:
            return {}
        return {"success": bool(st.get("success")), "sim_episode": st.get("episode"),
                "seed": st.get("seed"), "task": st.get("task"),
                "failure": st.get("failure", ""), "fault": st.get("fault", "")}

    # ------------------------------------------------------------------ commands (also in-process)
    # (not named start/stop: ProcessRuntime calls a node's start() when the process starts)
    def start_episode(self, **facts):
        st = self.sim_facts()
        if st:
            facts = {"seed": st["seed"], "sim_episode": st["sim_episode"], **facts}
            if self._task_state.get("target"):
                # The task's target where the episode starts: the localiser's label (ViTaL).
                facts.setdefault("target", json.dumps(self._task_state["target"]))
        return self.recorder.start(**facts)

    def stop_episode(self, success: bool | None = None, note: str = "", **facts):
        st = self.sim_facts()
        if st:
            # In simulation the task's checker decides, not the operator.
            checker = st.pop("success")
            facts = {"failure": st["failure"] if not checker else "", "fault": st["fault"],
                     **facts}
            success = checker if success is None else (success and checker)
        return self.recorder.stop(success=True if success is None else success, note=note,
                                  **facts)

    def _on_start(self, request, response):
        return self._answer(response, self.start_episode, "recording into")

    def _on_stop(self, request, response):
        return self._answer(response, self.stop_episode, "saved")

    def _on_discard(self, request, response):
        return self._answer(response, self.recorder.discard, "discarded (kept, marked) in")

    def _answer(self, response, fn, verb: str):
        try:
            path = fn()
        except RecorderRefusal as e:
            response.success, response.message = False, f"refused: {e}"
        except BagWriteError as e:
            response.success, response.message = False, str(e)
            self.get_logger().error(str(e))
        else:
            response.success, response.message = True, f"{verb} {path}"
            self.get_logger().info(response.message)
        return response

    # ------------------------------------------------------------------ diagnostics
    def diagnostic_statuses(self):
        st = self.recorder.status()
        level = "error" if st["error"] else "ok"
        msg = st["error"] or (f"recording episode {st['episode']}" if st["state"] == "recording"
                              else "idle")
        received = sum(st["received"].values())
        written = sum(st["written"].values())
        values = {"state": st["state"], "episode": st["episode"],
                  "episodes_done": st["episodes_done"], "bag_bytes": st["bag_bytes"],
                  "received": received, "written": written,
                  "backlog": received - written if st["state"] == "recording" else 0,
                  "dropped_last_episode": st["dropped"], "last_bag": st["last_bag"]}
        for t in sorted(st["received"]):
            values[f"received{t}"] = st["received"][t]
            values[f"written{t}"] = st["written"].get(t, 0)
        return [conv.diagnostic_status(f"{self.get_name()}: recorder", level, msg, values)]

    def _spin_rx(self) -> None:
        while not self._rx_stop.is_set() and self.context.ok():
            try:
                self._rx_executor.spin_once(timeout_sec=0.1)
            except Exception:
                if self._rx_stop.is_set() or not self.context.ok():
                    return
                raise

    def destroy_node(self):
        self._rx_stop.set()
        self._rx_thread.join(timeout=2.0)
        self.recorder.close()
        try:
            self._rx_executor.shutdown(timeout_sec=1.0)
        except Exception:
            pass
        self._rx.destroy_node()
        return super().destroy_node()


def _fast_executor(context):
    try:
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    except Exception:  # older rclpy
        from rclpy.executors import SingleThreadedExecutor

        return SingleThreadedExecutor(context=context)
