"""Soft actor-critic (Haarnoja et al. 2018, with the automatic entropy temperature) for the
residual: a replay buffer of decisions and one learner. Small and CPU-sized: a decision is one
chunk of the local policy, an episode tens of them."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from .configuration_residual import ResidualConfig
from .modeling_residual import OFFSET_DIM, ResidualActor, TwinCritic


class ReplayBuffer:
    """(features, action in [-1, 1]^3, reward, next features, done), the newest `size` kept."""

    def __init__(self, feature_dim: int, size: int, seed: int = 0):
        self.size, self.count, self._next = int(size), 0, 0
        self.f = np.zeros((self.size, feature_dim), np.float32)
        self.a = np.zeros((self.size, OFFSET_DIM), np.float32)
        self.r = np.zeros(self.size, np.float32)
        self.f2 = np.zeros((self.size, feature_dim), np.float32)
        self.done = np.zeros(self.size, np.float32)
        self._rng = np.random.default_rng(seed)

    def add(self, features, action, reward: float, next_features, done: bool) -> None:
        i = self._next
        self.f[i], self.a[i], self.r[i] = features, action, reward
        self.f2[i], self.done[i] = next_features, float(done)
        self._next = (i + 1) % self.size
        self.count = min(self.count + 1, self.size)

    def __len__(self) -> int:
        return self.count

    def sample(self, batch: int) -> tuple[torch.Tensor, ...]:
        idx = self._rng.integers(0, self.count, size=batch)
        return tuple(torch.from_numpy(x[idx]) for x in (self.f, self.a, self.r, self.f2,
                                                         self.done))


class SACLearner:
    def __init__(self, config: ResidualConfig, seed: int = 0):
        torch.manual_seed(seed)
        self.config = config
        self.actor = ResidualActor(config)
        self.critic = TwinCritic(config)
        self.target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(float(np.log(config.init_alpha)), requires_grad=True)
        self.target_entropy = -float(OFFSET_DIM)
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=config.lr)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=config.lr)
        self.opt_alpha = torch.optim.Adam([self.log_alpha], lr=config.lr)
        self.buffer = ReplayBuffer(config.feature_dim, config.buffer_size, seed)
        self.updates = 0

    def update(self) -> dict:
        """One gradient step of critics, actor and temperature on a sampled batch."""
        c = self.config
        f, a, r, f2, done = self.buffer.sample(c.batch_size)
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():  # soft Bellman target, the smaller of the twin target critics
            a2, logp2 = self.actor.sample(f2)
            q_next = torch.min(*self.target(f2, a2)) - alpha * logp2
            y = r + c.gamma * (1.0 - done) * q_next
        q1, q2 = self.critic(f, a)
        critic_loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)
        self.opt_critic.zero_grad()
        critic_loss.backward()
        self.opt_critic.step()

        a_new, logp = self.actor.sample(f)
        actor_loss = (alpha * logp - torch.min(*self.critic(f, a_new))).mean()
        self.opt_actor.zero_grad()
        actor_loss.backward()
        self.opt_actor.step()

        alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        self.opt_alpha.zero_grad()
        alpha_loss.backward()
        self.opt_alpha.step()

        with torch.no_grad():  # Polyak averaging of the target critics
            for p, tp in zip(self.critic.parameters(), self.target.parameters()):
                tp.mul_(1.0 - c.tau).add_(c.tau * p)
        self.updates += 1
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(),
                "alpha": float(alpha)}

    def ready(self) -> bool:
        return len(self.buffer) >= max(self.config.warmup_decisions, self.config.batch_size)
