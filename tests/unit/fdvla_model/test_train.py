"""`fdvla train` on the tiny preset: outputs, resume, frozen VLM, errors, variants."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fdvla_model.dataset import create_dataset, EpisodeWriter, write_synthetic_dataset
from fdvla_model.model import FDVLAConfig, FDVLAPolicy
from fdvla_model.train import (
    TrainConfig,
    build_arg_parser,
    latest_checkpoint,
    main,
    seed_everything,
    train,
)

COMMON = dict(batch_size=4, lr=1e-3, warmup_steps=2, chunk_size=4, progress=False, teacher_steps=200)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("train") / "ds"
    write_synthetic_dataset(root, episodes=2, length=8, image_size=(32, 32), seed=1)
    return root


@pytest.fixture(scope="module")
def six_steps(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    cfg = TrainConfig(dataset=str(dataset), out=str(out), steps=6, save_every=3, keep_checkpoints=0, **COMMON)
    return cfg, train(cfg)


@pytest.fixture(scope="module")
def six_steps_frozen_vlm(dataset, tmp_path_factory):
    """SmolVLA's setting: only the action expert (and what surrounds it) trains."""
    out = tmp_path_factory.mktemp("run_frozen") / "out"
    cfg = TrainConfig(dataset=str(dataset), out=str(out), steps=6, save_every=3, keep_checkpoints=0,
                      train_expert_only=True, **COMMON)
    return cfg, train(cfg)


def _weights(directory):
    """All of a saved policy's tensors: model.safetensors plus the VLM stored beside it."""
    weights = load_file(str(directory / "model.safetensors"))
    if (directory / "vlm.safetensors").is_file():
        weights.update(load_file(str(directory / "vlm.safetensors")))
    return weights


def test_outputs_of_a_run(six_steps):
    cfg, result = six_steps
    out = result.out
    rows = [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(6))
    assert all(np.isfinite(r["loss"]) and {"flow_loss", "dist_loss", "lr", "grad_norm"} <= set(r) for r in rows)
    assert rows[0]["lr"] < rows[2]["lr"] and rows[5]["lr"] < rows[2]["lr"]  # warmup, then decay
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert latest_checkpoint(out).name == "step_00000006"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [".vlm", "latest", "step_00000003",
                                                                       "step_00000006"]
    policy = FDVLAPolicy.load(out / "policy")
    assert policy.config.chunk_size == 4 and policy.config.state_dim == 15
    assert policy.config.camera_names == ["kinect", "wrist"]
    # normalisation statistics came from the dataset
    assert policy.normalizer.wrench_std[2] > 1.0
    batch = {"images": {c: torch.rand(1, 3, 32, 32) for c in ("kinect", "wrist")},
             "state": torch.zeros(1, 15), "task": ["press"]}
    assert policy.sample_actions(batch).shape == (1, 4, 9)


def test_resume_continues_bit_for_bit(six_steps, tmp_path):
    cfg, result = six_steps
    half = result.out / "checkpoints" / "step_00000003"
    resumed_cfg = TrainConfig(dataset=cfg.dataset, out=str(tmp_path / "resumed"), steps=6, save_every=3,
                              resume=str(half), **COMMON)
    resumed = train(resumed_cfg)
    # only the second half was trained here ...
    assert [r["step"] for r in resumed.losses] == [3, 4, 5]
    # ... and it ends exactly where the uninterrupted run ended
    full, cont = _weights(result.out / "policy"), _weights(resumed.out / "policy")
    assert full.keys() == cont.keys()
    assert all(torch.equal(full[k], cont[k]) for k in full)
    assert [r["loss"] for r in resumed.losses] == [r["loss"] for r in result.losses[3:]]


def test_resume_latest_in_place_truncates_the_log(six_steps, dataset, tmp_path):
    cfg, result = six_steps
    out = tmp_path / "again"
    first = TrainConfig(dataset=str(dataset), out=str(out), steps=2, save_every=1, **COMMON)
    train(first)
    more = TrainConfig(dataset=str(dataset), out=str(out), steps=3, save_every=1, resume="latest", **COMMON)
    res = train(more)
    assert [r["step"] for r in res.losses] == [0, 1, 2]
    assert latest_checkpoint(out).name == "step_00000003"


def test_frozen_vlm_gets_no_gradient_and_no_optimizer_state(six_steps_frozen_vlm):
    cfg, result = six_steps_frozen_vlm
    policy = result.policy
    vlm = dict(policy.model.vlm_with_expert.vlm.named_parameters())
    assert vlm and all(p.grad is None and not p.requires_grad for p in vlm.values())
    # the VLM is exactly its initialisation, the rest has moved
    seed_everything(cfg.seed)
    fresh = FDVLAPolicy(FDVLAConfig.tiny(variant="fdvla", camera_names=["kinect", "wrist"], state_dim=15,
                                         action_dim=9, chunk_size=4, train_expert_only=True))
    fresh_vlm = dict(fresh.model.vlm_with_expert.vlm.named_parameters())
    assert all(torch.equal(vlm[n], fresh_vlm[n]) for n in vlm)
    assert not torch.equal(policy.model.action_out_proj.weight, fresh.model.action_out_proj.weight)
    ckpt = latest_checkpoint(result.out)
    doc = json.loads((ckpt / "training_state.json").read_text())
    names = doc["parameter_names"]
    assert not any(".vlm." in n or n.startswith("model.vlm_with_expert.vlm.") for n in names)
    assert len(names) == len(policy.trainable_parameters())
    opt_tensors = load_file(str(ckpt / "training_state.safetensors"))
    n_vlm = sum(p.numel() for p in vlm.values())
    n_state = sum(t.numel() for k, t in opt_tensors.items() if k.endswith("exp_avg"))
    assert n_state == sum(p.numel() for p in policy.trainable_parameters()) and n_state > 0
    assert n_vlm > 0


def test_help_documents_the_variants():
    text = build_arg_parser().format_help()
    assert "raw_force" in text and "alias of no_fdm" in text
    for flag in ("--dataset", "--variant", "--out", "--preset", "--steps", "--batch-size", "--lr",
                 "--weight-decay", "--warmup-steps", "--grad-clip", "--lambda-dist", "--seed", "--save-every",
                 "--resume", "--num-workers", "--device", "--vlm", "--init-smolvla"):
        assert flag in text


def test_raw_force_trains_the_no_fdm_model(dataset, tmp_path):
    assert main(["--dataset", str(dataset), "--out", str(tmp_path / "o"), "--variant", "raw_force",
                 "--steps", "1", "--batch-size", "2", "--chunk-size", "2", "--no-progress",
                 "--lambda-dist", "0.5"]) == 0
    config = FDVLAPolicy.load(tmp_path / "o" / "policy").config
    assert config.variant == "no_fdm" and config.dist_loss_weight == 0.5


def test_bad_datasets_give_clear_errors(dataset, tmp_path, capsys):
    args = ["--out", str(tmp_path / "o"), "--steps", "1", "--no-progress"]
    assert main(["--dataset", str(tmp_path / "missing")] + args) == 2
    assert "does not exist" in capsys.readouterr().err

    empty = tmp_path / "empty"
    create_dataset(empty, fps=10, cameras={"kinect": (8, 8)})
    assert main(["--dataset", str(empty)] + args) == 2
    assert "no finished episodes" in capsys.readouterr().err

    sensorless = tmp_path / "sensorless"
    create_dataset(sensorless, fps=10, cameras={"kinect": (8, 8), "wrist": (8, 8)})
    with EpisodeWriter(sensorless, instruction="x") as ep:
        for t in range(3):
            ep.append(t * 0.1, np.zeros(15), np.zeros(9), None,
                      {"kinect": np.zeros((8, 8, 3), np.uint8), "wrist": np.zeros((8, 8, 3), np.uint8)})
    assert main(["--dataset", str(sensorless), "--variant", "fdvla"] + args) == 2
    assert "--variant no_force" in capsys.readouterr().err

    # a checkpoint trained on two cameras cannot continue on a one-camera dataset
    one_cam = tmp_path / "one_cam"
    write_synthetic_dataset(one_cam, episodes=1, length=4, image_size=(8, 8), cameras=("kinect",))
    ckpt = tmp_path / "ckpt_run"
    assert main(["--dataset", str(dataset), "--out", str(ckpt), "--steps", "1", "--batch-size", "2",
                 "--chunk-size", "2", "--no-progress"]) == 0
    assert main(["--dataset", str(one_cam), "--out", str(ckpt), "--steps", "2", "--chunk-size", "2",
                 "--resume", "--no-progress"]) == 2
    assert "cameras ['wrist'] are not in the dataset" in capsys.readouterr().err


def _fdvla_only(key):
    from fdvla_model.model.pretrained import FDVLA_ONLY_PREFIXES

    return key.startswith(FDVLA_ONLY_PREFIXES)


def test_init_smolvla_starts_from_the_given_weights(dataset, tmp_path):
    from safetensors.torch import save_file

    seed_everything(7)
    donor = FDVLAPolicy(FDVLAConfig.tiny(variant="fdvla", camera_names=["kinect", "wrist"], state_dim=15,
                                         action_dim=9, chunk_size=2))
    smolvla = tmp_path / "smolvla"
    smolvla.mkdir()
    # a SmolVLA checkpoint has the policy's layout without FD-VLA's own modules
    save_file({k: v.contiguous() for k, v in donor.state_dict().items() if not _fdvla_only(k)},
              str(smolvla / "model.safetensors"))
    assert main(["--dataset", str(dataset), "--out", str(tmp_path / "o"), "--steps", "1", "--batch-size", "2",
                 "--chunk-size", "2", "--init-smolvla", str(smolvla), "--train-expert-only",
                 "--no-progress"]) == 0
    trained = _weights(tmp_path / "o" / "policy")
    vlm_keys = [k for k in trained if k.startswith("model.vlm_with_expert.vlm.")]
    donor_state = donor.state_dict()
    assert vlm_keys and all(torch.equal(trained[k], donor_state[k]) for k in vlm_keys)  # frozen, so unchanged
    # one small step away from the donor's action expert
    w, d = trained["model.action_out_proj.weight"], donor_state["model.action_out_proj.weight"]
    assert not torch.equal(w, d) and (w - d).abs().max() < 1e-2


def _tiny_smolvlm_folder(path):
    """A SmolVLM folder (config, weights, tokenizer) of the full preset's layer count, at toy width."""
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration

    from fdvla_model.model.configuration_fdvla import tiny_vlm_config
    from fdvla_model.model.tokenizer import BYTE_TOKENIZER_VOCAB_SIZE, build_byte_tokenizer

    values = tiny_vlm_config(BYTE_TOKENIZER_VOCAB_SIZE)
    values["text_config"].update(num_hidden_layers=16, hidden_size=120, head_dim=20, num_attention_heads=6,
                                 num_key_value_heads=2, intermediate_size=64)
    torch.manual_seed(3)
    model = SmolVLMForConditionalGeneration(SmolVLMConfig(**values))
    model.save_pretrained(str(path))
    build_byte_tokenizer().save_pretrained(str(path))
    return model


def test_full_preset_loads_the_vlm_from_a_folder(dataset, tmp_path):
    vlm_dir = tmp_path / "smolvlm"
    vlm = _tiny_smolvlm_folder(vlm_dir)
    out = tmp_path / "o"
    assert main(["--dataset", str(dataset), "--out", str(out), "--preset", "full", "--vlm", str(vlm_dir),
                 "--steps", "1", "--batch-size", "2", "--chunk-size", "2", "--no-progress"]) == 0
    policy = FDVLAPolicy.load(out / "policy")
    assert policy.config.vlm_name_or_path == str(vlm_dir) and policy.config.num_vlm_layers == 16
    assert policy.config.state_dim == 15 and policy.config.camera_names == ["kinect", "wrist"]
    ours = policy.model.vlm_with_expert.vlm.state_dict()
    theirs = vlm.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_partly_sensorless_data_trains_fdvla_but_not_raw_force(tmp_path, capsys):
    root = tmp_path / "mixed"
    write_synthetic_dataset(root, episodes=1, length=6, image_size=(8, 8), seed=4)
    with EpisodeWriter(root, instruction="press without a sensor") as ep:
        for t in range(4):
            ep.append(t * 0.1, np.r_[0.4, 0.0, 0.2, 1, 0, 0, 0, -1, 0, np.zeros(6)], np.r_[0.4, 0, 0.2, 1, 0, 0, 0, -1, 0],
                      None, {"kinect": np.zeros((8, 8, 3), np.uint8), "wrist": np.zeros((8, 8, 3), np.uint8)})
    args = ["--dataset", str(root), "--steps", "2", "--batch-size", "10", "--chunk-size", "2", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "a"), "--variant", "fdvla"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "a" / "losses.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["dist_loss"]) for r in rows)
    assert main(args + ["--out", str(tmp_path / "b"), "--variant", "raw_force"]) == 2
    assert "takes the measured wrench as an input" in capsys.readouterr().err


# --- force objective, held-out force metrics, the stored VLM -----------------------------------------


def test_log_carries_force_learning_metrics_and_the_plot_shows_them(six_steps):
    cfg, result = six_steps
    rows = [json.loads(line) for line in (result.out / "losses.jsonl").read_text().splitlines()]
    evaluated = [r["step"] for r in rows if "eval_split" in r]
    assert evaluated == [0, 5]  # after the first step and at the end (eval_every 50 > 6 steps)
    last = rows[-1]
    assert last["eval_split"] == "train"  # two episodes: too few to hold one out
    for key in ("eval_flow_loss", "eval_token_r2", "eval_target_spread", "eval_wrench_mse_pred",
                "eval_wrench_mse_mean", "eval_wrench_skill_pred", "eval_wrench_mse_actual"):
        assert np.isfinite(last[key]), key
    assert last["eval_wrench_skill_pred"] == pytest.approx(
        1 - last["eval_wrench_mse_pred"] / last["eval_wrench_mse_mean"])
    png = (result.out / "loss_curve.png").read_bytes()
    width = int.from_bytes(png[16:20], "big")
    assert width == 1300  # the second panel (force learning) is there


def test_default_objective_fits_a_frozen_teacher_once(six_steps):
    cfg, result = six_steps
    assert FDVLAPolicy.load(result.out / "policy").config.force_objective == "teacher"
    fit = json.loads((result.out / "force_teacher.json").read_text())
    assert fit["teacher_mse"] < 0.1 * fit["teacher_mse_mean"]
    # unit mean variance per dimension, so the mean std is at most 1 (Jensen) and not far below
    assert 0.5 < fit["teacher_spread"] <= 1.0 + 1e-6
    halves = [_weights(result.out / "checkpoints" / f"step_0000000{n}" / "policy") for n in (3, 6)]
    teacher = [k for k in halves[0] if k.startswith(("model.force_encoder.", "model.force_decoder."))]
    assert teacher and all(torch.equal(halves[0][k], halves[1][k]) for k in teacher)
    assert not torch.equal(halves[0]["model.force_distillation.query"], halves[1]["model.force_distillation.query"])


def test_checkpoints_share_one_stored_vlm(six_steps_frozen_vlm):
    cfg, result = six_steps_frozen_vlm
    store = list((result.out / "checkpoints" / ".vlm").iterdir())
    assert len(store) == 1
    linked = [result.out / "policy"] + [result.out / "checkpoints" / f"step_0000000{n}" / "policy" for n in (3, 6)]
    assert {(d / "vlm.safetensors").stat().st_ino for d in linked} == {store[0].stat().st_ino}
    assert not [k for k in load_file(str(linked[0] / "model.safetensors")) if ".vlm." in k]


@pytest.mark.parametrize("flags, objective", [(["--force-objective", "stopgrad"], "stopgrad"),
                                              (["--anchor-force-encoder"], "anchored")])
def test_force_objective_flags(dataset, tmp_path, flags, objective):
    assert main(["--dataset", str(dataset), "--out", str(tmp_path / "o"), "--steps", "1", "--batch-size", "2",
                 "--chunk-size", "2", "--no-progress", "--eval-every", "0"] + flags) == 0
    assert FDVLAPolicy.load(tmp_path / "o" / "policy").config.force_objective == objective
    assert not (tmp_path / "o" / "force_teacher.json").exists()
    rows = [json.loads(line) for line in (tmp_path / "o" / "losses.jsonl").read_text().splitlines()]
    assert not any("eval_split" in r for r in rows)


def test_unknown_force_objective_is_a_clear_error(dataset, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--dataset", str(dataset), "--out", str(tmp_path / "o"), "--force-objective", "shrink"])
    assert "invalid choice" in capsys.readouterr().err


def test_held_out_episodes_only_when_there_are_enough():
    from fdvla_model.train.metrics import split_episodes

    assert split_episodes([0, 1, 2], 1) == ([0, 1, 2], [])
    assert split_episodes([3, 0, 1, 2], 1) == ([0, 1, 2], [3])
    assert split_episodes([0, 1, 2, 3, 4], 2) == ([0, 1, 2], [3, 4])
    assert split_episodes([0, 1, 2, 3], 0) == ([0, 1, 2, 3], [])


def test_tiny_preset_trains_its_vlm_and_stores_it_per_checkpoint(six_steps, dataset, tmp_path):
    """A VLM built from random weights learns to see; each checkpoint keeps its own VLM, and the
    store drops the VLM files that no kept checkpoint links to."""
    cfg, result = six_steps
    policy = result.policy
    assert not policy.config.train_expert_only
    seed_everything(cfg.seed)
    fresh = FDVLAPolicy(FDVLAConfig.tiny(variant="fdvla", camera_names=["kinect", "wrist"], state_dim=15,
                                         action_dim=9, chunk_size=4))
    name = "model.vlm_with_expert.vlm.model.vision_model.embeddings.patch_embedding.weight"
    first = _weights(result.out / "checkpoints" / "step_00000003" / "policy")
    assert not torch.equal(dict(fresh.named_parameters())[name], first[name])  # it has moved
    saved = _weights(result.out / "policy")
    assert torch.equal(saved[name], dict(policy.named_parameters())[name])
    names = json.loads((latest_checkpoint(result.out) / "training_state.json").read_text())["parameter_names"]
    assert name in names  # the optimizer carries the VLM
    loaded = FDVLAPolicy.load(result.out / "policy")
    assert torch.equal(dict(loaded.named_parameters())[name], saved[name])
    # pruning to one checkpoint leaves one VLM per kept checkpoint (plus the final policy's)
    out = tmp_path / "pruned"
    train(TrainConfig(dataset=str(dataset), out=str(out), steps=6, save_every=2, keep_checkpoints=1, **COMMON))
    store = list((out / "checkpoints" / ".vlm").iterdir())
    kept = [out / "policy", latest_checkpoint(out) / "policy"]
    assert {f.stat().st_ino for f in store} == {(d / "vlm.safetensors").stat().st_ino for d in kept}


def test_a_trained_vlm_is_never_saved_by_name_only(six_steps, tmp_path):
    policy = six_steps[1].policy
    policy.config.vlm_name_or_path = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
    policy.vlm_source = policy.config.vlm_name_or_path  # as if loaded from the hub, then trained
    try:
        with pytest.raises(ValueError, match="it was trained"):
            policy.save(tmp_path / "p", include_vlm=False)
        policy.save(tmp_path / "q")
        assert json.loads((tmp_path / "q" / "config.json").read_text())["vlm_weights"] == "separate"
    finally:
        policy.config.vlm_name_or_path, policy.vlm_source = None, None


def test_vital_makes_a_checkpoint_of_a_local_policy_and_a_localiser(tmp_path):
    from scipy.spatial.transform import Rotation

    from fdvla_model.dataset import episode_dirs, load_meta
    from fdvla_model.dataset.target_frame import dataset_frame
    from fdvla_model.model import FDVLAPolicy
    from fdvla_model.vital_checkpoint import read_vital_manifest

    data = tmp_path / "demos"
    write_synthetic_dataset(data, episodes=4, length=8, image_size=(32, 32), seed=2)
    for i, d in enumerate(episode_dirs(data)):
        info = json.loads((d / "episode.json").read_text())
        pose = [0.4 + 0.05 * i, -0.1, 0.03, *Rotation.from_euler("z", 0.2 * i).as_quat()]
        info["extra"]["target"] = {"name": "socket_hole_top", "pose": pose, "yaw_symmetry": 4}
        (d / "episode.json").write_text(json.dumps(info))
    out = tmp_path / "vital"
    assert main(["--dataset", str(data), "--out", str(out), "--vital", "--steps", "2",
                 "--batch-size", "2", "--chunk-size", "2", "--no-progress",
                 "--localiser-steps", "2", "--teacher-steps", "5"]) == 0
    manifest = read_vital_manifest(out)
    local = FDVLAPolicy.load(manifest["local_policy"]).config
    assert (local.action_frame, local.target_yaw_symmetry) == ("target", 4)
    assert local.camera_names == ["wrist"]  # the local policy sees the wrist camera only
    assert load_meta(out / "local_dataset").camera_names == ("wrist",)
    assert (out / "local" / "policy" / "dataset_meta.json").is_file()
    loc = json.loads((out / "localiser" / "config.json").read_text())
    assert loc["yaw_symmetry"] == 4 and loc["camera"] == "kinect"
    # The local policy's data in frames off the targets (a localiser's error to correct); a
    # rerun into the same folder must not silently train on data written with other noise.
    noisy = tmp_path / "vital_noisy"
    args = ["--dataset", str(data), "--vital", "--steps", "2", "--batch-size", "2",
            "--chunk-size", "2", "--no-progress", "--localiser-steps", "2", "--teacher-steps", "5"]
    assert main([*args, "--out", str(noisy), "--frame-noise-xy", "0.003", "--frame-copies", "2"]) == 0
    assert len(episode_dirs(noisy / "local_dataset")) == 8
    assert dataset_frame(load_meta(noisy / "local_dataset"))["noise"]["copies"] == 2
    assert main([*args, "--out", str(noisy), "--frame-noise-xy", "0.005", "--frame-copies", "2"]) == 2


def test_vital_trains_a_pointer_from_the_episodes_calibration_and_refuses_data_without(tmp_path,
                                                                                      capsys):
    from scipy.spatial.transform import Rotation

    from fdvla_model.dataset import episode_dirs
    from fdvla_model.vital_checkpoint import read_vital_manifest
    from fdvla_msgs.camera_geometry import calibration_to_dict
    from fdvla_msgs.types import CameraIntrinsics

    data = tmp_path / "demos"
    write_synthetic_dataset(data, episodes=4, length=8, image_size=(32, 32), seed=2)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("x", np.pi).as_matrix()  # looking down from 0.8 m
    T[:3, 3] = [0.45, -0.1, 0.8]
    calibration = calibration_to_dict(CameraIntrinsics.from_fovy(32, 32, 60.0), T)
    for i, d in enumerate(episode_dirs(data)):
        info = json.loads((d / "episode.json").read_text())
        info["extra"]["target"] = {"name": "button_cap_top",
                                   "pose": [0.4 + 0.05 * i, -0.1, 0.03, 0, 0, 0, 1],
                                   "yaw_symmetry": 0}
        (d / "episode.json").write_text(json.dumps(info))
    args = ["--dataset", str(data), "--vital", "--steps", "2", "--batch-size", "2",
            "--chunk-size", "2", "--no-progress", "--localiser-steps", "2",
            "--teacher-steps", "5", "--localiser-output", "pixel"]
    assert main([*args, "--out", str(tmp_path / "refused")]) == 2
    assert "carry no calibration of camera 'kinect'" in capsys.readouterr().err
    for d in episode_dirs(data):
        info = json.loads((d / "episode.json").read_text())
        info["extra"]["calibration"] = {"kinect": calibration}
        (d / "episode.json").write_text(json.dumps(info))
    out = tmp_path / "vital"
    assert main([*args, "--out", str(out)]) == 0
    manifest = read_vital_manifest(out)
    assert json.loads((Path(manifest["localiser"]) / "config.json").read_text())["output"] == "pixel"


def test_semantic_augmentation_trains_on_masked_data_and_refuses_data_without_masks(tmp_path):
    root = tmp_path / "masked"
    write_synthetic_dataset(root, episodes=2, length=6, image_size=(16, 16), seed=2)
    for ep in sorted(root.glob("episode_*")):
        for cam in ("kinect", "wrist"):
            frames = np.load(ep / f"{cam}.npy")
            np.save(ep / f"{cam}.mask.npy", frames.mean(axis=-1) > 128)
    out = tmp_path / "aug"
    cfg = TrainConfig(dataset=str(root), out=str(out), steps=2, save_every=2, keep_checkpoints=0,
                      augment_background=0.5, **COMMON)
    train(cfg)
    assert json.loads((out / "train_config.json").read_text())["augment_background"] == 0.5
    assert (out / "policy" / "config.json").is_file()
    for ep in sorted(root.glob("episode_*")):
        (ep / "wrist.mask.npy").unlink()
    from fdvla_model.dataset import DatasetError

    with pytest.raises(DatasetError, match="foreground masks are missing"):
        train(TrainConfig(dataset=str(root), out=str(tmp_path / "no"), steps=1,
                          augment_background=0.5, **COMMON))
    with pytest.raises(ValueError, match="share in"):
        train(TrainConfig(dataset=str(root), out=str(tmp_path / "bad"), steps=1,
                          augment_background=1.5, **COMMON))


def test_colour_augmentation_trains_and_refuses_a_share_outside_0_1(tmp_path):
    root = tmp_path / "data"
    write_synthetic_dataset(root, episodes=2, length=6, image_size=(16, 16), seed=3)
    out = tmp_path / "colour"
    train(TrainConfig(dataset=str(root), out=str(out), steps=2, save_every=2, keep_checkpoints=0,
                      augment_colour=0.5, **COMMON))
    assert json.loads((out / "train_config.json").read_text())["augment_colour"] == 0.5
    assert (out / "policy" / "config.json").is_file()
    with pytest.raises(ValueError, match="augment-colour"):
        train(TrainConfig(dataset=str(root), out=str(tmp_path / "bad"), steps=1,
                          augment_colour=-0.1, **COMMON))
