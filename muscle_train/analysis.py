"""Recordings of a trained run for ``muscle_analysis``, and the analyses that need the policy itself.

``record`` runs episodes and keeps, per step, what the analyses read (a
:class:`muscle_analysis.recording.Recording`); ``fixed_points`` searches the policy's recurrent core
for fixed points under the inputs of each condition; ``analyse_run`` does both and hands the
recording to :func:`muscle_analysis.report.analyse` (``evaluate.py RUN --analysis DIR``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from muscle_analysis.fixed_points import FixedPoints, find_fixed_points
from muscle_analysis.recording import Recording
from muscle_analysis.report import analyse
from muscle_train.rollouts import run_episodes
from policies.recurrent import carries_cell, recurrent_map

# Body signals a plant may offer, by the method that reads them now.
BODY_SIGNALS = {
    "hand": "hand_xz",
    "pelvis_height": "pelvis_height",
    "foot_load": "foot_load",
    "ground_reaction_force": "ground_force",
    "joint_angle": "coordinate_values",
}
TASK_SIGNALS = ("target",)  # attributes of an env that are worth a signal (the reach target, m)
AFFERENTS = ("ia", "ii", "ib", "gamma_static", "gamma_dynamic")


def record(
    model: BaseAlgorithm,
    venv: VecEnv,
    n_episodes: int,
    deterministic: bool,
    meta: dict[str, Any] | None = None,
) -> Recording:
    """Run ``n_episodes`` on a one-env ``venv`` and record every step: the observation entries as the
    policy saw them (``obs.<key>``), the excitations it commanded, the muscles' activations, the
    body's signals (hand, pelvis height, foot loads, as the plant has them), a recurrent policy's
    state after it read the step (``hidden``, and ``cell`` for an LSTM) or a feed-forward actor's
    last hidden layer (``latent``), a sensory policy's afferents and gamma drives, the env's
    ``target`` where it has one, and the labels ``time``,
    ``success`` (the step's ``info["is_success"]``: at an episode's last step, the episode's) and the
    env's ``step_labels()``."""
    if venv.num_envs != 1:
        raise ValueError(f"record runs on one env; this vec env has {venv.num_envs}")
    env = venv.unwrapped.envs[0].unwrapped
    space = env.action_space  # the excitations, [0, 1]
    low, high = model.action_space.low, model.action_space.high  # what the policy outputs
    steps: dict[str, list[Any]] = {}
    labels: dict[str, list[int]] = {"time": []}
    episode: list[int] = []
    position = {"episode": 0, "time": 0}

    def keep(name: str, value: Any) -> None:
        steps.setdefault(name, []).append(np.array(value, dtype=np.float64).ravel())

    def before_step(obs: Any) -> None:
        for key, value in obs.items() if isinstance(obs, dict) else [("obs", obs)]:
            keep(f"obs.{key}", value[0])
        keep("activation", env.plant.muscle_activation())
        for name, method in BODY_SIGNALS.items():
            if hasattr(env.plant, method):
                keep(name, getattr(env.plant, method)())
        for name in TASK_SIGNALS:
            if getattr(env, name, None) is not None:
                keep(name, getattr(env, name))
        for name, value in {"time": position["time"], **env.step_labels()}.items():
            labels.setdefault(name, []).append(value)
        episode.append(position["episode"])

    def on_step(obs: Any, action: np.ndarray, state: Any, dones: np.ndarray, infos: list[dict]) -> None:
        scaled = space.low + (action[0] - low) / (high - low) * (space.high - space.low)
        keep("excitation", np.clip(scaled, space.low, space.high))
        labels.setdefault("success", []).append(int(bool(infos[0].get("is_success", False))))
        if state is not None:  # RecurrentPPO: (hidden, cell) of the actor, (layers, envs, size)
            keep("hidden", state[0][-1, 0])
            if carries_cell(model.policy):
                keep("cell", state[1][-1, 0])
        position["time"] += 1
        if dones[0]:
            position["episode"] += 1
            position["time"] = 0

    run_episodes(model, venv, n_episodes, deterministic, on_step=on_step, before_step=before_step)
    signals = {name: np.stack(values) for name, values in steps.items()}
    signals.update(_afferents(model, signals, np.array(episode)))
    signals.update(_latent(model, signals))
    label_names = {name: list(names) for name, names in env.conditions.items()}
    if env.epochs:
        label_names["epoch"] = list(env.epochs)
    meta = {
        "dt": env.dt,
        "muscles": list(env.plant.muscle_names),
        **({"coordinates": list(env.plant.coordinates)} if hasattr(env.plant, "coordinates") else {}),
        "n_episodes": n_episodes,
        "env_config": dataclasses.asdict(env.config) if dataclasses.is_dataclass(env.config) else {},
        **(meta or {}),
    }
    return Recording(
        signals, np.array(episode), {k: np.array(v) for k, v in labels.items()}, label_names, meta
    )


def _observations(signals: dict[str, np.ndarray], where: Any) -> dict[str, np.ndarray]:
    return {name[4:]: values[where] for name, values in signals.items() if name.startswith("obs.")}


def _afferents(
    model: BaseAlgorithm, signals: dict[str, np.ndarray], episode: np.ndarray
) -> dict[str, np.ndarray]:
    """A sensory policy's afferents and gamma drives along each episode, from its own ``probe()``."""
    policy = model.policy
    traces: dict[str, list[np.ndarray]] = {}
    for e in np.unique(episode):
        obs = _observations(signals, episode == e)
        with torch.no_grad():
            if hasattr(policy, "probe"):  # SensoryRecurrentPolicy
                trace = policy.probe(obs)
            elif hasattr(getattr(policy, "features_extractor", None), "probe"):  # SensoryExtractor
                tensors, _ = policy.obs_to_tensor(obs)
                trace = policy.features_extractor.probe(tensors)
            else:
                return {}
        for key in AFFERENTS:
            traces.setdefault(key, []).append(trace[key].cpu().numpy())
    return {key: np.concatenate(values) for key, values in traces.items()}


def _latent(model: BaseAlgorithm, signals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A feed-forward actor's last hidden layer (``latent``) at every step (SB3 actor-critics)."""
    policy = model.policy
    if hasattr(policy, "lstm_actor") or not hasattr(policy, "mlp_extractor"):
        return {}
    with torch.no_grad():
        tensors, _ = policy.obs_to_tensor(_observations(signals, slice(None)))
        features = policy.extract_features(tensors, policy.pi_features_extractor)
        return {"latent": policy.mlp_extractor.forward_actor(features).double().cpu().numpy()}


def fixed_points(
    model: BaseAlgorithm, recording: Recording, starts: int = 64, epoch: str = "delay", seed: int = 0
) -> dict[str, FixedPoints]:
    """Fixed points of the policy's recurrent core (``policies.recurrent.recurrent_map``), per task
    (or for all episodes, where the env has no tasks): the input held fixed is the mean of the core's
    inputs over that condition's ``epoch`` steps (all its steps where there are none), and the
    searches start from ``starts`` states the core visited in that condition."""
    step, inputs_of = recurrent_map(model.policy)
    with torch.no_grad():
        inputs = np.concatenate(
            [
                inputs_of(_observations(recording.signals, recording.episode == e)).double().cpu().numpy()
                for e in np.unique(recording.episode)
            ]
        )
    parts = [recording.signals["hidden"]] + (
        [recording.signals["cell"]] if "cell" in recording.signals else []
    )
    states = np.concatenate(parts, axis=1)
    in_epoch = np.ones(len(states), dtype=bool)
    if "epoch" in recording.labels and epoch in recording.label_names.get("epoch", []):
        in_epoch = recording.labels["epoch"] == recording.label_names["epoch"].index(epoch)
    task = recording.labels.get("task")
    groups = (
        {"all": np.ones(len(states), dtype=bool)}
        if task is None
        else {recording.code_name("task", code): task == code for code in np.unique(task)}
    )
    rng = np.random.default_rng(seed)
    found = {}
    for name, members in groups.items():
        where = members & in_epoch
        if not where.any():  # (e.g. no delay epoch: trials with delay 0)
            where = members
        visited = states[members]
        chosen = visited[rng.choice(len(visited), size=min(starts, len(visited)), replace=False)]
        found[name] = find_fixed_points(step, inputs[where].mean(axis=0), chosen, noise=0.01, seed=seed)
    return found


def analyse_run(
    model: BaseAlgorithm,
    venv: VecEnv,
    out_dir: Path,
    n_episodes: int,
    deterministic: bool,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record ``n_episodes`` (saved as ``out_dir/recording.npz``), find the recurrent core's fixed
    points where the policy has one, and run every analysis that applies; returns what
    :func:`muscle_analysis.report.analyse` wrote to ``analysis.json``."""
    recording = record(model, venv, n_episodes, deterministic, meta)
    recording.save(out_dir / "recording.npz")
    points = fixed_points(model, recording) if "hidden" in recording.signals else None
    return analyse(recording, out_dir, points)
