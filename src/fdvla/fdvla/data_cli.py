"""The demonstration and dataset subcommands of `fdvla`: record, sim-demos, dataset
build|export-lerobot, plot. `fdvla.cli` adds them with `add_subcommands`; user errors print one
line, exit code 2."""

from __future__ import annotations

import sys

from fdvla_drivers.sim.tasks import TASK_NAMES


def _fail(cmd: str, e: Exception) -> int:
    print(f"fdvla {cmd}: {e}", file=sys.stderr)
    return 2


def _user_errors():
    from fdvla.config import ConfigError
    from fdvla_teleop.bags import BagError
    from fdvla_teleop.recorder import BagWriteError
    from fdvla_teleop.spacemouse import SpaceMouseError

    errs = (ConfigError, BagError, BagWriteError, SpaceMouseError, FileExistsError,
            FileNotFoundError, ValueError, TimeoutError)
    try:
        from fdvla_model.dataset import DatasetError

        errs += (DatasetError,)
    except Exception:
        pass
    return errs


def _record(args) -> int:
    from fdvla.record import run_record

    try:
        return run_record(robot=args.robot, task=args.task, instruction=args.instruction,
                          out=args.out, device=args.device, overrides=args.overrides,
                          operator=args.operator, duration=args.duration)
    except (*_user_errors(), RuntimeError) as e:
        return _fail("record", e)


def _sim_demos(args) -> int:
    from fdvla.sim_demos import run_sim_demos

    try:
        s = run_sim_demos(args.task, args.episodes, args.out, seed=args.seed, robot=args.robot,
                          overrides=args.overrides, max_duration=args.max_duration,
                          progress=not args.no_progress)
    except (*_user_errors(), RuntimeError) as e:
        return _fail("sim-demos", e)
    per = sum(s.durations) / max(len(s.durations), 1)
    print(f"{s.episodes} episodes, {s.successes} successes ({s.success_rate:.0%}); "
          f"{per:.1f} s per episode, {s.wall_time:.0f} s in all (start-up "
          f"{s.startup_time:.0f} s); bags in {args.out}")
    return 0


def _dataset_build(args) -> int:
    from fdvla_teleop.dataset_build import build_dataset, summary_table

    try:
        reports = build_dataset(args.bags, args.out, fps=args.fps,
                                include_failed=args.include_failed,
                                include_unfinished=args.include_unfinished,
                                progress=not args.no_progress)
    except _user_errors() as e:
        return _fail("dataset build", e)
    summary_table(reports)
    return 0 if any(r.status == "written" for r in reports) else 1


def _dataset_export(args) -> int:
    from fdvla_teleop.lerobot_export import export_lerobot

    try:
        out = export_lerobot(args.dataset, args.out, robot_type=args.robot_type,
                             progress=not args.no_progress)
    except _user_errors() as e:
        return _fail("dataset export-lerobot", e)
    print(f"LeRobotDataset v3.0 in {out}")
    return 0


def _dataset_target_frame(args) -> int:
    from fdvla_model.dataset.target_frame import frame_noise_from_args, write_target_frame_dataset

    try:
        noise = frame_noise_from_args(args)
        report = write_target_frame_dataset(args.dataset, args.out, args.yaw_symmetry,
                                            progress=not args.no_progress,
                                            cameras=args.cameras, noise=noise)
    except _user_errors() as e:
        return _fail("dataset target-frame", e)
    print(f"{report.written} episodes in the target frame (yaw symmetry {report.yaw_symmetry}) "
          f"in {args.out}"
          + (f"; {len(report.skipped)} without a target label skipped" if report.skipped else ""))
    return 0


def _dataset_merge(args) -> int:
    from fdvla_model.dataset.merge import merge_datasets

    try:
        report = merge_datasets(args.datasets, args.out, progress=not args.no_progress)
    except _user_errors() as e:
        return _fail("dataset merge", e)
    parts = ", ".join(f"{n} from {src}" for src, n in report.per_source.items())
    print(f"{report.episodes} episodes in {args.out} ({parts})")
    return 0


def _plot(args) -> int:
    from fdvla_teleop.plot import plot_episode

    try:
        out = plot_episode(args.path, args.out)
    except _user_errors() as e:
        return _fail("plot", e)
    print(f"wrote {out}")
    return 0


def add_subcommands(sub, robot_help: str) -> None:
    r = sub.add_parser("record", help="teleoperate (SpaceMouse or keyboard) and record one "
                                      "rosbag2 (MCAP) bag per episode",
                       description="Brings up the setup's graph plus SpaceMouse, teleop and "
                                   "recorder. Keys: space start/stop (stop = keep, success), "
                                   "f stop as failed, x discard, i/k j/l u/o move the tool "
                                   "(x/y/z), m teleop mode, q quit.")
    r.add_argument("--robot", default="sim", help=robot_help)
    r.add_argument("--task", choices=TASK_NAMES, help="simulated task (sim setups only)")
    r.add_argument("--instruction", required=True, help="what the demonstrations do")
    r.add_argument("--out", required=True, help="folder for the episode bags")
    r.add_argument("--device", default=None, choices=("hid", "spacenavd", "none"),
                   help="SpaceMouse backend (default: the setup's teleop.device)")
    r.add_argument("--operator", default="", help="stored in every bag's custom_data")
    r.add_argument("--duration", type=float, default=None, metavar="S",
                   help="quit after S seconds (default: until q / Ctrl-C)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    r.set_defaults(func=_record)

    d = sub.add_parser("sim-demos", help="scripted-expert demonstrations through the graph "
                                         "and the recorder (one bag per episode)")
    d.add_argument("--task", required=True, choices=TASK_NAMES)
    d.add_argument("--episodes", type=int, required=True)
    d.add_argument("--out", required=True, help="folder for the episode bags")
    d.add_argument("--seed", type=int, default=0, help="episode k uses seed S + k")
    d.add_argument("--robot", default="sim", help="sim or sim_sensorless (or a sim YAML)")
    d.add_argument("--max-duration", type=float, default=30.0, metavar="S",
                   help="give up on an episode after S seconds")
    d.add_argument("--no-progress", action="store_true")
    d.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for the sim cell, e.g. cameras.kinect.fps=15")
    d.set_defaults(func=_sim_demos)

    ds = sub.add_parser("dataset", help="bags -> training dataset; LeRobot export")
    dsub = ds.add_subparsers(dest="dataset_command", required=True)
    b = dsub.add_parser("build", help="bags -> the episode dataset `fdvla train` reads "
                                      "(docs/dataset.md)")
    b.add_argument("bags", nargs="+", help="bag folders, or folders of bags")
    b.add_argument("--out", required=True, help="dataset folder (created, or appended to)")
    b.add_argument("--fps", type=float, default=10.0, help="rows per second (default 10)")
    b.add_argument("--include-failed", action="store_true",
                   help="also failed and discarded episodes")
    b.add_argument("--include-unfinished", action="store_true",
                   help="also the readable part of bags a killed recorder left")
    b.add_argument("--no-progress", action="store_true")
    b.set_defaults(func=_dataset_build)
    e = dsub.add_parser("export-lerobot", help="episode dataset -> LeRobotDataset v3.0")
    e.add_argument("dataset")
    e.add_argument("--out", required=True)
    e.add_argument("--robot-type", default="ur5e")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=_dataset_export)

    t = dsub.add_parser("target-frame", help="episode dataset -> the same episodes relative to "
                                             "their task's target (a ViTaL local policy's data)")
    t.add_argument("dataset")
    t.add_argument("--out", required=True)
    t.add_argument("--yaw-symmetry", type=int, default=None, metavar="K",
                   help="the target's yaw counts modulo 2*pi/K (0: not at all); default: "
                        "what the episodes' target labels record")
    t.add_argument("--cameras", nargs="+", default=None, metavar="NAME",
                   help="the cameras kept (default: all; a ViTaL local policy: wrist)")
    from fdvla_model.dataset.target_frame import add_frame_noise_args

    add_frame_noise_args(t)
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_dataset_target_frame)

    m = dsub.add_parser("merge", help="several episode datasets of the same description -> one "
                                      "(sessions, machines, parallel generators)")
    m.add_argument("datasets", nargs="+", metavar="DATASET")
    m.add_argument("--out", required=True, help="new dataset folder (must be empty or absent)")
    m.add_argument("--no-progress", action="store_true")
    m.set_defaults(func=_dataset_merge)

    p = sub.add_parser("plot", help="one figure of a demonstration (bag or dataset episode)")
    p.add_argument("path", metavar="BAG_OR_EPISODE")
    p.add_argument("--out", required=True, metavar="PNG")
    p.set_defaults(func=_plot)
