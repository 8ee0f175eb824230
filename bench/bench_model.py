"""FD-VLA model speed: KV-cache gain, the Force Distillation Module's cost, and GPU latency.

    python bench/bench_model.py                 # CPU ratios (tiny + mid), and the GPU part if CUDA is present
    python bench/bench_model.py --sizes tiny    # quicker
    python bench/bench_model.py --no-gpu / --gpu-only [--compile-mode reduce-overhead] [--train-batch 8]

Ratios are measured in one run, in this process, with the compared variants interleaved so that
load on a shared machine hits both alike:
- cached vs uncached sampling: `sample_actions(use_cache=False)` re-encodes the prefix at every one
  of the num_steps denoising steps; the ratio is uncached / cached time;
- FDM share: time inside the ForceDistillationModule (forward hooks) over the whole call, for
  inference (`sample_actions`) and for a training forward (`compute_loss`).
With CUDA: the full-size configuration with random weights (SmolVLM2-500M architecture, 16 text
layers, expert 0.75x), batch 1, two 512x512 cameras, chunk 50, 10 steps, bf16 weights — latency
p50/p99 eager and torch.compile'd (CUDA events, after warmup), peak memory, and training
samples/s (fp32 master weights, bf16 autocast, AdamW on the trainable parameters).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

from fdvla_drivers.environment import apply_defaults

apply_defaults()  # before rclpy or mujoco load

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from fdvla_model.model import FDVLAConfig, FDVLAPolicy  # noqa: E402
from fdvla_model.model.configuration_fdvla import tiny_vlm_config  # noqa: E402
from fdvla_model.model.tokenizer import BYTE_TOKENIZER_VOCAB_SIZE  # noqa: E402

CAMERAS = ["kinect", "wrist"]
STATE_DIM, ACTION_DIM = 15, 9


# --------------------------------------------------------------------------------------------
# configurations


def mid_config(variant: str = "fdvla") -> FDVLAConfig:
    """Between tiny and full: the same classes at a few-million-parameter size a CPU runs in ~0.1 s."""
    vlm = tiny_vlm_config(BYTE_TOKENIZER_VOCAB_SIZE)
    vlm["text_config"].update(hidden_size=384, head_dim=64, num_attention_heads=6, num_key_value_heads=2,
                              intermediate_size=1024, num_hidden_layers=8)
    vlm["vision_config"].update(hidden_size=192, intermediate_size=768, num_attention_heads=3,
                                num_hidden_layers=6, image_size=128, patch_size=16)
    return FDVLAConfig.tiny(variant=variant, vlm_config=vlm, image_size=128, num_vlm_layers=8, fdm_num_heads=6,
                            force_encoder_hidden=128, force_decoder_hidden=128, tokenizer_max_length=32,
                            camera_names=CAMERAS, state_dim=STATE_DIM, action_dim=ACTION_DIM)


def config_for(size: str, variant: str = "fdvla") -> FDVLAConfig:
    common = dict(camera_names=CAMERAS, state_dim=STATE_DIM, action_dim=ACTION_DIM)
    if size == "tiny":
        return FDVLAConfig.tiny(variant=variant, **common)
    if size == "mid":
        return mid_config(variant)
    if size == "full":
        # random weights: the architecture of SmolVLM2-500M without downloading it
        return FDVLAConfig.full(variant=variant, vlm_name_or_path=None, tokenizer_source="builtin", **common)
    raise ValueError(size)


def make_batch(config: FDVLAConfig, batch_size: int, image_side: int, device, with_targets: bool) -> dict:
    g = torch.Generator().manual_seed(0)
    batch = {
        "images": {c: torch.rand(batch_size, 3, image_side, image_side, generator=g).to(device)
                   for c in config.camera_names},
        "state": torch.randn(batch_size, config.state_dim, generator=g).to(device),
        "wrench": torch.randn(batch_size, 6, generator=g).to(device),
        "task": ["press the red emergency button"] * batch_size,
    }
    if with_targets:
        batch["actions"] = torch.randn(batch_size, config.chunk_size, config.action_dim, generator=g).to(device)
        batch["action_is_pad"] = torch.zeros(batch_size, config.chunk_size, dtype=torch.bool, device=device)
    return batch


# --------------------------------------------------------------------------------------------
# timing helpers


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class ModuleTimer:
    """Accumulates wall time spent inside one module (forward pre/post hooks)."""

    def __init__(self, module: torch.nn.Module, device):
        self.device = device
        self.total = 0.0
        self._start = None
        self._handles = [module.register_forward_pre_hook(self._pre), module.register_forward_hook(self._post)]

    def _pre(self, *_):
        _sync(self.device)
        self._start = time.perf_counter()

    def _post(self, *_):
        _sync(self.device)
        self.total += time.perf_counter() - self._start

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def interleaved_medians(fns: dict, repeats: int, device) -> dict:
    """Median seconds of each callable, run round-robin so drift in machine load hits all alike."""
    times = {name: [] for name in fns}
    for fn in fns.values():  # warmup
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in times.items()}


def fdm_share(policy: FDVLAPolicy, fn, repeats: int, device) -> float:
    """Median fraction of fn's time spent inside the Force Distillation Module."""
    fn()
    timer = ModuleTimer(policy.model.force_distillation, device)
    shares = []
    try:
        for _ in range(repeats):
            timer.total = 0.0
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            shares.append(timer.total / (time.perf_counter() - t0))
    finally:
        timer.remove()
    return statistics.median(shares)


# --------------------------------------------------------------------------------------------
# CPU part


def cpu_ratios(sizes, repeats: int, console: Console) -> None:
    table = Table(title=f"CPU ({torch.get_num_threads()} threads), batch 1, two cameras, chunk 50, 10 steps: "
                        "ratios measured in this run")
    for col in ("config", "params (frozen / trainable)", "sample cached", "sample uncached", "uncached/cached",
                "FDM share of inference", "FDM share of training forward"):
        table.add_column(col, justify="right")
    for size in sizes:
        torch.manual_seed(0)
        config = config_for(size)
        policy = FDVLAPolicy(config).eval()
        counts = policy.num_parameters()
        infer = make_batch(config, 1, config.image_size, "cpu", with_targets=False)
        trainb = make_batch(config, 1, config.image_size, "cpu", with_targets=True)
        noise = torch.randn(1, config.chunk_size, config.action_dim)
        with torch.no_grad():
            cached = policy.sample_actions(infer, noise=noise, use_cache=True)
            uncached = policy.sample_actions(infer, noise=noise, use_cache=False)
        if not torch.allclose(cached, uncached, atol=1e-4, rtol=1e-4):
            console.print(f"[red]{size}: cached and uncached sampling disagree[/red]")
        med = interleaved_medians({
            "cached": lambda: policy.sample_actions(infer, noise=noise, use_cache=True),
            "uncached": lambda: policy.sample_actions(infer, noise=noise, use_cache=False),
        }, repeats, "cpu")
        share_inf = fdm_share(policy, lambda: policy.sample_actions(infer, noise=noise), repeats, "cpu")
        with torch.no_grad():
            share_train = fdm_share(policy, lambda: policy.compute_loss(trainb), repeats, "cpu")
        table.add_row(f"{size}: {config.num_vlm_layers} layers, {config.image_size} px",
                      f"{counts['frozen_vlm'] / 1e6:.2f}M / {counts['trainable'] / 1e6:.2f}M",
                      f"{med['cached'] * 1e3:.1f} ms", f"{med['uncached'] * 1e3:.1f} ms",
                      f"{med['uncached'] / med['cached']:.2f}x", f"{100 * share_inf:.2f} %", f"{100 * share_train:.2f} %")
    console.print(table)


# --------------------------------------------------------------------------------------------
# GPU part


def _latencies_cuda(fn, iterations: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(iterations):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        out.append(start.elapsed_time(end))
    return np.asarray(out)


def _compiled_copy(policy: FDVLAPolicy, mode: str) -> FDVLAPolicy:
    """The same weights with the two hot paths (prefix encoding, one denoising step) compiled."""
    compiled = copy.copy(policy)  # shares modules and weights
    compiled.model = copy.copy(policy.model)
    compiled.model.encode_prefix = torch.compile(policy.model.encode_prefix, mode=mode)
    compiled.model.velocity = torch.compile(policy.model.velocity, mode=mode)
    return compiled


def gpu_benchmark(args, console: Console) -> None:
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    console.print(f"[bold]GPU: {torch.cuda.get_device_name(device)}[/bold], torch {torch.__version__}")
    torch.manual_seed(0)
    config = config_for("full")
    policy = FDVLAPolicy(config)
    counts = policy.num_parameters()
    policy.model.to(device=device, dtype=torch.bfloat16)  # normaliser statistics stay float32
    policy.normalizer.to(device)
    policy.eval()
    batch = make_batch(config, 1, 512, device, with_targets=False)
    console.print(f"full config, random weights: {counts['frozen_vlm'] / 1e6:.0f}M frozen VLM + "
                  f"{counts['trainable'] / 1e6:.0f}M trainable; batch 1, cameras {config.camera_names} at 512x512, "
                  f"chunk {config.chunk_size}, {config.num_steps} steps, bf16 weights")

    table = Table(title="inference latency (sample_actions, CUDA events)")
    for col in ("mode", "p50 ms", "p99 ms", "mean ms", "peak memory GiB"):
        table.add_column(col, justify="right")

    def run(p):
        def fn():
            with torch.no_grad():
                return p.sample_actions(batch)
        return fn

    torch.cuda.reset_peak_memory_stats(device)
    eager = _latencies_cuda(run(policy), args.iterations, args.warmup)
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    table.add_row("eager", f"{np.percentile(eager, 50):.2f}", f"{np.percentile(eager, 99):.2f}",
                  f"{eager.mean():.2f}", f"{peak:.2f}")
    uncached = _latencies_cuda(lambda: policy.sample_actions(batch, use_cache=False), max(10, args.iterations // 5),
                               2)
    table.add_row("eager, no KV cache", f"{np.percentile(uncached, 50):.2f}", f"{np.percentile(uncached, 99):.2f}",
                  f"{uncached.mean():.2f}", "")
    for mode in args.compile_modes:
        try:
            compiled = _compiled_copy(policy, mode)
            fn = run(compiled)

            def step():
                if mode in ("reduce-overhead", "max-autotune"):
                    torch.compiler.cudagraph_mark_step_begin()
                return fn()

            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            compile_s = time.perf_counter() - t0
            torch.cuda.reset_peak_memory_stats(device)
            lat = _latencies_cuda(step, args.iterations, args.warmup)
            peak = torch.cuda.max_memory_allocated(device) / 2**30
            table.add_row(f"compiled {mode} (first call {compile_s:.0f} s)", f"{np.percentile(lat, 50):.2f}",
                          f"{np.percentile(lat, 99):.2f}", f"{lat.mean():.2f}", f"{peak:.2f}")
        except Exception as e:  # a compile failure is a result to report, not a reason to stop
            table.add_row(f"compiled {mode}", "failed", type(e).__name__, str(e).splitlines()[0][:60], "")
        torch._dynamo.reset()
    console.print(table)
    console.print(f"KV-cache gain on GPU (eager p50): {np.percentile(uncached, 50) / np.percentile(eager, 50):.2f}x")
    del policy
    torch.cuda.empty_cache()
    gpu_training(args, console, device)


def gpu_training(args, console: Console, device) -> None:
    torch.manual_seed(0)
    config = config_for("full")
    policy = FDVLAPolicy(config).to(device).train()
    params = policy.trainable_parameters()
    optimizer = torch.optim.AdamW(params, lr=1e-4, fused=True)
    batch = make_batch(config, args.train_batch, 512, device, with_targets=True)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = policy.compute_loss(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        optimizer.step()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(args.train_steps):
        step()
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1e3
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    console.print(f"training (fp32 weights, bf16 autocast, AdamW on {sum(p.numel() for p in params) / 1e6:.0f}M "
                  f"trainable): batch {args.train_batch}: {args.train_batch * args.train_steps / seconds:.1f} samples/s, "
                  f"{seconds / args.train_steps * 1e3:.0f} ms/step, peak memory {peak:.2f} GiB")


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="tiny,mid", help="CPU configurations: tiny, mid, full")
    ap.add_argument("--repeats", type=int, default=15, help="CPU timing repeats")
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--gpu-only", action="store_true")
    ap.add_argument("--iterations", type=int, default=100, help="GPU timed iterations")
    ap.add_argument("--warmup", type=int, default=10, help="GPU warmup iterations")
    ap.add_argument("--compile-mode", dest="compile_modes", action="append", default=None,
                    help="torch.compile mode(s) to time (default: reduce-overhead and max-autotune-no-cudagraphs)")
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--train-steps", type=int, default=10)
    args = ap.parse_args(argv)
    args.compile_modes = args.compile_modes or ["reduce-overhead", "max-autotune-no-cudagraphs"]
    console = Console(width=max(140, Console().width))
    if not args.gpu_only:
        cpu_ratios([s.strip() for s in args.sizes.split(",") if s.strip()], args.repeats, console)
    if args.no_gpu:
        return 0
    if torch.cuda.is_available():
        gpu_benchmark(args, console)
    else:
        console.print("no CUDA device: GPU latency, memory and training throughput not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
