"""Env construction for training and evaluation: the registered env with the training wrappers
(action rescaling, episode metrics, Monitor), vectorized as training and evaluation build it.
"""

from __future__ import annotations

import importlib
import signal
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import FilterObservation, RescaleAction
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

import muscle_envs
from muscle_envs.observations import CATEGORICAL
from muscle_envs.vector import new_monitor_file
from muscle_train.config import POLICY_ACTION_RANGE, VEC_ENVS, RunConfig, RunError, plain

TRAINING_EVAL_ENVS = 5  # periodic evaluation episodes run side by side, in one process (make_eval_env)
EVAL_SEED_OFFSET = 10_000  # periodic evaluation episodes are seeded with the run's seed + this


def qualified_id(env_id: str) -> str:
    """``muscle_envs:<id>`` for our ids, so worker processes that never imported the package (spawn,
    forkserver) can still make the env."""
    return f"muscle_envs:{env_id}" if env_id in muscle_envs.ENV_IDS else env_id


def check_env_id(env_id: str) -> None:
    """Raise RunError, with Gymnasium's suggestions, if ``env_id`` ([module:]name) is not registered;
    for an id this package retired (``muscle_envs.RETIRED_IDS``), say why it is gone."""
    module, _, name = env_id.rpartition(":")
    if name in muscle_envs.RETIRED_IDS:
        raise RunError(f"env {name} no longer exists: {muscle_envs.RETIRED_IDS[name]}")
    try:
        if module:
            importlib.import_module(module)
        gym.spec(name)
    except (gym.error.Error, ImportError) as err:
        raise RunError(f"unknown env id {env_id!r}: {err}") from None


class EpisodeMetrics(gym.Wrapper):
    """Adds ``info["episode_metrics"]`` at an episode's last step: what a learning curve plots.

    Holds ``reward/<term>`` (each ``reward_<term>`` of ``info`` summed over the episode) and
    ``task/<name>`` (the env's ``episode_metrics()``, e.g. the arm's final distance and reach time).
    Once per episode and a few floats, so it is cheap to send through SubprocVecEnv's pipes.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._sums: dict[str, float] = {}
        self._task = getattr(env.unwrapped, "episode_metrics", None)

    def reset(self, **kwargs: Any):
        self._sums = {}
        return self.env.reset(**kwargs)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        sums = self._sums
        if not sums:
            sums.update((key, 0.0) for key in info if key.startswith("reward_"))
        for key in sums:
            sums[key] += info.get(key, 0.0)
        if terminated or truncated:
            metrics = {f"reward/{key[7:]}": value for key, value in sums.items()}
            if self._task is not None:
                metrics.update((f"task/{key}", value) for key, value in self._task().items())
            info["episode_metrics"] = metrics
        return obs, reward, terminated, truncated, info


def normalized_keys(space: gym.Space, raw_keys: tuple[str, ...]) -> list[str] | None:
    """The entries of a ``Dict`` observation a normalizer standardizes: all but those a policy reads in
    their units (``raw_keys``) and the codes (``muscle_envs.observations.CATEGORICAL``); None for a
    ``Box`` (all of it)."""
    if not isinstance(space, gym.spaces.Dict):
        return None
    return [key for key in space.spaces if key not in raw_keys and key not in CATEGORICAL]


def make_env(
    env_id: str,
    env_kwargs: dict[str, Any],
    action_range: tuple[float, float] | None,
    render_mode: str | None = None,
    monitor_file: Path | None = None,
    observation_keys: tuple[str, ...] | None = None,
) -> gym.Env:
    """One env as training uses it: the registered env, its action rescaling (continuous actions),
    only ``observation_keys`` of its observation (if given), episode metrics and a Monitor (writing
    ``monitor_file`` if given)."""
    env = gym.make(qualified_id(env_id), render_mode=render_mode, **env_kwargs)
    if observation_keys is not None:
        env = FilterObservation(env, list(observation_keys))
    if action_range is not None and isinstance(env.action_space, gym.spaces.Box):
        low, high = np.float32(action_range[0]), np.float32(action_range[1])  # float32 like the env's space
        env = RescaleAction(env, low, high)
    env = EpisodeMetrics(env)
    return Monitor(
        env,
        filename=None if monitor_file is None else str(monitor_file),
        info_keywords=("is_success",),
        override_existing=monitor_file is None or new_monitor_file(monitor_file),  # a resumed run appends
    )


def _env_factory(
    env_id: str,
    env_kwargs: dict[str, Any],
    action_range: tuple[float, float] | None,
    monitor_file: Path | None,
    worker: bool,
) -> Callable[[], gym.Env]:
    def build() -> gym.Env:
        if worker:
            import torch  # in a worker process: one torch thread, and Ctrl-C is the main process's job

            torch.set_num_threads(1)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return make_env(env_id, env_kwargs, action_range, monitor_file=monitor_file)

    return build


def make_vec_env(
    env_id: str,
    env_kwargs: dict[str, Any],
    n_envs: int,
    vec_env: str,
    seed: int,
    action_range: tuple[float, float] | None = POLICY_ACTION_RANGE,
    monitor_dir: Path | None = None,
    start_method: str | None = None,
    observation_keys: tuple[str, ...] | None = None,
) -> VecEnv:
    """``n_envs`` copies in a DummyVecEnv, SubprocVecEnv or BatchedVecEnv, seeded seed..seed+n-1,
    showing only ``observation_keys`` of a ``Dict`` observation if given.

    SubprocVecEnv's workers build their envs from the module-qualified id, so any start method works
    (fork, forkserver, spawn; ``start_method=None`` is forkserver on Linux). BatchedVecEnv
    (``muscle_envs.vector``: one process, the physics on native threads) gives the same observations,
    rewards and resets as the other two.
    """
    if vec_env not in VEC_ENVS:
        raise RunError(f"vec_env must be one of {VEC_ENVS}, got {vec_env!r}")
    if monitor_dir is not None:
        monitor_dir.mkdir(parents=True, exist_ok=True)
    if vec_env == "batched":
        from muscle_envs.vector import BatchedVecEnv

        try:
            venv: VecEnv = BatchedVecEnv(env_id, n_envs, env_kwargs, action_range, monitor_dir=monitor_dir)
        except ValueError as err:
            raise RunError(f"vec_env batched: {err}") from None
    else:
        factories = [
            _env_factory(
                env_id,
                env_kwargs,
                action_range,
                None if monitor_dir is None else monitor_dir / str(rank),
                worker=vec_env == "subproc",
            )
            for rank in range(n_envs)
        ]
        venv = (
            SubprocVecEnv(factories, start_method=start_method)
            if vec_env == "subproc"
            else DummyVecEnv(factories)
        )
    if observation_keys is not None:  # (one wrapper for every kind, so normalizers sync across them)
        venv = VecFilterKeys(venv, observation_keys)
    venv.seed(seed)
    return venv


def make_run_vec_env(
    config: RunConfig, n_envs: int, vec_env: str = "dummy", monitor_dir: Path | None = None
) -> VecEnv:
    """``n_envs`` envs of a run (its env id, options, action range, seed and observation keys), as
    :func:`make_vec_env` builds them."""
    return make_vec_env(
        config.env,
        config.env_kwargs,
        n_envs,
        vec_env,
        config.seed,
        config.action_range,
        monitor_dir,
        observation_keys=config.observation_keys,
    )


def make_eval_env(config: RunConfig) -> VecEnv:
    """The envs of a run's periodic evaluations: up to ``TRAINING_EVAL_ENVS`` episodes side by side
    in one process, with neither wrapper nor normalizer beyond ``make_env``'s."""
    return make_run_vec_env(config, max(1, min(TRAINING_EVAL_ENVS, config.n_eval_episodes)))


def initial_action(config: RunConfig) -> np.ndarray | None:
    """The action (in the policy's range, ``config.action_range``) a new policy's mean starts at, as
    ``config.initial_action`` names it; None: the policy's own initialisation.

    Raises:
        RunError: the env has no such action (``holding``: an env without a holding excitation).
    """
    if config.initial_action is None:
        return None
    env = gym.make(qualified_id(config.env), **config.env_kwargs)
    try:
        excitation = env.unwrapped.holding_excitation()
        space = env.action_space
    finally:
        env.close()
    if excitation is None:
        raise RunError(f"initial_action: {config.env} has no holding excitation; leave initial_action unset")
    if config.action_range is None:
        return excitation
    low, high = config.action_range  # RescaleAction's map, inverted: env excitation -> policy action
    return low + (excitation - space.low) * (high - low) / (space.high - space.low)


def check_env_options(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Make the env once here, so that a bad option is reported in one line rather than from inside
    a worker process. Returns its resolved options (its config object, if any) for config.yml."""
    try:
        env = gym.make(qualified_id(env_id), **env_kwargs)
    except (TypeError, ValueError) as err:
        raise RunError(f"{env_id} rejected the env options {env_kwargs}: {err}") from None
    config = getattr(env.unwrapped, "config", None)
    env.close()
    return plain(asdict(config)) if is_dataclass(config) else {}


def check_observation_keys(env_id: str, env_kwargs: dict[str, Any], keys: tuple[str, ...] | None) -> None:
    """Raise RunError unless ``keys`` (a run's ``observation_keys``) are some of the env's ``Dict``
    observation keys, each once; None (all of them) passes."""
    if keys is None:
        return
    if isinstance(keys, str) or not keys:
        raise RunError(f"observation_keys must be a non-empty list of observation keys, got {keys!r}")
    env = gym.make(qualified_id(env_id), **env_kwargs)
    space = env.observation_space
    env.close()
    if not isinstance(space, gym.spaces.Dict):
        raise RunError(f"observation_keys: {env_id} has a flat observation ({space}), not a Dict of keys")
    unknown = [key for key in keys if key not in space.spaces]
    if unknown:
        raise RunError(f"observation_keys: {unknown} are not in {env_id}'s observation: {list(space.spaces)}")
    if len(set(keys)) < len(keys):
        raise RunError(f"observation_keys names a key twice: {list(keys)}")


class VecFilterKeys(VecEnvWrapper):
    """Only ``keys`` of a vectorized env's ``Dict`` observations (terminal observations included), as
    Gymnasium's ``FilterObservation`` does for one env."""

    def __init__(self, venv: VecEnv, keys: tuple[str, ...]):
        space = venv.observation_space
        missing = sorted(set(keys) - set(space.spaces)) if isinstance(space, gym.spaces.Dict) else keys
        if missing:
            raise RunError(f"observation keys {list(missing)} are not in the env's observation {space}")
        filtered = gym.spaces.Dict({key: space.spaces[key] for key in keys})
        super().__init__(venv, observation_space=filtered)
        self._keys = tuple(filtered.spaces)

    def _filtered(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {key: obs[key] for key in self._keys}

    def reset(self) -> VecEnvObs:
        return self._filtered(self.venv.reset())

    def step_wait(self) -> VecEnvStepReturn:
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:
            if "terminal_observation" in info:
                info["terminal_observation"] = self._filtered(info["terminal_observation"])
        return self._filtered(obs), rewards, dones, infos
