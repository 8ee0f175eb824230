"""Learning-rate schedule and the pickle-free training state."""

import random

import numpy as np
import pytest
import torch

from fdvla_model.train.schedule import WarmupCosineSchedule
from fdvla_model.train import ResumableSampler
from fdvla_model.train.state import (
    load_training_state,
    restore_rng_state,
    save_rng_state,
    save_training_state,
)


def test_warmup_then_cosine_to_the_floor():
    s = WarmupCosineSchedule(warmup_steps=4, total_steps=14, min_ratio=0.1)
    assert [s(i) for i in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert s(4) == pytest.approx(1.0)
    assert s(9) == pytest.approx(0.55)  # half way down the cosine
    assert s(14) == pytest.approx(0.1) and s(100) == pytest.approx(0.1)
    values = [s(i) for i in range(4, 15)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError):
        WarmupCosineSchedule(warmup_steps=-1, total_steps=10)


def test_sampler_stream_resumes_and_shards():
    full = ResumableSampler(7, seed=3)
    stream = [i for _, i in zip(range(30), iter(full))]
    for epoch in range(4):  # every epoch is a permutation
        chunk = stream[epoch * 7:(epoch + 1) * 7]
        if len(chunk) == 7:
            assert sorted(chunk) == list(range(7))
    resumed = [i for _, i in zip(range(12), iter(ResumableSampler(7, seed=3, start=18)))]
    assert resumed == stream[18:30]
    rank0 = [i for _, i in zip(range(15), iter(ResumableSampler(7, seed=3, rank=0, world_size=2)))]
    rank1 = [i for _, i in zip(range(15), iter(ResumableSampler(7, seed=3, rank=1, world_size=2)))]
    assert rank0 == stream[0:30:2] and rank1 == stream[1:30:2]
    assert stream != [i for _, i in zip(range(30), iter(ResumableSampler(7, seed=4)))]


def _optimizer(model):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupCosineSchedule(2, 10))
    return opt, sched


def _step(model, opt, sched, x):
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    opt.step()
    sched.step()


def test_optimizer_and_scheduler_round_trip(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    opt, sched = _optimizer(model)
    x = torch.randn(5, 3)
    for _ in range(3):
        _step(model, opt, sched, x)
    names = [n for n, _ in model.named_parameters()]
    save_training_state(tmp_path, optimizer=opt, scheduler=sched, step=3, parameter_names=names,
                        extra={"note": "x"})
    assert not any(p.suffix == ".pkl" or p.suffix == ".pt" for p in tmp_path.iterdir())

    clone = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    clone.load_state_dict(model.state_dict())
    opt2, sched2 = _optimizer(clone)
    doc = load_training_state(tmp_path, optimizer=opt2, scheduler=sched2, parameter_names=names)
    assert doc["step"] == 3 and doc["extra"] == {"note": "x"}
    assert sched2.get_last_lr() == pytest.approx(sched.get_last_lr())
    for _ in range(2):
        _step(model, opt, sched, x)
        _step(clone, opt2, sched2, x)
    for a, b in zip(model.parameters(), clone.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="different set of parameters"):
        load_training_state(tmp_path, optimizer=opt2, scheduler=sched2, parameter_names=names[:-1])


def test_rng_streams_round_trip(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_rng_state(tmp_path, rank=0)
    first = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(10), np.random.rand(10), random.random()
    assert restore_rng_state(tmp_path, rank=0)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[2] == again[2]
    assert not restore_rng_state(tmp_path, rank=1)
