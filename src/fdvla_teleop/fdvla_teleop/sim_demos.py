"""`fdvla sim-demos`: scripted-expert demonstrations through the real graph and recorder.

The sim cell runs as a child process (the graph's `sim_cell` process: robot, controller,
cameras, /sim/reset + /sim/task_state). This process runs the recorder node (one bag per
episode) and the expert node (chunks on /fdvla/action_chunk over DDS, planned from the object
poses on /sim/task_state), and steps through the episodes: reset, start recording, let the
expert act until the task's checker reports success (held `success_hold` s) or the expert's
plan is over or `max_duration`, stop recording with the checker's verdict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DemoSummary:
    episodes: int = 0
    successes: int = 0
    bags: list = field(default_factory=list)
    durations: list = field(default_factory=list)
    wall_time: float = 0.0
    startup_time: float = 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


def run_sim_demos(task: str, episodes: int, out, seed: int = 0, robot: str = "sim",
                  overrides: list | None = None, max_duration: float = 30.0,
                  success_hold: float = 0.5, progress: bool = True,
                  startup_timeout: float = 120.0) -> DemoSummary:
    from tqdm import tqdm

    from fdvla.config import load_setup
    from fdvla.graph import build_graph
    from fdvla_drivers.sim.tasks import make_task
    from fdvla_msgs import topics
    from fdvla_teleop.bags import custom_data
    from fdvla_teleop.children import GraphChildren
    from fdvla_teleop.nodes.expert_node import ExpertNode
    from fdvla_teleop.nodes.recorder_node import RecorderNode
    from fdvla_teleop.session import RosSession, parse_json
    from fdvla_teleop.topics import contract_topics

    out = Path(out)
    instruction = make_task(task).instruction
    sets = [f"robot.task={task}", f"robot.seed={int(seed)}", f"instruction={instruction}",
            *(overrides or [])]
    cfg = load_setup(robot, sets)
    if (cfg.get("robot") or {}).get("backend") != "sim":
        raise ValueError(f"sim-demos needs a simulated setup; {robot!r} is "
                         f"{cfg['robot'].get('backend')!r}")
    names = [p.name for p in build_graph(cfg) if p.name != "teleop"]
    summary = DemoSummary()
    t0 = time.monotonic()
    children = GraphChildren(robot, names, sets, log_dir=out / "logs").start()
    session = None
    bar = None
    try:
        session = RosSession("sim_demos")
        ctx = {"context": session.context}
        recorder = session.add(RecorderNode(
            str(out), contract_topics(cfg),
            {"setup": cfg["name"], "task": task, "instruction": instruction,
             "operator": "scripted expert"}, **ctx))
        expert = session.add(ExpertNode(**ctx))
        armed = {"n": 0}
        from geometry_msgs.msg import PoseStamped
        from fdvla_msgs import qos

        session.node.create_subscription(
            PoseStamped, topics.CONTROLLER_TARGET_POSE,
            lambda m: armed.__setitem__("n", armed["n"] + 1), qos.SENSOR_SUB)
        session.wait_for(lambda: expert.task_state is not None and armed["n"] > 5,
                         startup_timeout, "the sim cell to come up (task state, armed "
                         "controller)", check=children.check)
        n_sims = session.node.count_publishers(topics.SIM_TASK_STATE)
        if n_sims != 1:
            import os

            raise RuntimeError(f"{n_sims} simulations publish {topics.SIM_TASK_STATE} on "
                               f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', 0)}; stop the "
                               "others or pick another ROS_DOMAIN_ID")
        summary.startup_time = time.monotonic() - t0
        bar = tqdm(total=episodes, desc=f"sim-demos {task}", unit="ep", disable=not progress)
        for i in range(episodes):
            if i > 0:
                res = session.call_trigger(topics.SIM_RESET)
                if not res.success:
                    raise RuntimeError(f"/sim/reset failed: {res.message}")
                ep = parse_json(res.message)["episode"]
            else:
                ep = expert.task_state["episode"]
            session.wait_for(lambda: expert.task_state["episode"] == ep, 10,
                             f"task state of episode {ep}", check=children.check)
            st = expert.task_state
            recorder.start_episode(seed=st["seed"], sim_episode=ep)
            expert.begin(ep)
            t_start = time.monotonic()
            success_since = None
            done_since = None
            while True:
                children.check()
                time.sleep(0.02)
                now = time.monotonic()
                st = expert.task_state
                if st.get("success"):
                    success_since = success_since or now
                    if now - success_since >= success_hold:
                        break
                else:
                    success_since = None
                if expert.done():
                    done_since = done_since or now
                    if now - done_since >= 1.0:
                        break
                if now - t_start > max_duration:
                    break
            expert.end()
            path = recorder.stop_episode(note=f"scripted expert, episode {ep}")
            facts = custom_data(path)  # the verdict stored with the episode
            ok = facts.get("success") == "true"
            summary.episodes += 1
            summary.successes += int(ok)
            summary.bags.append(path)
            summary.durations.append(time.monotonic() - t_start)
            bar.update(1)
            bar.set_postfix(success=f"{summary.success_rate:.0%}",
                            last="ok" if ok else (facts.get("failure") or "failed"))
    finally:
        if bar is not None:
            bar.close()
        if session is not None:
            session.close()
        children.stop()
        summary.wall_time = time.monotonic() - t0
    return summary
