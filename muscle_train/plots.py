"""Figures of an evaluation (``evaluate.py --plots DIR``): what the policy does, and what its
sensory system sees.

- ``trajectories.png``: the arm's hand paths and targets in the x-z plane (the legs: pelvis height
  over time);
- ``excitations.png``: muscle excitations over the first episode;
- ``afferents.png`` (sensory policies): Ia, II, Ib rates and gamma static/dynamic drive over the
  first episode, from the policy's own ``probe()``;
- ``hidden_pca.png`` (recurrent policies): the hidden state's trajectories on its first two principal
  components, and the variance each component explains;
- ``task_paths.png`` (the multi-task envs, seed 004's figure): for every task, the hand's path in
  every direction over the path it should follow, at the middle speed and delay; ``task_muscles.png``:
  for every task, the muscle excitations of one of those episodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from muscle_train.rollouts import run_episodes

MANY_MUSCLES = 12  # more than this: heat maps instead of one line per muscle


@dataclass
class Episode:
    """One episode as recorded step by step (the last step's env state is not kept: the env has
    already reset when the step returns)."""

    obs: dict[str, list[np.ndarray]] = field(default_factory=dict)  # as the policy saw it
    excitation: list[np.ndarray] = field(default_factory=list)
    hidden: list[np.ndarray] = field(default_factory=list)
    hand: list[tuple[float, float]] = field(default_factory=list)
    pelvis_height: list[float] = field(default_factory=list)
    target: tuple[float, float] | None = None
    success: bool = False

    def stacked_obs(self) -> dict[str, np.ndarray]:
        return {key: np.stack(values) for key, values in self.obs.items()}


def record(model: BaseAlgorithm, venv: VecEnv, n_episodes: int, deterministic: bool) -> list[Episode]:
    """Run ``n_episodes`` on a one-env ``venv`` and keep what the figures need."""
    env = venv.unwrapped.envs[0].unwrapped
    space = env.action_space  # the excitations, [0, 1]
    low, high = model.action_space.low, model.action_space.high  # what the policy outputs
    episodes = [Episode()]

    def on_step(obs: Any, action: np.ndarray, state: Any, dones: np.ndarray, infos: list[dict]) -> None:
        episode = episodes[-1]
        for key, value in obs.items() if isinstance(obs, dict) else [("obs", obs)]:
            episode.obs.setdefault(key, []).append(np.array(value[0]))
        scaled = space.low + (action[0] - low) / (high - low) * (space.high - space.low)
        episode.excitation.append(np.clip(scaled, space.low, space.high))
        if state is not None:  # RecurrentPPO: (hidden, cell) of the actor, (layers, envs, size)
            episode.hidden.append(np.array(state[0][-1, 0]))
        if dones[0]:
            episode.success = bool(infos[0].get("is_success", False))
            episodes.append(Episode())
        elif hasattr(env.plant, "hand_xz"):
            episode.target = getattr(env, "target", None)
            episode.hand.append(env.plant.hand_xz())
        if "pelvis_height" in infos[0]:
            episode.pelvis_height.append(infos[0]["pelvis_height"])

    run_episodes(model, venv, n_episodes, deterministic, on_step=on_step)
    return episodes[:n_episodes]


def write_all(
    model: BaseAlgorithm, venv: VecEnv, out_dir: Path, n_episodes: int, deterministic: bool
) -> list[Path]:
    """Record ``n_episodes`` and write every figure that applies to this env and policy."""
    out_dir.mkdir(parents=True, exist_ok=True)
    episodes = record(model, venv, n_episodes, deterministic)
    env = venv.unwrapped.envs[0].unwrapped
    dt = env.dt
    names = list(env.plant.muscle_names)
    written = [trajectories(episodes, dt, out_dir / "trajectories.png")]
    written.append(
        traces({"excitation": np.stack(episodes[0].excitation)}, names, dt, out_dir / "excitations.png")
    )
    afferents = probe(model, episodes[0])
    if afferents is not None:
        written.append(traces(afferents, names, dt, out_dir / "afferents.png"))
    if episodes[0].hidden:
        written.append(hidden_pca(episodes, out_dir / "hidden_pca.png"))
    if hasattr(env, "path") and "task" in env.conditions:
        written += task_figures(model, venv, deterministic, out_dir)
    return written


def task_figures(model: BaseAlgorithm, venv: VecEnv, deterministic: bool, out_dir: Path) -> list[Path]:
    """Seed 004's figures, from one episode per task and direction at the middle speed and delay:
    ``task_paths.png``, a panel per task with the hand's path in every direction over the path it
    should follow (dashed); ``task_muscles.png``, a panel per task with the muscle excitations of
    its first direction, the go cue and the movement's end marked."""
    env = venv.unwrapped.envs[0].unwrapped
    cfg, names = env.config, env.conditions["task"]
    tasks = [names.index(name) for name in cfg.tasks]
    speed, delay = 1, sorted(cfg.delays)[len(cfg.delays) // 2]
    columns = min(5, len(tasks))
    rows = -(-len(tasks) // columns)
    paths_fig = Figure(figsize=(3.0 * columns, 3.0 * rows))
    muscles_fig = Figure(figsize=(3.2 * columns, 2.4 * rows))
    path_axes = np.atleast_1d(paths_fig.subplots(rows, columns, squeeze=False)).ravel()
    muscle_axes = np.atleast_1d(muscles_fig.subplots(rows, columns, squeeze=False, sharey=True)).ravel()
    for ax, muscle_ax, task in zip(path_axes, muscle_axes, tasks, strict=False):
        steps = env.movement_steps(task, speed)
        for direction in range(cfg.n_directions):
            venv.set_options({"task": task, "direction": direction, "speed": speed, "delay": delay})
            (episode,) = record(model, venv, 1, deterministic)
            color = f"C{direction % 10}"
            hand = np.array(episode.hand)
            desired = env.path(task, direction, steps)
            ax.plot(desired[:, 0], desired[:, 1], "--", color=color, lw=0.8, alpha=0.6)
            ax.plot(hand[:, 0], hand[:, 1], color=color, lw=1.2)
            if direction == 0:
                excitation = np.stack(episode.excitation)
                seconds = np.arange(len(excitation)) * env.dt
                for m, muscle in enumerate(env.plant.muscle_names):
                    muscle_ax.plot(seconds, excitation[:, m], lw=1.0, label=muscle)
        go = (cfg.stable_steps + delay) * env.dt
        for t in (go, go + steps * env.dt):
            muscle_ax.axvline(t, color="k", lw=0.6, ls=":")
        muscle_ax.set_title(names[task], fontsize=9)
        muscle_ax.tick_params(labelsize=7)
        ax.plot(*env.start_hand, "ko", ms=3)
        ax.set_title(names[task], fontsize=9)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    for unused in (*path_axes[len(tasks) :], *muscle_axes[len(tasks) :]):
        unused.set_visible(False)
    muscle_axes[0].legend(fontsize=6, loc="upper left")
    for ax in muscle_axes[(rows - 1) * columns :]:
        ax.set_xlabel("time (s)", fontsize=8)
    paths_fig.suptitle("hand paths (solid) over the paths to follow (dashed),\nmiddle speed, every direction")
    muscles_fig.suptitle("muscle excitation, first direction, middle speed\n(dotted: go cue, end of movement)")
    written = []
    for fig, name in ((paths_fig, "task_paths.png"), (muscles_fig, "task_muscles.png")):
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=120)
        written.append(out_dir / name)
    return written


def probe(model: BaseAlgorithm, episode: Episode) -> dict[str, np.ndarray] | None:
    """Afferent rates and gamma drive along ``episode``, if the policy models them."""
    policy = model.policy
    obs = episode.stacked_obs()
    with torch.no_grad():
        if hasattr(policy, "probe"):  # SensoryRecurrentPolicy
            trace = policy.probe(obs)
        elif hasattr(getattr(policy, "features_extractor", None), "probe"):  # SensoryExtractor
            tensors, _ = policy.obs_to_tensor(obs)
            trace = policy.features_extractor.probe(tensors)
        else:
            return None
    keys = ("ia", "ii", "ib", "gamma_static", "gamma_dynamic")
    return {key: trace[key].cpu().numpy() for key in keys}


def _panel(ax: Axes, values: np.ndarray, names: list[str], dt: float, title: str) -> None:
    t = np.arange(len(values)) * dt
    if values.shape[1] > MANY_MUSCLES:
        image = ax.imshow(
            values.T,
            aspect="auto",
            origin="lower",
            extent=(0, t[-1] + dt, 0, values.shape[1]),
            cmap="viridis",
        )
        ax.figure.colorbar(image, ax=ax, fraction=0.03)
        ax.set_ylabel("muscle")
    else:
        for i, name in enumerate(names):
            ax.plot(t, values[:, i], label=name, lw=1.2)
    ax.set_title(title, fontsize=10)


def traces(panels: dict[str, np.ndarray], names: list[str], dt: float, path: Path) -> Path:
    """One row per entry of ``panels`` ((time, muscle) arrays), against time."""
    titles = {
        "excitation": "muscle excitation",
        "ia": "Ia (spindle primary), rate / 300 imp/s",
        "ii": "II (spindle secondary)",
        "ib": "Ib (Golgi tendon organ)",
        "gamma_static": "gamma static drive",
        "gamma_dynamic": "gamma dynamic drive",
    }
    fig = Figure(figsize=(9, 2.2 * len(panels) + 0.6))  # no pyplot: no global backend or figure list
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)
    for ax, (key, values) in zip(axes[:, 0], panels.items(), strict=True):
        _panel(ax, values, names, dt, titles.get(key, key))
    if len(names) <= MANY_MUSCLES:
        axes[0, 0].legend(fontsize=7, ncol=min(len(names), 4), loc="upper right")
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle("first evaluation episode", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def trajectories(episodes: list[Episode], dt: float, path: Path) -> Path:
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for i, episode in enumerate(episodes):
        color = f"C{i % 10}"
        if episode.hand:
            hand = np.array(episode.hand)
            ax.plot(hand[:, 0], hand[:, 1], color=color, lw=1.2)
            ax.plot(*hand[0], "o", color=color, ms=4)
            if episode.target is not None:
                marker = "x" if episode.success else "s"
                ax.plot(*episode.target, marker, color=color, ms=9, mew=2, mfc="none")
        elif episode.pelvis_height:
            t = np.arange(1, len(episode.pelvis_height) + 1) * dt
            ax.plot(t, episode.pelvis_height, color=color, lw=1.2)
    if episodes[0].hand:
        ax.set(xlabel="x (m)", ylabel="z (m)", title="hand paths (o start; x target reached-and-held, □ not)")
        ax.set_aspect("equal")
    else:
        ax.set(xlabel="time (s)", ylabel="pelvis height (m)", title="pelvis height per episode")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def hidden_pca(episodes: list[Episode], path: Path) -> Path:
    """Hidden states of all episodes projected on their first two principal components."""
    runs = [np.stack(e.hidden) for e in episodes if e.hidden]
    everything = np.concatenate(runs)
    mean = everything.mean(axis=0)
    _, singular, components = np.linalg.svd(everything - mean, full_matrices=False)
    explained = singular**2 / np.sum(singular**2)
    fig = Figure(figsize=(10, 4.2))
    ax, bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for i, run in enumerate(runs):
        projected = (run - mean) @ components[:2].T
        ax.plot(projected[:, 0], projected[:, 1], color=f"C{i % 10}", lw=1.0)
        ax.plot(*projected[0], "o", color=f"C{i % 10}", ms=4)
    ax.set(
        xlabel=f"PC1 ({explained[0]:.0%})", ylabel=f"PC2 ({explained[1]:.0%})", title="hidden state (o start)"
    )
    shown = min(10, explained.size)
    bar.bar(np.arange(1, shown + 1), explained[:shown])
    bar.set(xlabel="principal component", ylabel="variance explained", title=f"{everything.shape[1]} units")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
