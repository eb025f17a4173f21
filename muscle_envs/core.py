"""Machinery every muscle env shares: typed configs, Dict observation buffers, excitation checks,
rendering. Task logic lives in the env modules (one env per file)."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from muscle_envs.plants.base import MusclePlant

C = TypeVar("C")


def make_config(cls: type[C], config: C | None, overrides: dict[str, Any]) -> C:
    """``config`` (or the defaults of ``cls``) with ``overrides`` applied; unknown keys are errors."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"{cls.__name__} has no option(s) {unknown}; valid options: {sorted(known)}")
    return dataclasses.replace(config if config is not None else cls(), **overrides)


class ObservationLayout:
    """A ``Dict`` observation whose entries are all views of one fresh float64 vector per step.

    The env builds a new vector every step (a :class:`~muscle_envs.plants.base.SensorReadout` returns
    a new array, per-episode constants included) and :meth:`assemble` returns the dict of views into
    it. Nothing handed out is shared between steps, and no buffer is copied as a whole.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[str, int, Any, Any, bool]] = []
        self._slices: dict[str, slice] = {}
        self._items: tuple[tuple[str, slice], ...] = ()
        self.size = 0

    def add(self, key: str, size: int, low: Any = -np.inf, high: Any = np.inf, hidden: bool = False) -> None:
        """Declare ``key``, the next ``size`` entries of the vector. ``hidden`` entries are the env's
        scratch space (raw values it combines into others) and are not part of the observation."""
        self._entries.append((key, size, low, high, hidden))

    def build(self) -> spaces.Dict:
        """Fix the layout and return the observation space."""
        boxes, shown, offset = {}, [], 0
        for key, size, low, high, hidden in self._entries:
            self._slices[key] = slice(offset, offset + size)
            if not hidden:
                boxes[key] = spaces.Box(low=low, high=high, shape=(size,), dtype=np.float64)
                shown.append((key, self._slices[key]))
            offset += size
        self._items = tuple(shown)
        self.size = offset
        return spaces.Dict(boxes)

    def slice(self, key: str) -> slice:
        """Where ``key`` (shown or hidden) sits in the vector."""
        return self._slices[key]

    def assemble(self, vector: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """The observation dict: a view of ``vector`` (a fresh array) per key."""
        return {key: vector[part] for key, part in self._items}

    @property
    def shown(self) -> dict[str, slice]:
        """Each observation key's place in the vector (hidden entries left out)."""
        return dict(self._items)


def has_display() -> bool:
    """Whether a window can be opened: always on macOS and Windows; on Linux, with X11 or Wayland."""
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class MuscleEnv(gym.Env):
    """Base of the muscle envs: excitation action space, action checks, rendering.

    Subclasses build a :class:`~muscle_envs.plants.base.MusclePlant` and implement ``reset``/``step``.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 100}
    # The info keys of the weighted reward terms (they sum to the reward); the info entries besides
    # is_success that matter at an episode's end; the kernel that steps a batch of these envs as
    # arrays (muscle_envs.vector).
    reward_terms: tuple[str, ...] = ()
    end_info_keys: tuple[str, ...] = ()
    batch_kernel: type[BatchKernel] | None = None

    def __init__(
        self,
        plant: MusclePlant,
        render_mode: str | None,
        camera: str | None,
        render_size: tuple[int, int],
        motor_noise: float,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}"
            )
        if render_mode == "human" and not has_display():
            # MuJoCo's viewer would end the whole process (GLFW's C error), out of reach of any `try`
            raise RuntimeError(
                "render_mode='human' opens a window and needs a display (neither DISPLAY nor "
                "WAYLAND_DISPLAY is set); on a headless machine use render_mode='rgb_array' and save or "
                "show the frames (e.g. evaluate.py --video)"
            )
        self.plant = plant
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / plant.dt))}
        n = plant.n_muscles
        self.action_space = spaces.Box(low=0.0, high=1.0, shape=(n,), dtype=np.float32)
        self._action_shape = (n,)
        self._needs_reset = True  # step() before reset() raises, as Gymnasium's OrderEnforcing would
        self._motor_noise = motor_noise
        self._camera = camera if camera is not None else -1  # -1: MuJoCo's free camera (None fails in 3.17)
        self._render_size = render_size
        self._renderer: mujoco.Renderer | None = None
        self._viewer = None
        self._scene_option = mujoco.MjvOption()
        self._scene_option.flags[mujoco.mjtVisFlag.mjVIS_ACTIVATION] = True  # muscles redden with activation

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Seed ``np_random``, set up the episode (:meth:`_reset_episode`), then allow ``step()``.

        If setting up fails (a bad option raises ``ValueError``), the env still needs a reset: it can
        never be stepped half reset.
        """
        self._needs_reset = True
        super().reset(seed=seed)
        obs, info = self._reset_episode(dict(options or {}))
        self._needs_reset = False
        return obs, info

    def _reset_episode(self, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Set up a new episode from ``options`` (validated before any state changes); return the
        first observation and info."""
        raise NotImplementedError

    @property
    def dt(self) -> float:
        """Control period, s."""
        return self.plant.dt

    @property
    def frame_skip(self) -> int:
        return self.plant.frame_skip

    @property
    def muscle_names(self) -> tuple[str, ...]:
        return self.plant.muscle_names

    def _checked_excitation(self, action: Any) -> NDArray:
        """The action as the excitation to apply (with motor noise, if any).

        Raises ValueError, before anything changes, for a wrong shape, a non-numeric dtype, or a NaN
        or inf entry, and ``ResetNeeded`` before the first ``reset()``. Values outside [0, 1] pass
        through: the muscles are ``ctrllimited``, so MuJoCo clamps them (use :func:`numpy.clip` on the
        result where the clipped value matters).
        """
        if self._needs_reset:
            raise gym.error.ResetNeeded("call reset() before step()")
        action = np.asarray(action)
        if action.shape != self._action_shape:
            raise ValueError(
                f"action has shape {action.shape}; expected {self._action_shape}, one excitation per muscle "
                f"{self.plant.muscle_names}"
            )
        if action.dtype.kind not in "fiub":
            raise ValueError(f"action must be numeric, got dtype {action.dtype}")
        # A NaN or inf makes the sum non-finite (cheaper than np.isfinite for a few muscles); only
        # then find the culprits (a sum can also overflow for absurdly large finite values).
        if not math.isfinite(sum(action.tolist())):
            bad = [self.plant.muscle_names[i] for i in np.flatnonzero(~np.isfinite(action))]
            if bad:
                raise ValueError(f"action is NaN or inf for muscle(s) {bad}; the env state is unchanged")
        if self._motor_noise:
            action = action + self.np_random.normal(0.0, self._motor_noise, self._action_shape)
        return action

    # -- rendering ----------------------------------------------------------------------------------
    def render(self) -> NDArray[np.uint8] | None:
        if self.render_mode == "rgb_array":
            if self._renderer is None:
                width, height = self._render_size
                try:
                    self._renderer = mujoco.Renderer(self.plant.model, height=height, width=width)
                except Exception as err:  # the GL backend's errors are many and backend-specific
                    raise RuntimeError(
                        "offscreen rendering failed. On a machine without a display set MUJOCO_GL=egl "
                        "(or osmesa, with libosmesa6) before mujoco is first imported; "
                        f"MuJoCo said: {err}"
                    ) from err
                # A script that never calls close() would leave the GL context to be freed after the
                # GL library is gone at interpreter exit (tracebacks on stderr): free it at exit instead.
                self._renderer_finalizer = weakref.finalize(self, self._renderer.close)
            self._renderer.update_scene(self.plant.data, camera=self._camera, scene_option=self._scene_option)
            return self._renderer.render()
        if self.render_mode == "human":
            if self._viewer is None:
                from mujoco import viewer  # needs a display; imported only here

                self._viewer = viewer.launch_passive(self.plant.model, self.plant.data)
            self._viewer.sync()
            return None
        gym.logger.warn("render() was called without a render_mode; pass render_mode='rgb_array' or 'human'")
        return None

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer_finalizer()  # closes the renderer, once
            self._renderer = None
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None


class BatchStep(NamedTuple):
    """One control step of a batch of envs; row i is env i (see :class:`BatchKernel`)."""

    observation: NDArray[np.float64]  # (B, size): the observation vectors, a fresh array
    reward: NDArray[np.float64]  # (B,)
    terminated: NDArray[np.bool_]  # (B,)
    truncated: NDArray[np.bool_]  # (B,), the env's own truncation (not the registered time limit)
    success: NDArray[np.bool_]  # (B,), info["is_success"]
    terms: NDArray[np.float64]  # (B, len(reward_terms)): the weighted reward terms


class BatchKernel:
    """Steps B copies of one env in lockstep: the physics env by env (``MusclePlant.step``, the same
    calls as ``env.step()``), the rest (observation, reward, episode end) once for the batch as
    array arithmetic. A kernel lives beside its env and mirrors its ``step()``: same operations in
    the same order, so the results agree bit for bit (tests/test_vector.py checks each option).

    The envs themselves stay the reference for everything that is not per-step: ``reset`` runs
    ``env.reset()`` (same seeds, same start states and random streams) and :meth:`load` copies the
    episode's constants into the kernel's arrays. Randomness during an episode (noise) is drawn from
    each env's own ``np_random``, in the env's order.

    ``observation_keys`` maps each ``Dict`` key to its columns of the observation vector (None for a
    ``Box`` observation, the vector itself); ``width`` is the vector's length. The envs'
    ``reward_terms`` name the columns of ``terms``. Array arithmetic costs numpy's per-call overhead
    (~1-3 us) some 50 times per step whatever the batch size, so below ``min_batch`` envs
    :class:`LoopKernel` (each env's own ``step()``) is faster.
    """

    min_batch = 1

    @classmethod
    def unsupported(cls, env: MuscleEnv) -> str | None:
        """Why this kernel cannot step ``env`` (an option it does not mirror), or None."""
        return None

    def __init__(self, envs: Sequence[MuscleEnv], observation_keys: dict[str, slice] | None):
        self.envs = list(envs)
        self.reward_terms = self.envs[0].reward_terms
        self.plants = [env.plant for env in self.envs]
        self.n = len(self.envs)
        if observation_keys is not None:  # in the order of the env's observation space, as the env gives them
            observation_keys = {key: observation_keys[key] for key in self.envs[0].observation_space.spaces}
        self.observation_keys = observation_keys
        model = self.plants[0].model
        self._sensordata = np.zeros((self.n, model.nsensordata))
        self._sensor_views = [plant.data.sensordata for plant in self.plants]

    def reset(self, i: int, seed: int | None, options: dict[str, Any] | None) -> tuple[NDArray, dict]:
        """Reset env ``i`` through the env itself; returns its observation vector and reset info."""
        obs, info = self.envs[i].reset(seed=seed, options=options)
        return self.load(i, obs), info

    def load(self, i: int, obs: Any) -> NDArray[np.float64]:
        """Take over env ``i``'s new episode (after its ``reset``); return ``obs`` as a vector."""
        raise NotImplementedError

    def step(self, actions: NDArray) -> BatchStep:
        """Apply one row of (checked, finite) excitations per env."""
        raise NotImplementedError

    def episode_metrics(self, i: int) -> dict[str, float]:
        """Env ``i``'s ``episode_metrics()`` for the episode so far."""
        raise NotImplementedError

    def end_info(self, i: int) -> dict[str, Any]:
        """The env's ``end_info_keys`` entries of ``info`` at the end of env ``i``'s episode."""
        raise NotImplementedError

    def vector(self, obs: Any, out: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """``obs`` (as the env returns it) as an observation vector, written into ``out`` if given
        (entries no key shows, the env's scratch space, are left as they are: zeros if new)."""
        if out is None:
            out = np.zeros(self.width)
        if self.observation_keys is None:
            out[:] = obs
        else:
            for key, part in self.observation_keys.items():
                out[part] = obs[key]
        return out

    def observations(
        self, vectors: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float64]] | NDArray[np.float64]:
        """The observation(s) that ``vectors`` hold, as the env's observation space shapes them."""
        if self.observation_keys is None:
            return vectors
        return {key: vectors[..., part] for key, part in self.observation_keys.items()}

    def _sense(self) -> NDArray[np.float64]:
        """Every env's ``sensordata``, one row each (a buffer reused every step)."""
        rows = self._sensordata
        for i, view in enumerate(self._sensor_views):
            rows[i] = view
        return rows


class LoopKernel(BatchKernel):
    """A batch stepped env by env through each env's own ``step()``: works for any muscle env, and
    beats array arithmetic for small batches (see ``BatchKernel.min_batch``)."""

    def __init__(self, envs: Sequence[MuscleEnv]):
        space = envs[0].observation_space
        keys = None
        if isinstance(space, spaces.Dict):  # the entries side by side, in the space's key order
            sizes = [int(np.prod(box.shape)) for box in space.spaces.values()]
            bounds = np.cumsum([0, *sizes]).tolist()
            keys = {key: slice(a, b) for key, a, b in zip(space.spaces, bounds[:-1], bounds[1:], strict=True)}
        super().__init__(envs, keys)
        self.width = bounds[-1] if keys is not None else int(np.prod(space.shape))
        self._infos: list[dict[str, Any]] = [{} for _ in self.envs]

    def load(self, i: int, obs: Any) -> NDArray[np.float64]:
        return self.vector(obs)

    def step(self, actions: NDArray) -> BatchStep:
        n, names = self.n, self.reward_terms
        vectors, terms = np.empty((n, self.width)), np.empty((n, len(names)))
        reward = np.empty(n)
        terminated, truncated, success = (np.zeros(n, dtype=bool) for _ in range(3))
        for i, (env, action) in enumerate(zip(self.envs, actions, strict=True)):
            obs, reward[i], terminated[i], truncated[i], info = env.step(action)
            self.vector(obs, out=vectors[i])
            terms[i] = [info[name] for name in names]
            success[i] = info.get("is_success", False)
            self._infos[i] = info
        return BatchStep(vectors, reward, terminated, truncated, success, terms)

    def episode_metrics(self, i: int) -> dict[str, float]:
        return self.envs[i].episode_metrics()

    def end_info(self, i: int) -> dict[str, Any]:
        info = self._infos[i]
        return {key: info[key] for key in self.envs[i].end_info_keys}
