"""Machinery every muscle env shares: typed configs, Dict observation buffers, excitation checks,
rendering. Task logic lives in the env modules (one env per file)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

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


class MuscleEnv(gym.Env):
    """Base of the muscle envs: excitation action space, action checks, rendering.

    Subclasses build a :class:`~muscle_envs.plants.base.MusclePlant` and implement ``reset``/``step``.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 100}

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
        self.plant = plant
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / plant.dt))}
        n = plant.n_muscles
        self.action_space = spaces.Box(low=0.0, high=1.0, shape=(n,), dtype=np.float32)
        self._action_shape = (n,)
        self._needs_reset = True  # step() before reset() raises, as Gymnasium's OrderEnforcing would
        self._motor_noise = motor_noise
        self._camera = camera
        self._render_size = render_size
        self._renderer: mujoco.Renderer | None = None
        self._viewer = None
        self._scene_option = mujoco.MjvOption()
        self._scene_option.flags[mujoco.mjtVisFlag.mjVIS_ACTIVATION] = True  # muscles redden with activation

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Seed ``np_random`` and allow ``step()``; subclasses set up the episode after calling it."""
        super().reset(seed=seed)
        self._needs_reset = False

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
            self._renderer.close()
            self._renderer = None
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None
