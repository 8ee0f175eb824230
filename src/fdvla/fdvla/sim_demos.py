"""`fdvla sim-demos`: scripted-expert demonstrations through the real graph and recorder.

The sim cell runs under the supervisor (`GraphRun`: robot, controller, cameras, /sim/reset +
/sim/task_state). This process runs the recorder node (one bag per episode), the expert node
(chunks on /fdvla/action_chunk over DDS, planned from the object poses on /sim/task_state) and
the episode client: each episode is one `SimEpisodeClient.run_episode` (the episode mechanism of
`fdvla eval` and bringup), recorded from its start to success (held `success_hold` s), the end
of the expert's plan, or `max_duration`, and stored with the checker's verdict.
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


#: After the expert's plan is over, the episode ends this long later (the arm settles).
EXPERT_DONE_GRACE = 1.0


def run_sim_demos(task: str, episodes: int, out, seed: int = 0, robot: str = "sim",
                  overrides: list | None = None, max_duration: float = 30.0,
                  success_hold: float = 0.5, progress: bool = True,
                  startup_timeout: float = 120.0) -> DemoSummary:
    from tqdm import tqdm

    from fdvla.graph_run import GraphRun
    from fdvla.supervisor import LogFile, quote_override
    from fdvla_drivers.nodes.episode_client import SimEpisodeClient
    from fdvla_drivers.sim.tasks import make_task
    from fdvla_msgs import topics
    from fdvla_teleop.bags import custom_data
    from fdvla_teleop.nodes.expert_node import ExpertNode
    from fdvla_teleop.nodes.recorder_node import RecorderNode
    from fdvla_teleop.topics import contract_topics

    out = Path(out)
    instruction = make_task(task).instruction
    sets = [f"robot.task={task}", f"robot.seed={int(seed)}",
            quote_override("instruction", instruction), *(overrides or [])]
    summary = DemoSummary()
    t0 = time.monotonic()
    log = LogFile(out / "logs" / "graph.log")
    # The recorder and the expert run here; a teleop process the setup asks for is not started.
    run = GraphRun(robot, sets, log, own=("teleop",))
    if not run.is_sim:
        log.close()
        raise ValueError(f"sim-demos needs a simulated setup; {robot!r} is "
                         f"{run.cfg['robot'].get('backend')!r}")
    bar = None
    try:
        run.start()
        ctx = {"context": run.context}
        recorder = run.add_node(RecorderNode(
            str(out), contract_topics(run.cfg),
            {"setup": run.cfg["name"], "task": task, "instruction": instruction,
             "operator": "scripted expert"}, **ctx))
        expert = run.add_node(ExpertNode(**ctx))
        client = run.add_node(SimEpisodeClient("fdvla_sim_demos", **ctx))
        run.session.wait_for(lambda: "episode" in client.task_state()
                             and client.controller.get("armed") == "True", startup_timeout,
                             "the sim cell to come up (task state, armed controller)",
                             check=run.check)
        n_sims = run.session.node.count_publishers(topics.SIM_TASK_STATE)
        if n_sims != 1:
            import os

            raise RuntimeError(f"{n_sims} simulations publish {topics.SIM_TASK_STATE} on "
                               f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', 0)}; stop the "
                               "others or pick another ROS_DOMAIN_ID")
        if client.task_state().get("physics", "nominal") != "nominal":
            # The expert node plans from /sim/task_state and the TCP alone; the "force"
            # physics needs the wrench-reading scripts, which only the lock-step rollout runs.
            raise ValueError("sim-demos runs the nominal task physics only; make demos of the "
                             "\"force\" physics in lock-step (fdvla_drivers.control.rollout with "
                             "make_expert)")
        summary.startup_time = time.monotonic() - t0
        bar = tqdm(total=episodes, desc=f"sim-demos {task}", unit="ep", disable=not progress)
        for k in range(episodes):
            done_since = {"t": None}

            def started(info: dict) -> None:
                recorder.start_episode(seed=int(info["seed"]), sim_episode=int(info["episode"]))
                expert.begin(int(info["episode"]))

            def done(_state: dict) -> bool:
                run.check()
                if not expert.done():
                    done_since["t"] = None
                    return False
                done_since["t"] = done_since["t"] or time.monotonic()
                return time.monotonic() - done_since["t"] >= EXPERT_DONE_GRACE

            t_start = time.monotonic()
            # The first episode is the one the cell came up with (seed `seed`); episode k
            # follows a reset (seed `seed + k`, the sim episode contract).
            outcome = client.run_episode(max_duration, success_hold, done=done,
                                         on_started=started, reset=k > 0)
            expert.end()
            path = recorder.stop_episode(note=f"scripted expert, episode {outcome.episode}")
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
        run.stop()
        log.close()
        summary.wall_time = time.monotonic() - t0
    return summary

