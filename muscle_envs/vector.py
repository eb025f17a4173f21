"""BatchedVecEnv: a Stable-Baselines3 ``VecEnv`` that steps many copies of a muscle env as one batch.

DummyVecEnv and SubprocVecEnv step each env through its own Python objects (the env, its wrappers,
a Monitor; and with SubprocVecEnv a pipe round trip per env and step). BatchedVecEnv is one
:class:`~muscle_envs.batch.EnvBatch`: the physics of every copy in one ``mujoco.batch`` call on
native threads (the GIL released, so one process uses every core), the env's task code once per
step over arrays, and the wrappers' work (action rescaling, time limit, episode statistics, Monitor
files) once per batch too.

Observations, rewards, episode ends and resets are those of ``gym.make(env_id)`` under
``muscle_train.envs.make_env``'s wrappers (tests/test_vector.py compares them step by step): same
seeds (``seed + i`` for env i), same start states, the registered time limit, and actions rescaled
from ``action_range`` to the muscles' [0, 1] like Gymnasium's ``RescaleAction``. ``info`` is empty
except at an episode's end, where it holds what SB3 and train_sb3.py read: ``is_success``,
``episode`` (Monitor's ``r``, ``l``, ``t``), ``episode_metrics`` (``reward/<term>`` sums and
``task/<metric>``, as ``muscle_train.envs.EpisodeMetrics``), ``TimeLimit.truncated``,
``terminal_observation`` and the env's ``end_info_keys``.

This module imports Stable-Baselines3; ``import muscle_envs`` does not import it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers.utils import rescale_box
from numpy.typing import NDArray
from stable_baselines3.common.monitor import Monitor, ResultsWriter
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

import muscle_envs  # noqa: F401  (registers the ids)
from muscle_envs.batch import EnvBatch, checked_actions


class BatchedVecEnv(VecEnv):
    """``n_envs`` copies of a muscle env, stepped as one batch (:class:`~muscle_envs.batch.EnvBatch`).

    Args:
        env_id: a registered muscle env id (every id of ``muscle_envs.ENV_IDS``).
        n_envs: number of envs.
        env_kwargs: env options, as for ``gym.make(env_id, **env_kwargs)``.
        action_range: the actions' range (``(-1, 1)``: what a Gaussian policy emits); each is mapped
            linearly onto the muscles' [0, 1], like Gymnasium's ``RescaleAction``. None: excitations.
        n_threads: native threads for the physics (default: the CPU cores this process may use, at
            most ``n_envs``).
        monitor_dir: write each env's episodes to ``<monitor_dir>/<i>.monitor.csv``, as SB3's Monitor.
        render_mode: passed to the env (``get_images()`` renders each env).

    Raises ``ValueError`` for an env that is not a muscle env, and for actions of the wrong shape or
    with NaN/inf (nothing is stepped then).
    """

    def __init__(
        self,
        env_id: str,
        n_envs: int,
        env_kwargs: dict[str, Any] | None = None,
        action_range: tuple[float, float] | None = (-1.0, 1.0),
        n_threads: int | None = None,
        monitor_dir: Path | None = None,
        render_mode: str | None = None,
    ):
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        env = gym.make(env_id, render_mode=render_mode, **dict(env_kwargs or {}))
        try:
            self.batch = EnvBatch(env.unwrapped, n_envs, n_threads)
        except BaseException:
            env.close()
            raise
        self.env = self.batch.env
        self.max_steps = env.spec.max_episode_steps or np.iinfo(np.int64).max
        action_space = self.env.action_space
        self._to_excitation = None
        if action_range is not None:
            low, high = np.float32(action_range[0]), np.float32(action_range[1])
            action_space, _, self._to_excitation = rescale_box(action_space, low, high)
        super().__init__(n_envs, self.env.observation_space, action_space)
        self.render_mode = render_mode
        self.closed = False
        self._actions: NDArray | None = None
        self._elapsed = np.zeros(n_envs, dtype=np.int64)
        self._returns = np.zeros(n_envs)
        self._term_sums = np.zeros((n_envs, len(self.env.reward_terms)))
        self._t_start = time.time()
        self._writers = None
        if monitor_dir is not None:
            header = {"t_start": self._t_start, "env_id": env_id}
            self._writers = [
                ResultsWriter(
                    str(monitor_dir / str(rank)),
                    header=header,
                    extra_keys=("is_success",),
                    override_existing=new_monitor_file(monitor_dir / str(rank)),
                )
                for rank in range(n_envs)
            ]

    @property
    def n_threads(self) -> int:
        """Native threads stepping the physics."""
        return self.batch.n_threads

    # -- VecEnv API -----------------------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        rows, self.reset_infos = [], []
        for i, (seed, options) in enumerate(zip(self._seeds, self._options, strict=True)):
            row, info = self._reset(i, seed, options or None)
            rows.append(row)
            self.reset_infos.append(info)
        self._reset_seeds()
        self._reset_options()
        return self.env.observation(np.stack(rows))

    def step_async(self, actions: NDArray) -> None:
        self._actions = checked_actions(actions, (self.num_envs, *self.action_space.shape))

    def step_wait(self) -> VecEnvStepReturn:
        actions = self._actions
        excitation = actions if self._to_excitation is None else self._to_excitation(actions)
        vectors, reward, terms, terminated, truncated, success, extra = self.batch.step(excitation)
        self._elapsed += 1
        self._returns += reward
        for k, term in enumerate(terms):
            self._term_sums[:, k] += term
        dones = terminated | truncated | (self._elapsed >= self.max_steps)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            for i in np.flatnonzero(dones).tolist():
                info = self._end_info(i, bool(success[i]), extra)
                info["TimeLimit.truncated"] = not terminated[i]
                info["terminal_observation"] = self.env.observation(vectors[i].copy())
                infos[i] = info
                vectors[i], _ = self._reset(i, None, None)
        return self.env.observation(vectors), reward.astype(np.float32), dones, infos

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.batch.close()
        for writer in self._writers or []:
            writer.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [self._with_lane(i, getattr, attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the env object that serves every env of the batch (per-episode variables
        are each env's own: reset options set those)."""
        setattr(self.env, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        def call(env: Any) -> Any:
            return getattr(env, method_name)(*method_args, **method_kwargs)

        return [self._with_lane(i, call) for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        # The batch does Monitor's bookkeeping itself (info["episode"]), so it counts as Monitor-wrapped.
        return [wrapper_class is Monitor for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[NDArray | None]:
        return self.env_method("render")

    # -- helpers -------------------------------------------------------------------------------------
    def _with_lane(self, i: int, function: Any, *args: Any) -> Any:
        with self.batch.lane(i) as env:
            return function(env, *args)

    def _reset(self, i: int, seed: int | None, options: dict | None) -> tuple[NDArray, dict]:
        vector, info = self.batch.reset(i, seed, options)
        self._elapsed[i] = 0
        self._returns[i] = 0.0
        self._term_sums[i] = 0.0
        return vector, info

    def _end_info(self, i: int, success: bool, extra: dict[str, Any]) -> dict[str, Any]:
        """Env ``i``'s info at the end of its episode (before its reset)."""
        sums = zip(self.env.reward_terms, self._term_sums[i].tolist(), strict=True)
        metrics = {f"reward/{key.removeprefix('reward_')}": value for key, value in sums}
        with self.batch.lane(i, load=False) as env:
            metrics.update((f"task/{key}", value) for key, value in env.episode_metrics().items())
        episode = {
            "r": round(float(self._returns[i]), 6),
            "l": int(self._elapsed[i]),
            "t": round(time.time() - self._t_start, 6),
            "is_success": success,
        }
        if self._writers is not None:
            self._writers[i].write_row(episode)
        info = {"is_success": success, "episode": episode, "episode_metrics": metrics}
        for key in self.env.end_info_keys:
            info[key] = extra[key][i].item()
        return info


def new_monitor_file(filename: str | Path) -> bool:
    """Whether SB3's Monitor (or ResultsWriter) at ``filename`` starts a new file (header first) rather
    than appending to the one a run wrote before it was resumed: episode logs are never truncated."""
    name = str(filename)
    if not name.endswith(Monitor.EXT):
        name = f"{name}.{Monitor.EXT}"
    return not Path(name).is_file()


class FastVecNormalize(VecNormalize):
    """``VecNormalize`` with the same statistics, results and saved fields, faster on ``Dict``
    observations of vectors: it updates and applies the statistics of all normalized keys at once,
    side by side, where ``VecNormalize`` runs some 15 numpy calls and a ``deepcopy`` per key and
    step (about 1 ms per step for the arm's seven keys, as long as stepping 16 arm envs).

    The per-key ``obs_rms`` stay the statistics (``sync_envs_normalization`` and saved files see
    ``VecNormalize``'s fields); the arithmetic is the same, element by element, so the numbers are
    bit-identical (tests/test_vector.py). Other observations take ``VecNormalize``'s own path.
    """

    def _batched_keys(self, obs: Any) -> list[str] | None:
        """The normalized keys, if ``obs`` is a dict of vectors (one per env, or one)."""
        if not (self.norm_obs and isinstance(obs, dict) and isinstance(self.obs_rms, dict)):
            return None
        keys = list(self.norm_obs_keys)
        stats = [self.obs_rms[key] for key in keys]
        together = all(rms.mean.ndim == 1 and rms.count == stats[0].count for rms in stats)
        return keys if together else None  # (the keys' statistics were updated together)

    def _update_obs_rms(self, obs: Any) -> None:
        keys = self._batched_keys(obs)
        if keys is None:
            if isinstance(obs, dict) and isinstance(self.obs_rms, dict):
                for key in self.obs_rms:
                    self.obs_rms[key].update(obs[key])
            else:
                self.obs_rms.update(obs)
            return
        # RunningMeanStd.update over the keys side by side: the same operations per element
        stats = [self.obs_rms[key] for key in keys]
        combined = RunningMeanStd(shape=())
        combined.mean = np.concatenate([rms.mean for rms in stats])
        combined.var = np.concatenate([rms.var for rms in stats])
        combined.count = stats[0].count
        combined.update(np.concatenate([obs[key] for key in keys], axis=-1))
        start = 0
        for rms in stats:
            stop = start + rms.mean.size
            rms.mean, rms.var, rms.count = combined.mean[start:stop], combined.var[start:stop], combined.count
            start = stop

    def normalize_obs(self, obs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        keys = self._batched_keys(obs)
        if keys is None:
            return super().normalize_obs(obs)
        stats = [self.obs_rms[key] for key in keys]
        mean = np.concatenate([rms.mean for rms in stats])
        var = np.concatenate([rms.var for rms in stats])
        stacked = np.concatenate([obs[key] for key in keys], axis=-1)
        scaled = np.clip((stacked - mean) / np.sqrt(var + self.epsilon), -self.clip_obs, self.clip_obs)
        scaled = scaled.astype(np.float32)
        normalized, start = {}, 0
        for key, rms in zip(keys, stats, strict=True):
            normalized[key] = scaled[..., start : start + rms.mean.size]
            start += rms.mean.size
        return {key: normalized[key] if key in normalized else np.array(value) for key, value in obs.items()}

    def step_wait(self) -> VecEnvStepReturn:
        # VecNormalize.step_wait, with the statistics updated by _update_obs_rms
        obs, rewards, dones, infos = self.venv.step_wait()
        self.old_obs = obs
        self.old_reward = rewards
        if self.training and self.norm_obs:
            self._update_obs_rms(obs)
        obs = self.normalize_obs(obs)
        if self.training:
            self._update_reward(rewards)
        rewards = self.normalize_reward(rewards)
        for i in np.flatnonzero(dones):
            if "terminal_observation" in infos[i]:
                infos[i]["terminal_observation"] = self.normalize_obs(infos[i]["terminal_observation"])
        self.returns[dones] = 0
        return obs, rewards, dones, infos

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self.old_obs = obs
        self.returns = np.zeros(self.num_envs)
        if self.training and self.norm_obs:
            self._update_obs_rms(obs)
        return self.normalize_obs(obs)
