"""`fdvla`: the command-line surface of the stack in pip mode (no ROS installation needed)."""

from __future__ import annotations

import argparse
import sys

from fdvla.config import ROBOT_SETUPS
from fdvla_drivers.environment import apply_defaults
from fdvla_drivers.sim.tasks import TASK_NAMES


def _bringup(args) -> int:
    from fdvla.bringup import run_bringup
    from fdvla.config import ConfigError
    from fdvla_policy_node.inference.loading import PolicyLoadError

    overrides = list(args.overrides)
    if args.policy:
        overrides.append(f"policy.checkpoint={args.policy}")
    if args.view:
        overrides.append("view.enabled=true")
    try:
        return run_bringup(robot=args.robot, task=args.task, duration=args.duration,
                           overrides=overrides, instruction=args.instruction,
                           status_period=args.status_period, episodes=args.episodes,
                           episode_timeout=args.episode_timeout)
    except ConfigError as e:
        print(f"fdvla bringup: {e}", file=sys.stderr)
        return 2
    except PolicyLoadError as e:
        print(f"fdvla bringup: {e}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="fdvla",
        description="FD-VLA robot stack (pip mode): runs the same node graph as "
                    "`ros2 launch fdvla bringup.launch.py` (the same OS processes), over real DDS.")
    sub = ap.add_subparsers(dest="command", required=True)

    b = sub.add_parser("bringup", help="start the node graph of a robot setup",
                       description="Start drivers, cameras and the controller of a robot setup, "
                                   "one OS process per process of the graph, supervised from "
                                   "this one. Runs until Ctrl-C or --duration.")
    b.add_argument("--robot", default="sim",
                   help=f"robot setup: one of {', '.join(ROBOT_SETUPS)} or a YAML path "
                        "(default: sim)")
    b.add_argument("--task", choices=TASK_NAMES, help="simulated task (sim setups only)")
    b.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop after S seconds (default: run until Ctrl-C)")
    b.add_argument("--instruction", help="task instruction to latch on /fdvla/instruction")
    b.add_argument("--policy", metavar="CKPT|default",
                   help="run the FD-VLA policy node on this checkpoint folder ('default': the "
                        "small checkpoint shipped for the simulated button task)")
    b.add_argument("--view", action="store_true",
                   help="serve the topics to Foxglove (ws://localhost:8765, layout in "
                        "config/fdvla.foxglove.json)")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set robot.host=10.0.0.2 "
                        "--set cameras.kinect.fps=15 (repeatable)")
    b.add_argument("--episodes", type=int, default=None, metavar="N",
                   help="simulation with --policy: stop after N episodes (default: episodes "
                        "run in a loop until Ctrl-C or --duration)")
    b.add_argument("--episode-timeout", type=float, default=30.0, metavar="S",
                   help="simulation with --policy: an episode without success ends after S "
                        "seconds and the next placement starts (default 30)")
    b.add_argument("--status-period", type=float, default=5.0, metavar="S",
                   help="print the /diagnostics table every S seconds (0: never)")
    b.set_defaults(func=_bringup)

    from fdvla.data_cli import add_subcommands as _data_subcommands

    _data_subcommands(sub, robot_help=f"robot setup: one of {', '.join(ROBOT_SETUPS)} or a "
                                        "YAML path (default: sim)")
    from fdvla.evaluation.cli import add_eval_parser

    add_eval_parser(sub)
    from fdvla.residual_training import add_parser as add_residual_parser

    add_residual_parser(sub)

    t = sub.add_parser("train", help="train an FD-VLA policy on recorded episodes",
                       add_help=False)
    t.set_defaults(func=None)
    return ap


def main(argv=None) -> int:
    # Before anything imports rclpy or mujoco (the middleware and the GL backend read these once).
    apply_defaults()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        # The trainer owns its options (fdvla train --help lists them).
        from fdvla_model.train import main as train_main

        return train_main(argv[1:]) or 0
    if argv[:1] == ["study"]:
        from fdvla.study.pipeline import main as study_main

        return study_main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
