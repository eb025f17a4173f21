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
  for every task, the muscle excitations of one of those episodes;
- ``gait.png`` (the walking envs): vertical and fore-aft ground reaction force per foot over the
  normalized gait cycle; over the cycle of the leg with more of them, its joint angles and the
  muscles' activation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from muscle_analysis.gait import gait_figure
from muscle_analysis.recording import Recording
from muscle_analysis.report import pca_figure
from muscle_train.analysis import AFFERENTS, record

MANY_MUSCLES = 12  # more than this: heat maps instead of one line per muscle


def write_all(
    model: BaseAlgorithm, venv: VecEnv, out_dir: Path, n_episodes: int, deterministic: bool
) -> list[Path]:
    """Record ``n_episodes`` and write every figure that applies to this env and policy."""
    out_dir.mkdir(parents=True, exist_ok=True)
    recording = record(model, venv, n_episodes, deterministic)
    env = venv.unwrapped.envs[0].unwrapped
    first = recording.episode == 0
    names = list(env.plant.muscle_names)
    written = [trajectories(recording, out_dir / "trajectories.png")]
    written.append(
        traces(
            {"excitation": recording.signals["excitation"][first]}, names, env.dt, out_dir / "excitations.png"
        )
    )
    if "ia" in recording.signals:
        afferents = {key: recording.signals[key][first] for key in AFFERENTS}
        written.append(traces(afferents, names, env.dt, out_dir / "afferents.png"))
    if "hidden" in recording.signals:
        pca_figure(recording, "hidden", out_dir / "hidden_pca.png")
        written.append(out_dir / "hidden_pca.png")
    if hasattr(env, "path") and "task" in env.conditions:
        written += task_figures(model, venv, deterministic, out_dir)
    if "obs.ground_reaction_force" in recording.signals:  # a walking env
        written.append(gait_figure(recording, env.config.contact_threshold, out_dir / "gait.png"))
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
            episode = record(model, venv, 1, deterministic).signals
            color = f"C{direction % 10}"
            hand = episode["hand"]
            desired = env.path(task, direction, steps)
            ax.plot(desired[:, 0], desired[:, 1], "--", color=color, lw=0.8, alpha=0.6)
            ax.plot(hand[:, 0], hand[:, 1], color=color, lw=1.2)
            if direction == 0:
                excitation = episode["excitation"]
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
    muscles_fig.suptitle(
        "muscle excitation, first direction, middle speed\n(dotted: go cue, end of movement)"
    )
    written = []
    for fig, name in ((paths_fig, "task_paths.png"), (muscles_fig, "task_muscles.png")):
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=120)
        written.append(out_dir / name)
    return written


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


def trajectories(recording: Recording, path: Path) -> Path:
    """The hand's path in each episode, its target marked as reached-and-held (x) or not (square);
    for the legs, the pelvis height against time."""
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    success = recording.label_of_episodes("success", last=True)
    hand = "hand" in recording.signals
    for i, steps in enumerate(recording.episodes("hand" if hand else "pelvis_height")):
        color = f"C{i % 10}"
        if hand:
            ax.plot(steps[:, 0], steps[:, 1], color=color, lw=1.2)
            ax.plot(*steps[0], "o", color=color, ms=4)
            if "target" in recording.signals:
                target = recording.episodes("target")[i][-1]
                ax.plot(*target, "x" if success[i] else "s", color=color, ms=9, mew=2, mfc="none")
        else:
            ax.plot(np.arange(len(steps)) * recording.dt, steps[:, 0], color=color, lw=1.2)
    if hand:
        ax.set(xlabel="x (m)", ylabel="z (m)", title="hand paths (o start; x target reached-and-held, □ not)")
        ax.set_aspect("equal")
    else:
        ax.set(xlabel="time (s)", ylabel="pelvis height (m)", title="pelvis height per episode")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
