"""Runs the policy on one observation: batch assembly, device/precision, warm-up, and optional
guidance of the new chunk by the part of the previous one that executes meanwhile.

Guidance (``Guide``) follows real-time chunking (RTC, arXiv 2506.07339) by inpainting: at every
Euler step of the model's sampler, the action steps that are already committed (they execute while
this inference runs) are replaced by their forward-noised value x_t = t * noise + (1 - t) * a_old,
with weight 1 for the committed prefix and a decaying weight over the rest of the overlap (RTC's
soft mask), so the new chunk continues the old one instead of jumping at the switch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from fdvla_msgs.types import ActionChunk
from fdvla_model.action_space import action_to_pose, state_vector
from .loading import PolicyInfo
from .observation import Observation


@dataclass
class Guide:
    """Old chunk's actions on the new chunk's time grid (chunk, action_dim), raw units, and the
    weight (chunk,) in [0, 1] each step is held to them (1: committed, 0: free)."""

    actions: np.ndarray
    weights: np.ndarray

    def sampling_guidance(self, policy):
        """The inpainting as the hook the policy's sampler calls at every step (SamplingGuidance)."""
        import torch

        from fdvla_model.model.modeling_fdvla import noisy_actions, pad_last_dim

        device, width = policy.device, policy.config.max_action_dim
        old = torch.as_tensor(self.actions, dtype=torch.float32, device=device)[None]
        known = pad_last_dim(policy.normalizer.normalize("action", old), width)
        w = torch.as_tensor(self.weights, dtype=torch.float32, device=device)[None, :, None]

        def inpaint(x_t, noise, t: float):
            return w * noisy_actions(known, noise, t) + (1 - w) * x_t

        return inpaint


@dataclass
class Inference:
    chunk: ActionChunk
    actions: np.ndarray  # (chunk, action_dim) raw units
    force_token: Optional[np.ndarray]
    predicted_wrench: Optional[np.ndarray]
    started: float  # wall clock (time.time) at start and end of the inference
    finished: float

    @property
    def latency(self) -> float:
        return self.finished - self.started


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested in ("", "auto", None):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


class PolicyRunner:
    def __init__(self, policy, info: PolicyInfo, seed: int = 0, noise_scale: float = 1.0):
        import torch

        self.policy = policy
        self.info = info
        self.device = policy.device
        self.autocast = self.device.type == "cuda"  # bf16 on CUDA, fp32 on CPU
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.warm = False
        #: Scale of the initial flow noise (sampling temperature): 1 samples the learned
        #: distribution, 0 integrates from its centre (a deterministic, mode-seeking chunk).
        self.noise_scale = float(noise_scale)

    # ------------------------------------------------------------------ batch
    def batch(self, obs: Observation, frame=None) -> dict:
        """The model's input; `frame` (a TargetFrame): state and wrench expressed in it, for a
        policy whose vectors live there (config.action_frame "target")."""
        import torch
        import torch.nn.functional as F

        images = {}
        for cam in self.info.camera_names:
            rgb = torch.from_numpy(np.array(obs.images[cam], dtype=np.uint8)).permute(2, 0, 1)[None]
            size = self.info.camera_sizes.get(cam)
            if size is not None and tuple(rgb.shape[-2:]) != tuple(size):
                # To the resolution the policy was trained on (then the model pads/resizes).
                rgb = F.interpolate(rgb.float(), size=size, mode="bilinear", antialias=True,
                                    align_corners=False).clamp(0, 255) / 255.0
            images[cam] = rgb.to(self.device)
        state = state_vector(obs.tcp_pose, obs.q)
        wrench = obs.wrench
        if frame is not None:
            state = frame.states_in(state)
            wrench = None if wrench is None else frame.wrenches_in(wrench)
        batch = {"images": images, "state": torch.as_tensor(state, dtype=torch.float32)[None],
                 "task": [obs.instruction]}
        if self.info.needs_wrench:
            batch["wrench"] = torch.as_tensor(wrench, dtype=torch.float32)[None]
        return batch

    # ------------------------------------------------------------------ inference
    def infer(self, obs: Observation, guide: Optional[Guide] = None, frame=None) -> Inference:
        """One chunk, in `base`. `frame` (a TargetFrame): the policy works in it (a ViTaL local
        policy); the guide is given and the chunk returned in `base`."""
        import torch

        started = time.time()
        local = getattr(self.policy.config, "action_frame", "base") != "base"
        if local != (frame is not None):
            raise ValueError("a target-frame policy needs the target's frame, a base-frame one "
                             "none" if local else "a base-frame policy takes no target frame")
        batch = self.batch(obs, frame)
        if frame is not None and guide is not None:
            guide = Guide(frame.poses_in(guide.actions), guide.weights)
        cfg = self.policy.config
        noise = torch.randn((1, cfg.chunk_size, cfg.action_dim), generator=self.generator)
        noise = noise * self.noise_scale
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16,
                                                    enabled=self.autocast):
            guidance = None if guide is None else guide.sampling_guidance(self.policy)
            actions, aux = self.policy.sample_actions(batch, noise=noise, return_aux=True,
                                                      guidance=guidance)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        actions = actions[0].float().cpu().numpy()
        if frame is not None:
            actions = frame.poses_out(actions)
        token = aux.get("force_token")
        wrench = aux.get("predicted_wrench")
        dt = self.info.action_dt
        chunk = ActionChunk(obs.stamp, np.arange(len(actions)) * dt,
                            tuple(action_to_pose(a) for a in actions))
        return Inference(chunk, actions,
                         None if token is None else token[0].float().cpu().numpy(),
                         None if wrench is None else wrench[0].float().cpu().numpy(),
                         started, time.time())

    def reset(self) -> None:
        """A new episode, or the arm is elsewhere: a single policy keeps nothing across chunks."""

    def status(self) -> dict:
        """What /diagnostics shows of the runner's state (a VitalAgent: its phase)."""
        return {}

    def warmup(self, example: Observation, iterations: int = 3) -> float:
        """Run a few inferences (allocator, kernels, caches); returns the last latency (s)."""
        last = 0.0
        for _ in range(iterations):
            last = self.infer(example).latency
        self.warm = True
        return last


def dummy_observation(info: PolicyInfo, instruction: str = "warm up", stamp: float = 0.0,
                      size=(96, 128)) -> Observation:
    """A blank observation with the shapes the policy takes (for warm-up and benches)."""
    from fdvla_msgs.types import Pose

    images = {c: np.zeros((*info.camera_sizes.get(c, size), 3), np.uint8) for c in info.camera_names}
    return Observation(stamp=stamp, images=images,
                       tcp_pose=Pose(np.array([-0.45, -0.13, 0.25]), np.array([0.0, 0.0, 0.0, 1.0])),
                       q=np.zeros(6), instruction=instruction,
                       wrench=(np.zeros(6) if info.force_history == 1 else np.zeros((info.force_history, 6)))
                       if info.needs_wrench else None)
