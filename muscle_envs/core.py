"""Machinery every muscle env shares: typed configs, Dict observation buffers, excitation checks,
the step and reset around an env's task code, rendering. Task logic lives in the env modules (one
env per file), written once over lanes (``muscle_envs.lanes``) for one env and for a batch."""

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

from muscle_envs.lanes import EpisodeState, Lanes, OneLane
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
        """Fix the layout and return the observation space (whose key order, Gymnasium's sorted one,
        the observation dicts follow, as SB3's vectorized envs do)."""
        boxes, offset = {}, 0
        for key, size, low, high, hidden in self._entries:
            self._slices[key] = slice(offset, offset + size)
            if not hidden:
                boxes[key] = spaces.Box(low=low, high=high, shape=(size,), dtype=np.float64)
            offset += size
        space = spaces.Dict(boxes)
        self._items = tuple((key, self._slices[key]) for key in space.spaces)
        self.size = offset
        return space

    def slice(self, key: str) -> slice:
        """Where ``key`` (shown or hidden) sits in the vector."""
        return self._slices[key]

    def assemble(self, vector: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """The observation dict: a view of ``vector`` (a fresh array; one row per env in a batch)
        per key."""
        if vector.ndim == 1:  # (plain slicing: a third of the time of `...` indexing)
            return {key: vector[part] for key, part in self._items}
        return {key: vector[:, part] for key, part in self._items}

    @property
    def shown(self) -> dict[str, slice]:
        """Each observation key's place in the vector (hidden entries left out)."""
        return dict(self._items)


def has_display() -> bool:
    """Whether a window can be opened: always on macOS and Windows; on Linux, with X11 or Wayland."""
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Outcome(NamedTuple):
    """What an env's task code returns for one control step, per lane: a number for one env; for a
    batch an array with one entry per env (``truncated`` may be a plain ``False``), as the task code
    computes it from the batch's arrays (see ``muscle_envs.lanes``)."""

    observation: NDArray[np.float64]  # the observation vector(s): a fresh array, (width,) or (n, width)
    reward: Any
    terms: tuple[Any, ...]  # the weighted reward terms, in the env's ``reward_terms`` order
    terminated: Any
    truncated: Any  # the env's own truncation (not the registered time limit)
    success: Any  # info["is_success"]
    info: dict[str, Any]  # the env's further per-step info entries


def reward_of(terms: Sequence[Any]) -> Any:
    """The sum of the weighted terms, added left to right (the same bits for one env and a batch)."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


class MuscleEnv(gym.Env):
    """Base of the muscle envs: excitation action space, action checks, the step and reset around
    the env's task code, rendering.

    A subclass builds a :class:`~muscle_envs.plants.base.MusclePlant` and writes its task once, over
    lanes (``muscle_envs.lanes``), so that the same code steps this env and a batch of them
    (``muscle_envs.batch``):

    - ``episode_fields``: its per-episode variables, ``{name: default}``; ``self.lanes.episode``
      holds them (``self.lanes`` is this env as one lane);
    - ``_reset_episode(options)``: set up a new episode on ``self.plant`` and ``self.lanes.episode``
      with ``self.np_random``, and return the first observation vector and the reset info (in a batch
      it runs once per env, on the staging plant and that env's row);
    - ``_step(lanes, excitation)``: one control step of ``lanes.plant`` and the task, returning an
      :class:`Outcome` (in a batch it runs once for all envs);
    - ``episode_metrics()``: the episode so far, from ``self.lanes.episode``.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 100}
    # The info keys of the weighted reward terms (they sum to the reward); the info entries besides
    # is_success that matter at an episode's end.
    reward_terms: tuple[str, ...] = ()
    end_info_keys: tuple[str, ...] = ()
    # Episode metrics that label an episode's condition (an index), with the names of their values:
    # evaluation reports results per condition (the multi-task env's task and speed).
    conditions: dict[str, tuple[str, ...]] = {}
    # The epochs of a trial, in order, where the task has them (``step_labels()["epoch"]``).
    epochs: tuple[str, ...] = ()

    def __init__(
        self,
        plant: MusclePlant,
        render_mode: str | None,
        camera: str | None,
        render_size: tuple[int, int],
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
        self._layout: ObservationLayout | None = None  # a Dict observation's layout (None: a Box)
        self._camera = camera if camera is not None else -1  # -1: MuJoCo's free camera (None fails in 3.17)
        self._render_size = render_size
        self._renderer: mujoco.Renderer | None = None
        self._viewer = None
        self._scene_option = mujoco.MjvOption()
        self._scene_option.flags[mujoco.mjtVisFlag.mjVIS_ACTIVATION] = True  # muscles redden with activation

    def _start_lanes(self, fields: dict[str, Any]) -> None:
        """Declare the per-episode variables (call at the end of ``__init__``)."""
        self.episode_fields = fields
        self.lanes = OneLane(self.plant, EpisodeState.one(fields), lambda: self.np_random)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Seed ``np_random``, set up the episode (:meth:`_reset_episode`), then allow ``step()``.

        If setting up fails (a bad option raises ``ValueError``), the env still needs a reset: it can
        never be stepped half reset.
        """
        vector, info = self.begin_episode(seed, options)
        return self.observation(vector), info

    def begin_episode(self, seed: int | None, options: dict[str, Any] | None) -> tuple[NDArray, dict]:
        """:meth:`reset`, with the observation as a vector."""
        self._needs_reset = True
        super().reset(seed=seed)
        vector, info = self._reset_episode(dict(options or {}))
        self._needs_reset = False
        return vector, info

    def step(self, action: Any):
        vector, reward, terms, terminated, truncated, success, extra = self._step(
            self.lanes, self._checked_excitation(action)
        )
        info = dict(zip(self.reward_terms, terms))  # noqa: B905  (strict costs ~0.1 us a step; tests check)
        info.update(extra)
        info["is_success"] = success
        layout = self._layout
        return vector if layout is None else layout.assemble(vector), reward, terminated, truncated, info

    def observation(self, vector: NDArray[np.float64]) -> Any:
        """The observation (as the observation space shapes it) that ``vector`` holds; one row per
        env for a batch."""
        return vector if self._layout is None else self._layout.assemble(vector)

    def _reset_episode(self, options: dict[str, Any]) -> tuple[NDArray, dict[str, Any]]:
        """Set up a new episode from ``options`` (validated before any state changes); return the
        first observation vector and info."""
        raise NotImplementedError

    def _step(self, lanes: OneLane | Lanes, excitation: NDArray) -> Outcome:
        """One control step of ``lanes`` (checked excitations: one env's, or a row per env)."""
        raise NotImplementedError

    def episode_metrics(self) -> dict[str, float]:
        """The episode so far, summarized (train_sb3.py logs it as ``task/<name>``)."""
        raise NotImplementedError

    def holding_excitation(self) -> NDArray[np.float64] | None:
        """A constant excitation (one per muscle, in the action space) that holds the body in its
        starting posture for a while, open loop; None where the task has none. Training can start a
        policy's action mean there (``initial_action: holding``)."""
        return None

    def step_labels(self) -> dict[str, int]:
        """Labels of the current step, for recordings (``muscle_analysis``): the episode's conditions
        (indices into ``conditions``) and, where the task has epochs, ``epoch`` (an index into
        ``epochs``) of the observation the env returned last."""
        metrics = self.episode_metrics()
        return {name: int(metrics[name]) for name in self.conditions}

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
        """The action as the excitation to apply.

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
