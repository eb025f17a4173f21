"""Prioritized experience replay (Schaul et al. 2016) for SAC and TD3, which Stable-Baselines3 lacks,
and the replay buffer's own file, so that an off-policy run resumes with what it had learnt from.

Proportional prioritization: transition i is drawn with probability P(i) = p_i^alpha / sum_k p_k^alpha,
where p_i = |TD error| + epsilon of its last replay (new transitions get the largest priority so far,
so each is replayed at least once). Its loss is weighted by w_i = (N P(i))^-beta / max_j w_j, with
beta annealed linearly from ``beta`` to 1 over training. A sum tree draws a batch in O(batch log N).

    # hyperparams.yml (sac or td3 entry), or --hyperparams FILE:
    replay_buffer_class: prioritized
    replay_buffer_kwargs: {alpha: 0.6, beta: 0.4}

:class:`SAC` and :class:`TD3` are SB3's with one change to ``train()``: with a prioritized buffer the
critic loss is weighted and the sampled transitions' priorities updated from their TD errors (the
mean over the critics); with SB3's own buffers they train exactly as SB3's do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import SAC as _SAC
from stable_baselines3 import TD3 as _TD3
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.type_aliases import DictReplayBufferSamples, ReplayBufferSamples
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.common.vec_env import VecNormalize


class SumTree:
    """A binary tree whose every node holds the sum of its children's values: leaf updates and
    prefix-sum searches in O(log n), for whole arrays of leaves at once."""

    def __init__(self, capacity: int):
        self.size = 1 << max(0, math.ceil(math.log2(max(capacity, 1))))
        self.depth = int(math.log2(self.size))
        self.tree = np.zeros(2 * self.size)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def values(self, leaves: np.ndarray) -> np.ndarray:
        return self.tree[np.asarray(leaves) + self.size]

    def update(self, leaves: np.ndarray, values: np.ndarray) -> None:
        """Set ``leaves`` to ``values`` (a leaf given twice keeps its last value) and every sum above."""
        nodes = np.asarray(leaves, dtype=np.int64) + self.size
        self.tree[nodes] = values
        for _ in range(self.depth):
            nodes = np.unique(nodes // 2)
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]

    def find(self, prefix: np.ndarray) -> np.ndarray:
        """For each prefix sum in [0, total), the leaf whose cumulative range holds it."""
        prefix = np.array(prefix, dtype=np.float64)
        nodes = np.ones(prefix.shape, dtype=np.int64)
        for _ in range(self.depth):
            left = self.tree[2 * nodes]
            right = prefix >= left
            prefix = np.where(right, prefix - left, prefix)
            nodes = 2 * nodes + right
        return nodes - self.size


class _Prioritized:
    """The prioritization of a SB3 replay buffer (mixed into ReplayBuffer and DictReplayBuffer)."""

    def _init_priorities(self, alpha: float, beta: float, epsilon: float) -> None:
        if not 0 <= alpha <= 1 or not 0 <= beta <= 1 or epsilon <= 0:
            raise ValueError(
                f"prioritized replay needs 0 <= alpha, beta <= 1 and epsilon > 0: {alpha}, {beta}, {epsilon}"
            )
        if self.optimize_memory_usage:
            raise ValueError("prioritized replay does not support optimize_memory_usage")
        self.alpha, self.beta_start, self.beta, self.epsilon = alpha, beta, beta, epsilon
        self.tree = SumTree(self.buffer_size * self.n_envs)
        self.max_priority = 1.0
        self.sampled: np.ndarray | None = None  # the leaves of the last batch ...
        self.weights: th.Tensor | None = None  # ... and their importance-sampling weights, (batch, 1)

    def anneal(self, progress_remaining: float) -> None:
        """beta from its start value at the beginning of training to 1 at its end."""
        self.beta = self.beta_start + (1.0 - self.beta_start) * (1.0 - progress_remaining)

    def add(self, *args: Any, **kwargs: Any) -> None:
        leaves = self.pos * self.n_envs + np.arange(self.n_envs)
        super().add(*args, **kwargs)
        self.tree.update(leaves, np.full(self.n_envs, self.max_priority**self.alpha))

    def sample(self, batch_size: int, env: VecNormalize | None = None):
        """A batch drawn in proportion to priority, one draw per equal slice of the total (stratified);
        ``weights`` and ``sampled`` describe it."""
        total = self.tree.total
        draws = np.random.uniform(size=batch_size)  # noqa: NPY002 (SB3 seeds and samples from it)
        prefix = (np.arange(batch_size) + draws) * (total / batch_size)
        leaves = self.tree.find(np.minimum(prefix, np.nextafter(total, 0.0)))
        probability = self.tree.values(leaves) / total
        stored = self.size() * self.n_envs
        weights = (stored * probability) ** -self.beta
        self.sampled = leaves
        self.weights = th.as_tensor(weights / weights.max(), dtype=th.float32, device=self.device).reshape(
            -1, 1
        )
        return self._gather(leaves // self.n_envs, leaves % self.n_envs, env)

    def update_priorities(self, td_errors: np.ndarray) -> None:
        """The last batch's priorities from its TD errors."""
        assert self.sampled is not None, "sample() first"
        priorities = np.abs(td_errors) + self.epsilon
        self.max_priority = max(self.max_priority, float(priorities.max()))
        self.tree.update(self.sampled, priorities**self.alpha)

    def _gather(self, steps: np.ndarray, envs: np.ndarray, env: VecNormalize | None):
        dones = (self.dones[steps, envs] * (1 - self.timeouts[steps, envs])).reshape(-1, 1)
        rewards = self._normalize_reward(self.rewards[steps, envs].reshape(-1, 1), env)
        actions = self.to_torch(self.actions[steps, envs])
        if isinstance(self.observations, dict):
            obs = self._normalize_obs({k: v[steps, envs] for k, v in self.observations.items()}, env)
            nxt = self._normalize_obs({k: v[steps, envs] for k, v in self.next_observations.items()}, env)
            return DictReplayBufferSamples(
                {k: self.to_torch(v) for k, v in obs.items()},
                actions,
                {k: self.to_torch(v) for k, v in nxt.items()},
                self.to_torch(dones),
                self.to_torch(rewards),
            )
        obs = self._normalize_obs(self.observations[steps, envs], env)
        nxt = self._normalize_obs(self.next_observations[steps, envs], env)
        return ReplayBufferSamples(*map(self.to_torch, (obs, self.actions[steps, envs], nxt, dones, rewards)))


class PrioritizedReplayBuffer(_Prioritized, ReplayBuffer):
    """SB3's ReplayBuffer with proportional prioritization (``alpha``, ``beta``, ``epsilon``)."""

    def __init__(
        self, *args: Any, alpha: float = 0.6, beta: float = 0.4, epsilon: float = 1e-6, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self._init_priorities(alpha, beta, epsilon)


class PrioritizedDictReplayBuffer(_Prioritized, DictReplayBuffer):
    """SB3's DictReplayBuffer (``Dict`` observations) with proportional prioritization."""

    def __init__(
        self, *args: Any, alpha: float = 0.6, beta: float = 0.4, epsilon: float = 1e-6, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self._init_priorities(alpha, beta, epsilon)


REPLAY_BUFFERS = {"prioritized": (PrioritizedReplayBuffer, PrioritizedDictReplayBuffer)}


def replay_buffer_class(name: str | None, observation_space: spaces.Space) -> type[ReplayBuffer] | None:
    """The buffer class hyperparams.yml names (``prioritized``), for these observations; None: SB3's."""
    if name is None:
        return None
    if name not in REPLAY_BUFFERS:
        raise ValueError(
            f"replay_buffer_class must be one of {sorted(REPLAY_BUFFERS)} (or unset), got {name!r}"
        )
    flat, for_dict = REPLAY_BUFFERS[name]
    return for_dict if isinstance(observation_space, spaces.Dict) else flat


def critic_loss(buffer: ReplayBuffer, current_q: tuple[th.Tensor, ...], target_q: th.Tensor) -> th.Tensor:
    """The sum over critics of the mean squared TD error; for a prioritized buffer weighted by the
    batch's importance-sampling weights, and the batch's priorities updated from the TD errors."""
    if not isinstance(buffer, _Prioritized):
        return sum(th.nn.functional.mse_loss(q, target_q) for q in current_q)
    errors = [q - target_q for q in current_q]
    buffer.update_priorities(th.stack(errors).abs().mean(0).detach().cpu().numpy().ravel())
    return sum((buffer.weights * error.pow(2)).mean() for error in errors)


class SAC(_SAC):
    """SB3's SAC; its critic loss weighted, and priorities updated, with a prioritized buffer."""

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        self._update_learning_rate(optimizers)
        if isinstance(self.replay_buffer, _Prioritized):
            self.replay_buffer.anneal(self._current_progress_remaining)
        ent_coef_losses, ent_coefs, actor_losses, critic_losses = [], [], [], []
        for gradient_step in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            discounts = data.discounts if data.discounts is not None else self.gamma
            if self.use_sde:
                self.actor.reset_noise()
            actions_pi, log_prob = self.actor.action_log_prob(data.observations)
            log_prob = log_prob.reshape(-1, 1)
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                ent_coef = th.exp(self.log_ent_coef.detach())
                ent_coef_loss = -(self.log_ent_coef * (log_prob + self.target_entropy).detach()).mean()
                ent_coef_losses.append(ent_coef_loss.item())
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()
            else:
                ent_coef = self.ent_coef_tensor
            ent_coefs.append(ent_coef.item())
            with th.no_grad():
                next_actions, next_log_prob = self.actor.action_log_prob(data.next_observations)
                next_q = th.cat(self.critic_target(data.next_observations, next_actions), dim=1)
                next_q = th.min(next_q, dim=1, keepdim=True)[0] - ent_coef * next_log_prob.reshape(-1, 1)
                target_q = data.rewards + (1 - data.dones) * discounts * next_q
            loss = 0.5 * critic_loss(
                self.replay_buffer, self.critic(data.observations, data.actions), target_q
            )
            critic_losses.append(loss.item())
            self.critic.optimizer.zero_grad()
            loss.backward()
            self.critic.optimizer.step()
            q_pi = th.cat(self.critic(data.observations, actions_pi), dim=1)
            actor_loss = (ent_coef * log_prob - th.min(q_pi, dim=1, keepdim=True)[0]).mean()
            actor_losses.append(actor_loss.item())
            self.actor.optimizer.zero_grad()
            actor_loss.backward()
            self.actor.optimizer.step()
            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", np.mean(ent_coefs))
        self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/critic_loss", np.mean(critic_losses))
        if ent_coef_losses:
            self.logger.record("train/ent_coef_loss", np.mean(ent_coef_losses))


class TD3(_TD3):
    """SB3's TD3; its critic loss weighted, and priorities updated, with a prioritized buffer."""

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        if isinstance(self.replay_buffer, _Prioritized):
            self.replay_buffer.anneal(self._current_progress_remaining)
        actor_losses, critic_losses = [], []
        for _ in range(gradient_steps):
            self._n_updates += 1
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            discounts = data.discounts if data.discounts is not None else self.gamma
            with th.no_grad():
                noise = data.actions.clone().data.normal_(0, self.target_policy_noise)
                noise = noise.clamp(-self.target_noise_clip, self.target_noise_clip)
                next_actions = (self.actor_target(data.next_observations) + noise).clamp(-1, 1)
                next_q = th.cat(self.critic_target(data.next_observations, next_actions), dim=1)
                target_q = (
                    data.rewards + (1 - data.dones) * discounts * th.min(next_q, dim=1, keepdim=True)[0]
                )
            loss = critic_loss(self.replay_buffer, self.critic(data.observations, data.actions), target_q)
            critic_losses.append(loss.item())
            self.critic.optimizer.zero_grad()
            loss.backward()
            self.critic.optimizer.step()
            if self._n_updates % self.policy_delay == 0:
                actor_loss = -self.critic.q1_forward(data.observations, self.actor(data.observations)).mean()
                actor_losses.append(actor_loss.item())
                self.actor.optimizer.zero_grad()
                actor_loss.backward()
                self.actor.optimizer.step()
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.actor.parameters(), self.actor_target.parameters(), self.tau)
                polyak_update(self.critic_batch_norm_stats, self.critic_batch_norm_stats_target, 1.0)
                polyak_update(self.actor_batch_norm_stats, self.actor_batch_norm_stats_target, 1.0)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if actor_losses:
            self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/critic_loss", np.mean(critic_losses))


# -- the replay buffer's file ------------------------------------------------------------------------
REPLAY_FILE = "replay_buffer.npz"


def save_replay(buffer: ReplayBuffer, path: Path) -> None:
    """The buffer's transitions, position and (prioritized) priorities as one ``.npz`` (no pickle)."""
    arrays: dict[str, np.ndarray] = {"pos": np.array(buffer.pos), "full": np.array(buffer.full)}
    for name in ("actions", "rewards", "dones", "timeouts"):
        arrays[name] = getattr(buffer, name)
    for name in ("observations", "next_observations"):
        value = getattr(buffer, name)
        if isinstance(value, dict):
            arrays.update({f"{name}.{key}": v for key, v in value.items()})
        elif value is not None:
            arrays[name] = value
    if isinstance(buffer, _Prioritized):
        arrays["priority_tree"] = buffer.tree.tree
        arrays["max_priority"] = np.array(buffer.max_priority)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_replay(buffer: ReplayBuffer, path: Path) -> None:
    """Fill ``buffer`` (made for the same spaces and size) from :func:`save_replay`'s file.

    Raises:
        ValueError: the file holds another shape of buffer (another env, buffer size, or kind).
    """
    with np.load(path, allow_pickle=False) as data:
        stored = dict(data)
    for name in ("actions", "rewards", "dones", "timeouts", "observations", "next_observations"):
        value = getattr(buffer, name)
        targets = value.items() if isinstance(value, dict) else [(None, value)] if value is not None else []
        for key, array in targets:
            entry = name if key is None else f"{name}.{key}"
            if entry not in stored or stored[entry].shape != array.shape:
                raise ValueError(
                    f"{path} does not hold this run's replay buffer ({entry} missing or reshaped)"
                )
            array[...] = stored[entry]
    if isinstance(buffer, _Prioritized) != ("priority_tree" in stored):
        raise ValueError(f"{path} holds a buffer of the other kind (prioritized or not)")
    if isinstance(buffer, _Prioritized):
        buffer.tree.tree[...] = stored["priority_tree"]
        buffer.max_priority = float(stored["max_priority"])
    buffer.pos, buffer.full = int(stored["pos"]), bool(stored["full"])
