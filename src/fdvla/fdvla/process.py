"""One OS process of the node graph, for native ROS 2 launch (`ros2 launch fdvla bringup...`).

The launch file starts `fdvla_process --robot R --process NAME` once per ProcessSpec of
`build_graph`; this runs that spec's nodes exactly as pip mode does.
"""

from __future__ import annotations

import argparse
import sys

from fdvla.environment import apply_defaults, freeze_startup_heap, tune_interpreter


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fdvla_process", description=__doc__)
    ap.add_argument("--robot", default="sim")
    ap.add_argument("--process", required=True, help="name of a ProcessSpec of the graph")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args, ros_args = ap.parse_known_args(argv)
    apply_defaults()
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    from fdvla.config import load_setup
    from fdvla.graph import build_graph
    from fdvla.runtime import ProcessRuntime

    cfg = load_setup(args.robot, args.overrides)
    tune_interpreter(float(cfg.get("gil_switch_interval", 2e-4)))
    graph = {p.name: p for p in build_graph(cfg)}
    if args.process not in graph:
        ap.error(f"no process {args.process!r} in the {args.robot} graph; have {sorted(graph)}")
    rclpy.init(args=[sys.argv[0], *ros_args])
    runtime = ProcessRuntime(graph[args.process]).start()
    freeze_startup_heap()
    executor = MultiThreadedExecutor(num_threads=4)
    for node in runtime.nodes:
        executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        runtime.shutdown()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
