"""Many copies of a muscle env in one process: the physics on ``mujoco.batch``'s native threads, the
env's task code once per step over arrays (``muscle_envs.lanes``).

:class:`EnvBatch` is the engine; :class:`MuscleVectorEnv` is it as a Gymnasium ``VectorEnv``
(``gym.make_vec(env_id, num_envs)``), and ``muscle_envs.vector.BatchedVecEnv`` as a
Stable-Baselines3 ``VecEnv``. Both give the episodes that the same number of single envs would, bit
for bit: same seeds, same start states, same observations and rewards (tests/test_vector.py).

This module imports MuJoCo, NumPy and Gymnasium only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from numpy.typing import NDArray

from muscle_envs.core import MuscleEnv, Outcome
from muscle_envs.lanes import EpisodeState, Lanes, OneLane
from muscle_envs.plants.base import MusclePlant
from muscle_envs.plants.batch import BatchPlant


class EnvBatch:
    """``n`` copies of the muscle env ``env``, stepped together.

    One env object serves them all: its task code steps every copy at once (``env._step`` over
    :class:`~muscle_envs.lanes.Lanes`: a :class:`~muscle_envs.plants.batch.BatchPlant` and one row
    of per-episode variables per copy), and, for what concerns one copy (a reset, its attributes, a
    frame), :meth:`lane` turns the env object into that copy for a moment: its plant's ``MjData``
    holds the copy's simulation, ``env.lanes.episode`` is the copy's row and ``env.np_random`` the
    copy's generator. Per-episode variables are the only per-copy state; an attribute set on the env
    object (``set_attr``) is set for every copy. A batch of one is the env itself: its own ``MjData``
    and its one-lane task code, which beat array arithmetic on arrays of one.

    Args:
        env: an unwrapped muscle env (``gym.make(id, **options).unwrapped``), the copies' template.
        n: number of copies.
        n_threads: native threads for the physics (default: the CPU cores this process may use, at
            most ``n``).
    """

    def __init__(self, env: MuscleEnv, n: int, n_threads: int | None = None):
        if not isinstance(env, MuscleEnv):
            raise ValueError(f"{type(env).__name__} is not a muscle_envs env; EnvBatch steps only those")
        self.env = env
        self.n = n
        # A batch of one is the env itself, stepped as one lane: Python numbers and its own MjData,
        # which cost less than any array arithmetic (the outcome is then made into rows of one).
        self._one = n == 1
        if self._one:
            if n_threads is not None and n_threads < 1:
                raise ValueError(f"n_threads must be >= 1, got {n_threads}")
            self.plant: BatchPlant | MusclePlant = env.plant
            self.lanes: Lanes | OneLane = env.lanes
            self.rngs: list[Any] = []
        else:
            self.plant = BatchPlant(env.plant, n, n_threads)
            self.episode = EpisodeState.many(env.episode_fields, n)
            self.rngs = [None] * n  # each copy's generator, made as env.np_random makes one
            self.lanes = Lanes(self.plant, self.episode, self.rngs)
        self._was_reset = np.zeros(n, dtype=bool)

    @property
    def n_threads(self) -> int:
        """Native threads stepping the physics (1 for a batch of one)."""
        return 1 if self._one else self.plant.n_threads

    def reset(self, i: int, seed: int | None = None, options: dict | None = None) -> tuple[NDArray, dict]:
        """Start a new episode of copy ``i`` (``env.reset(seed=seed, options=options)`` for it); returns
        its first observation vector and the reset info. A bad option raises before anything changes."""
        with self.lane(i, load=False) as env:
            vector, info = env.begin_episode(seed, options)
            if not self._one:
                self.plant.save(i)
        self._was_reset[i] = True
        return vector, info

    def step(self, excitation: NDArray) -> Outcome:
        """One control step of every copy: row i of ``excitation`` (checked: finite, one row per copy)
        for copy i. Copies whose episode ended must be reset before the next step. The outcome has
        one row (or entry) per copy."""
        if not self._was_reset.all():
            raise gym.error.ResetNeeded(
                f"call reset() before step(): env(s) {np.flatnonzero(~self._was_reset).tolist()} never were"
            )
        if not self._one:
            return self.env._step(self.lanes, excitation)
        vector, reward, terms, terminated, truncated, success, info = self.env._step(
            self.lanes, excitation[0]
        )
        return Outcome(
            vector[None],
            np.array([reward]),
            tuple(np.array([term]) for term in terms),
            np.array([terminated]),
            np.array([truncated]),
            np.array([success]),
            {key: np.array([value]) for key, value in info.items()},
        )

    @contextlib.contextmanager
    def lane(self, i: int, load: bool = True) -> Iterator[MuscleEnv]:
        """The env object as copy ``i`` (its simulation copied in if ``load``), for attributes,
        methods and rendering."""
        if not 0 <= i < self.n:
            raise IndexError(f"env index {i} out of range 0..{self.n - 1}")
        env = self.env
        if self._one:  # the env is the copy
            yield env
            return
        own = env.lanes, env._np_random
        if load:
            self.plant.load(i)
        env.lanes = OneLane(env.plant, self.episode.lane(i), own[0]._rng)
        env._np_random = self.rngs[i]
        try:
            yield env
        finally:
            self.rngs[i] = env._np_random  # (a reset with a seed makes a new one)
            env.lanes, env._np_random = own

    def close(self) -> None:
        self.env.close()


class MuscleVectorEnv(VectorEnv):
    """``num_envs`` copies of a muscle env as a Gymnasium ``VectorEnv`` (:class:`EnvBatch`):
    ``gym.make_vec("MuscleArmReach-v0", num_envs=16)`` builds one for any registered id.

    Actions are the excitations, one row per env; observations stack the single env's, one row per
    env (a ``Dict`` of arrays for the ``Dict`` envs). Episodes end as the single env's do, and at
    ``max_episode_steps`` (the registered time limit) with ``truncated``. Autoreset is
    ``AutoresetMode.SAME_STEP``: an env whose episode ended is reset within the same ``step()``, which
    returns its first new observation; ``info["final_obs"]`` and ``info["final_info"]`` hold the last
    observation and info of the episode that ended (Gymnasium's ``SyncVectorEnv`` does the same in
    that mode). ``info`` holds, for every env, the reward terms, ``is_success`` and the env's other
    per-step entries, as arrays with their ``_key`` masks (for an env reset in the step, its reset
    info's entries, as ``SyncVectorEnv`` gives them).

    Args:
        env_class: the env's class (a :class:`~muscle_envs.core.MuscleEnv`).
        num_envs: number of envs.
        max_episode_steps: time limit, control steps (None: the env's own episode end only).
        n_threads: native threads for the physics (default: the CPU cores available).
        render_mode: ``"rgb_array"`` renders the first env's frame.
        **options: the env's options, as for ``gym.make``.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["rgb_array"]}

    def __init__(
        self,
        env_class: type[MuscleEnv],
        num_envs: int,
        max_episode_steps: int | None = None,
        n_threads: int | None = None,
        render_mode: str | None = None,
        **options: Any,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        env = env_class(render_mode=render_mode, **options)
        self.batch = EnvBatch(env, num_envs, n_threads)
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self.observation_space = batch_space(env.observation_space, num_envs)
        self.action_space = batch_space(env.action_space, num_envs)
        self.metadata = {**self.metadata, "render_fps": env.metadata["render_fps"]}
        self._elapsed = np.zeros(num_envs, dtype=np.int64)
        self._names = (*env.reward_terms, "is_success")

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every env (``seed``: an int seeds env i with ``seed + i``, as Gymnasium's vector envs do;
        or one seed per env). ``options`` go to every env's reset, as to ``env.reset``."""
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed
        seeds = [None] * self.num_envs if seeds is None else list(seeds)
        if len(seeds) != self.num_envs:
            raise ValueError(f"{len(seeds)} seeds for {self.num_envs} envs")
        rows, infos = zip(*(self.batch.reset(i, s, options) for i, s in enumerate(seeds)), strict=True)
        self._elapsed[:] = 0
        return self.batch.env.observation(np.stack(rows)), self._stacked_infos(list(infos))

    def step(self, actions: NDArray):
        actions = checked_actions(actions, (self.num_envs, *self.single_action_space.shape))
        outcome = self.batch.step(actions)
        self._elapsed += 1
        terminated = np.broadcast_to(outcome.terminated, self.num_envs).copy()
        truncated = np.broadcast_to(outcome.truncated, self.num_envs).copy()
        if self.max_episode_steps is not None:
            truncated |= self._elapsed >= self.max_episode_steps
        n = self.num_envs
        info: dict[str, Any] = {}
        for name, values in zip(self._names, (*outcome.terms, outcome.success), strict=True):
            info[name], info[f"_{name}"] = np.broadcast_to(values, n).copy(), np.ones(n, dtype=bool)
        for name, values in outcome.info.items():
            info[name], info[f"_{name}"] = np.broadcast_to(values, n).copy(), np.ones(n, dtype=bool)
        vectors = outcome.observation
        ended = np.flatnonzero(terminated | truncated)
        if ended.size:
            names = [key for key in info if not key.startswith("_")]
            finals: dict[str, Any] = {}
            for i in ended.tolist():
                final = {"final_obs": self.batch.env.observation(vectors[i].copy())}
                final["final_info"] = {key: info[key][i] for key in names}
                finals = self._add_info(finals, final, i)  # (Gymnasium's layout: arrays and masks)
                vectors[i], reset_info = self.batch.reset(i)
                self._elapsed[i] = 0
                for key in names:  # an env reset in this step shows its reset info, as SyncVectorEnv's
                    info[key][i] = reset_info.get(key, 0)
                    info[f"_{key}"][i] = key in reset_info
            info.update(finals)
        reward = np.broadcast_to(outcome.reward, n).astype(np.float64)
        return self.batch.env.observation(vectors), reward, terminated, truncated, info

    def render(self) -> NDArray[np.uint8] | None:
        with self.batch.lane(0) as env:
            return env.render()

    def close_extras(self, **kwargs: Any) -> None:
        self.batch.close()

    def _stacked_infos(self, infos: list[dict[str, Any]]) -> dict[str, Any]:
        stacked: dict[str, Any] = {}
        for i, info in enumerate(infos):
            stacked = self._add_info(stacked, info, i)
        return stacked


def checked_actions(actions: Any, shape: tuple[int, ...]) -> NDArray:
    """``actions`` as an array of ``shape`` (one row per env), or a ``ValueError`` for another shape,
    a non-numeric dtype, or the first env and entry whose action is not a finite number."""
    actions = np.asarray(actions)
    if actions.shape != shape:
        raise ValueError(f"actions have shape {actions.shape}; expected {shape} (one row per env)")
    if actions.dtype.kind not in "fiub":
        raise ValueError(f"actions must be numeric, got dtype {actions.dtype}")
    if not np.isfinite(actions).all():
        bad = ~np.isfinite(actions)
        env, entry = np.argwhere(bad)[0]
        raise ValueError(
            f"the action of env {env} is NaN or inf at entry {entry} ({bad.sum()} such entries in all); "
            "no env was stepped"
        )
    return actions
