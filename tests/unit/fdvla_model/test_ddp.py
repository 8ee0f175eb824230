"""Two-process DistributedDataParallel training (gloo on CPU, as torchrun would start it)."""

import os
import socket

import pytest
import torch
from safetensors.torch import load_file, save_file

from fdvla_model.dataset import write_synthetic_dataset


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, world_size, port, dataset, out, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size),
                      RANK=str(rank), LOCAL_RANK=str(rank), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    import torch.distributed as dist

    from fdvla_model.train import TrainConfig, train

    cfg = TrainConfig(dataset=dataset, out=out, steps=3, batch_size=2, lr=1e-3, warmup_steps=1, chunk_size=2,
                      save_every=3, device="cpu", progress=False)
    result = train(cfg)
    weights = {n: p.detach().clone().contiguous() for n, p in result.policy.named_parameters() if p.requires_grad}
    save_file(weights, os.path.join(result_dir, f"rank{rank}.safetensors"))
    dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_ranks_stay_in_sync(tmp_path):
    dataset = tmp_path / "ds"
    write_synthetic_dataset(dataset, episodes=1, length=8, image_size=(16, 16), seed=2)
    out = tmp_path / "out"
    torch.multiprocessing.spawn(_rank_main, args=(2, _free_port(), str(dataset), str(out), str(tmp_path)),
                                nprocs=2, join=True)
    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    assert r0.keys() == r1.keys() and r0
    # each rank saw different samples; only the gradient all-reduce keeps them identical
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    saved = load_file(str(out / "policy" / "model.safetensors"))
    saved.update(load_file(str(out / "policy" / "vlm.safetensors")))  # the tiny preset trains its VLM
    assert all(torch.equal(saved[k], r0[k]) for k in r0)
    ckpt = out / "checkpoints" / "step_00000003"
    assert (ckpt / "rng_rank0.safetensors").is_file() and (ckpt / "rng_rank1.safetensors").is_file()
