"""One OS process of the node graph, for native ROS 2 launch (`ros2 launch fdvla bringup...`).

The launch file starts `fdvla_process --robot R --process NAME` once per ProcessSpec of
`build_graph`, and so does `fdvla bringup`'s supervisor (as `python -m fdvla.process`); this runs
that spec's nodes. SIGINT or SIGTERM stops it cleanly (the controller holds the robot first).
The process that owns the robot asks for real-time scheduling where permitted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from fdvla_drivers.environment import (apply_defaults, freeze_startup_heap, request_realtime,
                               tune_interpreter)


EXECUTORS = ("events", "single", "multi")


def make_executor(kind: str, context=None):
    """The rclpy executor of one process.

    `events` is rclpy's C++ EventsExecutor: a timer or message costs a few microseconds of
    GIL time instead of the ~0.5 ms the Python executors spend rebuilding their wait set, which
    the 500 Hz servo thread of the robot process otherwise waits out (measured: 6.6 % CPU for
    the MultiThreadedExecutor against 1.0 % for the EventsExecutor, same timers). It runs every
    callback on one thread, so it is for processes whose callbacks never wait on each other.
    """
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        return EventsExecutor(context=context)
    if kind == "single":
        from rclpy.executors import SingleThreadedExecutor

        return SingleThreadedExecutor(context=context)
    if kind == "multi":
        from rclpy.executors import MultiThreadedExecutor

        return MultiThreadedExecutor(num_threads=4, context=context)
    raise ValueError(f"executor {kind!r}: choose one of {EXECUTORS}")


def process_executor(cfg: dict, spec) -> str:
    """The setup's `executors` section: `robot_driver` for the process that owns the robot,
    `view` for the Foxglove live view, `policy` for the policy node, `other` for the rest
    (defaults: events, events, events, multi).

    The live view forwards every message of the 500 Hz robot topics; under a Python executor it
    fell behind on 2 cores and lost most of them (its callbacks only copy bytes out, so the
    EventsExecutor's single thread suits it)."""
    section = cfg.get("executors") or {}
    if spec.robot is not None:
        return section.get("robot_driver", "events")
    if any(n.kind == "foxglove_bridge" for n in spec.nodes):
        return section.get("view", "events")
    if any(n.kind == "policy" for n in spec.nodes):
        # The interpreter belongs to the inference thread: camera callbacks that only store a
        # frame cost microseconds there, not a Python wait set rebuilt per callback.
        return section.get("policy", "events")
    return section.get("other", "multi")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fdvla_process", description=__doc__)
    ap.add_argument("--robot", default="sim")
    ap.add_argument("--process", required=True, help="name of a ProcessSpec of the graph")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args, ros_args = ap.parse_known_args(argv)
    apply_defaults()
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from fdvla.config import ConfigError, load_setup
    from fdvla.graph import build_graph
    from fdvla.runtime import ProcessRuntime

    cfg = load_setup(args.robot, args.overrides)
    graph = {p.name: p for p in build_graph(cfg)}
    if args.process not in graph:
        ap.error(f"no process {args.process!r} in the {args.robot} graph; have {sorted(graph)}")
    spec = graph[args.process]
    if spec.robot is not None:
        # Only where the 500 Hz servo thread lives: elsewhere (the policy's inference thread) a
        # short switch interval just hands the interpreter back and forth between threads.
        tune_interpreter(float(cfg.get("gil_switch_interval", 2e-4)))
        # mlockall now; the servo thread takes its SCHED_FIFO priority itself when it starts.
        request_realtime(args.process, log=lambda m: print(m, file=sys.stderr, flush=True))
    # Our own SIGINT/SIGTERM handling: the nodes (the controller first) stop before rclpy
    # does, so no thread publishes on a context that is already gone.
    stop = threading.Event()
    running = threading.Event()

    def on_signal(*_):
        stop.set()
        if not running.is_set():  # still starting (e.g. waiting for the sim cell): give up
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    rclpy.init(args=[sys.argv[0], *ros_args],
               signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    runtime = executor = None
    try:
        runtime = ProcessRuntime(spec).start()
        freeze_startup_heap()
        executor = make_executor(process_executor(cfg, spec))
        for node in runtime.nodes:
            executor.add_node(node)
        running.set()
        print(f"{args.process}: up ({', '.join(n.get_name() for n in runtime.nodes)})",
              file=sys.stderr, flush=True)
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ConfigError as e:  # a refusal (e.g. a second controller on the domain): one line
        print(f"{args.process}: {e}", file=sys.stderr, flush=True)
        return 2
    finally:
        if runtime is not None:
            runtime.shutdown()
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
