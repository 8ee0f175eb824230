"""ViTaL's residual at run time (issue 19, item 5): one bounded offset per local chunk, in the
target's frame; none during the reach; the RTC guide without it; loaded from a checkpoint."""

import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from fdvla_model.residual import ResidualActor, ResidualConfig, save_residual
from fdvla_policy_node.inference.residual import ResidualAgent
from fdvla_policy_node.inference.runner import Guide
from fdvla_policy_node.inference.vital import VitalAgent, VitalSettings

from .test_vital_agent import TARGET, _local_runner, local_ckpt, obs_at  # noqa: F401

WANT = np.array([0.5, -0.25, 0.0])  # of max_offset, in the target's frame


def _actor(max_offset=0.004):
    actor = ResidualActor(ResidualConfig(max_offset=max_offset))
    with torch.no_grad():  # a constant answer: WANT, whatever the features
        actor.net[-1].weight.zero_()
        actor.net[-1].bias[:3] = torch.atanh(torch.tensor(WANT, dtype=torch.float32))
    return actor


def test_the_offset_moves_local_chunks_only_in_the_targets_frame(local_ckpt):
    yaw = 0.3
    seen = []
    plain = VitalAgent(_local_runner(local_ckpt), lambda view: (TARGET, yaw), VitalSettings())
    agent = ResidualAgent(VitalAgent(_local_runner(local_ckpt), lambda view: (TARGET, yaw),
                                     VitalSettings()), _actor(),
                          on_decision=lambda f, a: seen.append((f, a)))
    far = obs_at(TARGET + [0.10, 0.05, 0.20])
    np.testing.assert_allclose(agent.infer(far).actions, plain.infer(far).actions)
    assert agent.agent.phase == "reach" and not seen and "residual_offset_mm" not in agent.status()
    near = obs_at(TARGET + [0.004, 0.0, 0.05], stamp=1.0, yaw=yaw)
    corrected, base = agent.infer(near), plain.infer(near)
    assert agent.agent.phase == "local"
    shift = Rotation.from_euler("z", yaw).apply(WANT * 0.004)
    np.testing.assert_allclose(corrected.actions[:, :3] - base.actions[:, :3],
                               np.broadcast_to(shift, base.actions[:, :3].shape), atol=1e-5)
    np.testing.assert_allclose(corrected.actions[:, 3:], base.actions[:, 3:])
    np.testing.assert_allclose(corrected.chunk.positions(), corrected.actions[:, :3], atol=1e-9)
    assert len(seen) == 1 and np.allclose(seen[0][1], WANT, atol=1e-5)
    assert seen[0][0][-1] == 0.0  # local time starts at the hand-over
    assert agent.status()["residual_offset_mm"] == pytest.approx((WANT * 4).tolist(), abs=0.01)
    # The next chunk continues the committed one without its offset (RTC guide).
    guides = []
    inner = agent.agent.infer
    agent.agent.infer = lambda obs, guide=None: (guides.append(guide), inner(obs, guide))[1]
    committed = Guide(corrected.actions.copy(), np.ones(len(corrected.actions)))
    agent.infer(obs_at(TARGET + [0.004, 0.0, 0.05], stamp=1.5, yaw=yaw), committed)
    np.testing.assert_allclose(guides[0].actions[:, :3], base.actions[:, :3], atol=1e-5)
    assert seen[-1][0][-1] == pytest.approx(0.5 / ResidualConfig().time_scale)
    agent.reset()
    assert agent.agent.phase == "localise" and "residual_offset_mm" not in agent.status()


def test_a_checkpoint_with_a_residual_loads_as_the_residual_agent(local_ckpt, tmp_path):
    from fdvla_model.vital_checkpoint import read_vital_manifest, write_vital_checkpoint
    from fdvla_policy_node.inference.agents import load_runner
    from fdvla_policy_node.inference.loading import PolicyLoadError

    ckpt = write_vital_checkpoint(tmp_path / "vital", local_ckpt)
    assert read_vital_manifest(ckpt)["residual"] is None  # older checkpoints: none
    save_residual(_actor(0.002), ckpt / "residual")
    d = json.loads((ckpt / "vital.json").read_text())
    (ckpt / "vital.json").write_text(json.dumps({**d, "residual": "residual"}))
    runner = load_runner(ckpt, "cpu", localise=lambda view: (TARGET, 0.0))
    assert isinstance(runner, ResidualAgent) and runner.actor.config.max_offset == 0.002
    runner.localise = lambda view: (TARGET + [0.01, 0, 0], 0.0)  # the oracle's swap reaches it
    runner.infer(obs_at(TARGET + [0, 0, 0.2]))
    assert runner.status()["localised"][0] == pytest.approx(TARGET[0] + 0.01)
    (ckpt / "residual" / "config.json").write_text('{"hidden": 8}')
    with pytest.raises(PolicyLoadError, match="does not fit config.json"):
        load_runner(ckpt, "cpu", localise=lambda view: (TARGET, 0.0))
