"""Policy latency: inference alone, and end to end from image sampling to chunk publish.

1. Inference (ROS-free PolicyRunner on one observation): p50/p99 of a whole chunk, and the Force
   Distillation Module's share of it (timed with forward hooks).
2. In the running graph, as `fdvla bringup --policy` runs it (sim cell, both cameras, policy:
   one OS process each), episodes in a loop for --seconds: the node's inference p50/p99 against
   the isolated figure (measured before and after, the ratio in one run), the observation's age
   when its chunk is published, chunks/s, idle time between chunks.
3. --compare-guidance N: lock-step episodes (same seeds) with guidance none / blend / rtc: p95 jerk
   of the servo target within 50 ms of a chunk switch vs elsewhere, success rate.
4. --full: the full-size preset (SmolVLM2-500M shapes, random weights, 2 cameras at 512 px,
   chunk 50, 10 steps) on CUDA in bf16, eager and torch.compile'd (skipped without CUDA).

    python bench/bench_policy.py [--policy default] [--seconds 20] [--full] [--guidance rtc]
"""

from __future__ import annotations

import argparse
import time

from fdvla_drivers.environment import apply_defaults  # noqa: E402

apply_defaults()  # before rclpy or mujoco load

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console(emoji=False)


def pct(a, q):
    return float(np.percentile(a, q)) if len(a) else float("nan")


def time_runner(runner, obs, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """(chunk latencies, FDM time per chunk) in seconds."""
    import torch

    fdm = getattr(runner.policy.model, "force_distillation", None)
    spent = []
    handles = []
    if fdm is not None:
        t0 = {}

        def pre(_m, _i):
            if runner.device.type == "cuda":
                torch.cuda.synchronize()
            t0["t"] = time.perf_counter()

        def post(_m, _i, _o):
            if runner.device.type == "cuda":
                torch.cuda.synchronize()
            spent.append(time.perf_counter() - t0["t"])

        handles = [fdm.register_forward_pre_hook(pre), fdm.register_forward_hook(post)]
    lat = []
    try:
        for _ in range(iterations):
            lat.append(runner.infer(obs).latency)
    finally:
        for h in handles:
            h.remove()
    return np.array(lat), np.array(spent[-iterations:]) if spent else np.zeros(0)


def bench_inference(policy_spec: str, iterations: int) -> dict:
    import torch

    from fdvla_policy_node.inference import PolicyRunner, load_for_inference
    from fdvla_policy_node.inference.runner import dummy_observation

    if torch.get_num_threads() > 1 and not torch.cuda.is_available():
        torch.set_num_threads(1)  # as the node runs on CPU (policy.torch_threads)
    policy, info = load_for_inference(policy_spec)
    runner = PolicyRunner(policy, info)
    obs = dummy_observation(info)
    runner.warmup(obs)
    lat, fdm = time_runner(runner, obs, iterations)
    return {"device": str(runner.device), "variant": info.variant, "chunk": info.chunk_size,
            "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
            "fdm_share": float(fdm.mean() / lat.mean()) if len(fdm) else float("nan")}


def bench_end_to_end(policy_spec: str, seconds: float, guidance: str, robot: str = "sim",
                     overrides: tuple = ()) -> dict:
    """The graph as `fdvla bringup --policy` runs it (one OS process each: sim cell, both cameras,
    policy), episodes in a loop for `seconds`; the policy node's own figures from /diagnostics."""
    from fdvla.graph_run import GraphRun
    from fdvla.supervisor import quote_override
    from fdvla_drivers.nodes.episode_client import SimEpisodeClient

    run = GraphRun(robot, [f"policy.checkpoint={policy_spec}", f"policy.guidance={guidance}",
                           quote_override("instruction", "press the emergency button"),
                           *overrides],
                   emit=lambda name, line: None)
    episodes = []
    try:
        run.start()
        client = run.add_node(SimEpisodeClient("bench_policy", context=run.context))
        t_end = time.monotonic() + 300
        while not client.policy_ready and time.monotonic() < t_end:
            time.sleep(0.1)
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            episodes.append(client.run_episode(min(20.0, max(1.0, t_end - time.monotonic())), 1.0))
        time.sleep(1.5)  # one more report of the node's figures
        d = dict(client.policy)
    finally:
        run.stop()
    f = lambda k: float(d.get(k, "nan"))  # noqa: E731
    return {"chunks": int(f("chunks")), "age_p50_ms": f("obs_age_ms_p50"),
            "age_p99_ms": f("obs_age_ms_p99"), "inference_p50_ms": f("inference_ms_p50"),
            "inference_p99_ms": f("inference_ms_p99"),
            "inference_share": f("inference_ms_p50") / f("obs_age_ms_p50"),
            "chunks_per_s": f("chunks_per_s"), "idle_ms_mean": f("idle_ms_mean"),
            "episodes": len(episodes), "successes": sum(o.success for o in episodes),
            "skipped": {k: v for k, v in d.items() if k.startswith("skipped.")}}


def bench_guidance(policy_spec: str, episodes: int, timeout: float, smooth: int) -> list:
    from fdvla.evaluation.lockstep import evaluate_lockstep
    from fdvla_policy_node.inference import PolicyRunner, SchedulerConfig, load_for_inference

    policy, info = load_for_inference(policy_spec)
    rows = []
    for mode in ("none", "blend", "rtc"):
        runner = PolicyRunner(policy, info, seed=0)
        recs = evaluate_lockstep(runner, "button", episodes, seed=0, timeout=timeout, latency=0.1,
                                 scheduler_config=SchedulerConfig(guidance=mode, smooth_degree=smooth))
        bj = np.array([r.boundary_jerk for r in recs], float)
        j = np.array([r.jerk for r in recs], float)
        rows.append({"mode": mode, "boundary_jerk": float(np.nanmean(bj)), "jerk": float(np.nanmean(j)),
                     "success": sum(r.success for r in recs) / len(recs),
                     "rejected": sum(sum(r.chunks_rejected.values()) for r in recs),
                     "accepted": sum(r.chunks for r in recs)})
    return rows


def bench_full_gpu(iterations: int) -> list:
    import torch

    if not torch.cuda.is_available():
        console.print("[yellow]--full: no CUDA device here; skipped[/]")
        return []
    from fdvla_policy_node.inference import PolicyRunner
    from fdvla_policy_node.inference.loading import PolicyInfo
    from fdvla_policy_node.inference.runner import dummy_observation
    from fdvla_model.model import FDVLAConfig, FDVLAPolicy

    cfg = FDVLAConfig.full(state_dim=15, action_dim=9, camera_names=["kinect", "wrist"],
                           tokenizer_source="builtin", tokenizer_max_length=48)
    policy = FDVLAPolicy(cfg).to("cuda").eval()
    info = PolicyInfo(path="(random full-size)", variant=cfg.variant, camera_names=cfg.camera_names,
                      chunk_size=cfg.chunk_size, action_dt=0.1, needs_wrench=False,
                      camera_sizes={"kinect": (720, 1280), "wrist": (480, 640)})
    obs = dummy_observation(info)
    rows = []
    for mode in ("eager", "compile"):
        runner = PolicyRunner(policy, info)
        if mode == "compile":
            policy.model.velocity = torch.compile(policy.model.velocity, mode="max-autotune-no-cudagraphs")
        runner.warmup(obs, 5)
        lat, fdm = time_runner(runner, obs, iterations)
        rows.append({"mode": mode, "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
                     "fdm_share": float(fdm.mean() / lat.mean()) if len(fdm) else float("nan")})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default="default")
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0, help="end-to-end run (0: skip)")
    ap.add_argument("--guidance", default="rtc", choices=("none", "blend", "rtc"))
    ap.add_argument("--robot", default="sim", help="setup of the in-graph run (default sim)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="setup override for the in-graph run, e.g. policy.inference_priority=0")
    ap.add_argument("--full", action="store_true", help="full-size preset on CUDA")
    ap.add_argument("--compare-guidance", type=int, default=0, metavar="N",
                    help="N lock-step button episodes per guidance mode (0: skip)")
    ap.add_argument("--smooth", type=int, default=3, help="chunk smoothing degree for the comparison")
    ap.add_argument("--timeout", type=float, default=6.0)
    a = ap.parse_args()

    r = bench_inference(a.policy, a.iterations)
    if a.seconds > 0:
        # In the graph between two isolated runs: the ratio is against their mean, all measured
        # within minutes on the same machine (an absolute time here means little).
        e = bench_end_to_end(a.policy, a.seconds, a.guidance, a.robot, tuple(a.overrides))
        r2 = bench_inference(a.policy, a.iterations)
    t = Table(title=f"inference, one chunk ({r['device']}, {r['variant']}, {r['chunk']} steps)")
    for k in ("p50_ms", "p99_ms", "fdm_share"):
        t.add_column(k)
    t.add_row(f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{100 * r['fdm_share']:.1f} %")
    console.print(t)
    if a.seconds > 0:
        t = Table(title=f"in the running graph ({a.robot}: sim cell, 2 cameras, policy, one OS "
                        f"process each; {a.seconds:.0f} s of episodes, guidance {a.guidance}"
                        + "".join(f", {o}" for o in a.overrides) + ")")
        for k in ("chunks", "episodes ok", "obs age p50/p99 ms", "inference p50/p99 ms",
                  "isolated p50 ms (before/after)", "in-graph / isolated", "chunks/s",
                  "idle mean ms"):
            t.add_column(k)
        iso = 0.5 * (r["p50_ms"] + r2["p50_ms"])
        t.add_row(str(e["chunks"]), f"{e['successes']}/{e['episodes']}",
                  f"{e['age_p50_ms']:.0f} / {e['age_p99_ms']:.0f}",
                  f"{e['inference_p50_ms']:.1f} / {e['inference_p99_ms']:.1f}",
                  f"{r['p50_ms']:.1f} / {r2['p50_ms']:.1f}",
                  f"{e['inference_p50_ms'] / iso:.2f}x",
                  f"{e['chunks_per_s']:.2f}", f"{e['idle_ms_mean']:.0f}")
        console.print(t)
        if e["skipped"]:
            console.print(f"skipped observations: {e['skipped']}")
    if a.compare_guidance:
        rows = bench_guidance(a.policy, a.compare_guidance, a.timeout, a.smooth)
        t = Table(title=f"chunk joining, {a.compare_guidance} lock-step button episodes each "
                        "(100 ms simulated latency, servo target jerk p95)")
        for k in ("guidance", "jerk at switches m/s^3", "jerk elsewhere m/s^3", "success",
                  "chunks accepted / rejected"):
            t.add_column(k)
        for row in rows:
            t.add_row(row["mode"], f"{row['boundary_jerk']:.1f}", f"{row['jerk']:.1f}",
                      f"{100 * row['success']:.0f} %", f"{row['accepted']} / {row['rejected']}")
        console.print(t)
    if a.full:
        rows = bench_full_gpu(a.iterations)
        if rows:
            t = Table(title="full-size FD-VLA chunk on CUDA (bf16, 2 cameras, 50 x 10 steps)")
            for k in ("mode", "p50 ms", "p99 ms", "FDM share"):
                t.add_column(k)
            for row in rows:
                t.add_row(row["mode"], f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}",
                          f"{100 * row['fdm_share']:.2f} %")
            console.print(t)


if __name__ == "__main__":
    main()
