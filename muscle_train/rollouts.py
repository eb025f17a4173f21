"""Rollouts: the episode loop that evaluation, training's periodic evaluations and CMA-ES run, the
record of an episode (distillation's own loop, which labels each step, writes the same records),
summaries over episodes, and videos.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

StepHook = Callable[[Any, np.ndarray, Any, np.ndarray, list[dict]], None]


def episode_targets(n_episodes: int, n_envs: int) -> np.ndarray:
    """Episodes per env, as even as possible (so short episodes are not over-represented)."""
    return np.array([(n_episodes + i) // n_envs for i in range(n_envs)])


def episode_record(episode_return: float, length: int, info: dict[str, Any]) -> dict[str, Any]:
    """A finished episode's record: ``return``, ``length``, ``is_success`` and the
    :class:`muscle_train.envs.EpisodeMetrics` entries of its last ``info``."""
    record = {"return": float(episode_return), "length": int(length)}
    record["is_success"] = bool(info.get("is_success", False))
    return {**record, **info.get("episode_metrics", {})}


def run_episodes(
    model: Any,
    venv: VecEnv,
    n_episodes: int,
    deterministic: bool = True,
    on_step: StepHook | None = None,
    before_step: Callable[[Any], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``n_episodes`` with the model (anything with SB3's ``predict``) on ``venv`` (spread over its
    envs as evenly as possible, so short episodes are not over-represented), carrying a recurrent
    policy's state.

    ``on_step(obs, action, state, dones, infos)`` sees each step (``obs`` as the policy saw it);
    ``before_step(obs)`` sees each observation before the policy does (the envs still in the state
    it shows). Returns one :func:`episode_record` per episode.
    """
    n_envs = venv.num_envs
    targets = episode_targets(n_episodes, n_envs)
    counts = np.zeros(n_envs, dtype=int)
    returns, lengths = np.zeros(n_envs), np.zeros(n_envs, dtype=int)
    episodes: list[dict[str, Any]] = []
    obs = venv.reset()
    state, starts = None, np.ones(n_envs, dtype=bool)
    while (counts < targets).any():
        if before_step is not None:
            before_step(obs)
        action, state = model.predict(obs, state=state, episode_start=starts, deterministic=deterministic)
        new_obs, rewards, dones, infos = venv.step(action)
        if on_step is not None:
            on_step(obs, action, state, dones, infos)
        returns += rewards
        lengths += 1
        for i in np.flatnonzero(dones):
            if counts[i] < targets[i]:
                episodes.append(episode_record(returns[i], lengths[i], infos[i]))
                counts[i] += 1
            returns[i], lengths[i] = 0.0, 0
        obs, starts = new_obs, dones
    return episodes


def record_video(
    model: BaseAlgorithm,
    venv: VecEnv,
    path: Path,
    n_episodes: int = 1,
    deterministic: bool = True,
    max_fps: float = 50.0,
) -> Path:
    """Render ``n_episodes`` to an MP4 that plays in real time, at most ``max_fps`` frames per second
    (every k-th control step). ``venv`` holds one env made with ``render_mode="rgb_array"``
    (rendering is offscreen: headless machines use EGL or OSMesa)."""
    import imageio.v2 as imageio  # only when a video is wanted

    steps_per_second = 1.0 / venv.get_attr("dt", indices=[0])[0]
    every = max(1, round(steps_per_second / max_fps))  # software rendering costs ~50 ms a frame
    frames: list[np.ndarray] = []
    step = 0

    def grab(*_: Any) -> None:
        nonlocal step
        if step % every == 0:
            frames.append(venv.get_images()[0])
        step += 1

    run_episodes(model, venv, n_episodes, deterministic, on_step=grab)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    fps = round(steps_per_second / every)
    imageio.mimwrite(tmp, frames, fps=fps, codec="libx264", macro_block_size=8, format="FFMPEG")
    os.replace(tmp, path)
    return path


def summarize(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate, return, episode length and the mean of every episode metric.

    A metric that is undefined in some episodes (NaN, e.g. the reach time of an episode that never
    reached) is averaged over the others; ``None`` if it is undefined in all.
    """
    returns = np.array([e["return"] for e in episodes])
    summary: dict[str, Any] = {
        "n_episodes": len(episodes),
        "success_rate": float(np.mean([e["is_success"] for e in episodes])),
        "mean_reward": float(returns.mean()),
        "std_reward": float(returns.std()),
        "mean_episode_length": float(np.mean([e["length"] for e in episodes])),
    }
    keys = [key for key in episodes[0] if "/" in key]
    for key in keys:
        values = np.array([e.get(key, math.nan) for e in episodes], dtype=float)
        defined = values[~np.isnan(values)]
        summary[key] = float(defined.mean()) if defined.size else None
    return summary
