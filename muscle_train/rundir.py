"""Run directories: their layout, config.yml, and the model, normalizer and checkpoint files (written
atomically, read with checks that name what is wrong).

A run directory (``logs/<env_id>/<algo>_<seed>_<timestamp>/``) holds::

    config.yml                  every resolved setting (muscle_train.config.RunConfig), the command,
                                package versions
    final_model.zip             the model at the end of training (or at Ctrl-C)
    vec_normalize.pkl           its VecNormalize statistics
    best_model.zip              the model with the best periodic evaluation so far
    best_vec_normalize.pkl      its VecNormalize statistics
    checkpoints/step_<N>/       model.zip + vec_normalize.pkl, saved together (atomically)
    evaluations.csv             one row per periodic evaluation (the learning curve)
    monitor/                    per-env episode logs (SB3 Monitor)
    tb/                         TensorBoard logs
    wandb/                      W&B's local files (with --use_wandb)
    distillation.json           --algo distill: teacher and student evaluated alike, ratios, rounds
    cmaes_state.pkl             --algo cmaes: the search state --resume continues

Evaluation rebuilds the env from ``config.yml`` exactly as training built it, wrappers included.
"""

from __future__ import annotations

import csv
import os
import pickle
import platform
import re
import shutil
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy

from muscle_train.config import RunConfig, RunError, read_yaml

CONFIG_FILE = "config.yml"
MODEL_FILE = "final_model.zip"
NORMALIZER_FILE = "vec_normalize.pkl"
BEST_MODEL_FILE = "best_model.zip"
BEST_NORMALIZER_FILE = "best_vec_normalize.pkl"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_MODEL, CHECKPOINT_NORMALIZER = "model.zip", "vec_normalize.pkl"
EVALUATIONS_FILE = "evaluations.csv"
MONITOR_DIR = "monitor"
TENSORBOARD_DIR = "tb"

# The SB3 algorithms by name: what trains a model file and what loads it.
ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "recurrent_ppo": RecurrentPPO,
    "sac": SAC,
    "td3": TD3,
}


def versions() -> dict[str, str]:
    names = ["muscle_envs", "gymnasium", "mujoco", "stable-baselines3", "sb3-contrib", "torch", "numpy"]
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def save_config(run_dir: Path, config: RunConfig, command: str | None = None) -> RunConfig:
    """Write config.yml and return what it holds. A new run records its ``command`` (default: this
    process's command line); a resumed one (its config has a command) appends it to ``resumed``."""
    command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    if config.command is None:
        config = config.replace(command=command)
    else:
        config = config.replace(resumed=(*config.resumed, command))
    config = config.replace(versions=versions())
    atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False))
    return config


def load_config(run_dir: Path) -> RunConfig:
    """The run configuration in ``run_dir``'s config.yml.

    Raises:
        RunError: no config.yml, or one that is not a run configuration.
    """
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} has no {CONFIG_FILE}: is it a training run directory?")
    return RunConfig.from_dict(read_yaml(path), str(path))


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_model_and_normalizer(
    model: BaseAlgorithm, venv: VecEnv, model_path: Path, normalizer_path: Path
) -> None:
    """Write the pair to temporary files, then move both into place: a crash or Ctrl-C while saving
    leaves the previous pair, never a half-written file."""
    tmp_model = model_path.with_name(f".tmp-{model_path.name}")  # keeps the .zip suffix SB3 wants
    model.save(tmp_model)
    moves = [(tmp_model, model_path)]
    if isinstance(venv, VecNormalize):
        tmp_norm = normalizer_path.with_name(f".tmp-{normalizer_path.name}")
        venv.save(str(tmp_norm))
        moves.append((tmp_norm, normalizer_path))
    for src, dst in moves:
        os.replace(src, dst)


def save_checkpoint(model: BaseAlgorithm, venv: VecEnv, run_dir: Path, keep: int) -> Path:
    """``checkpoints/step_<N>/`` with the model and its normalizer, written as a temporary folder and
    renamed (one atomic step); only the latest ``keep`` checkpoints stay."""
    root = run_dir / CHECKPOINT_DIR
    final = root / f"step_{model.num_timesteps:012d}"
    tmp = root / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model_and_normalizer(model, venv, tmp / CHECKPOINT_MODEL, tmp / CHECKPOINT_NORMALIZER)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's complete checkpoints, oldest first."""
    root = run_dir / CHECKPOINT_DIR
    found = [p for p in root.glob("step_*") if re.fullmatch(r"step_\d+", p.name) and p.is_dir()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def run_files(run_dir: Path, which: str, config: RunConfig) -> tuple[Path, Path | None]:
    """The model and normalizer of a run directory; the latest checkpoint if a killed run left no
    final model."""
    names = {
        "final": (MODEL_FILE, NORMALIZER_FILE),
        "best": (BEST_MODEL_FILE, BEST_NORMALIZER_FILE),
    }
    model_name, normalizer_name = names[which]
    model_path, normalizer_path = run_dir / model_name, run_dir / normalizer_name
    if not model_path.is_file():
        saved = checkpoints(run_dir)
        if which == "best" or not saved:
            raise RunError(
                f"{run_dir} has no {model_name}"
                + ("" if which == "best" else " and no checkpoint: did the training run save anything?")
            )
        model_path, normalizer_path = (
            saved[-1] / CHECKPOINT_MODEL,
            saved[-1] / CHECKPOINT_NORMALIZER,
        )
        print(
            f"{run_dir} has no {model_name}; using the latest checkpoint, {saved[-1].name}", file=sys.stderr
        )
    return model_path, normalizer_path if config.normalize else None


# -- loading (with checks) --------------------------------------------------------------------------
def algorithm_of(model_path: Path) -> type[BaseAlgorithm]:
    """The algorithm class that saved ``model_path``, read from the file's policy class."""
    if not model_path.is_file():
        raise RunError(f"model file {model_path} not found")
    try:
        data, _, _ = load_from_zip_file(model_path, load_data=True, device="cpu")
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError, RuntimeError, AssertionError) as err:
        raise RunError(f"{model_path} is not a readable SB3 model ({type(err).__name__}: {err})") from None
    if not data:
        raise RunError(f"{model_path} is not a readable SB3 model: it holds no data entry (truncated?)")
    policy_class = data.get("policy_class")
    bases = [
        (RecurrentActorCriticPolicy, RecurrentPPO),
        (SACPolicy, SAC),
        (TD3Policy, TD3),
        (ActorCriticPolicy, PPO),
    ]
    for base, algorithm in bases:
        if isinstance(policy_class, type) and issubclass(policy_class, base):
            return algorithm
    raise RunError(f"{model_path}: cannot tell which algorithm saved it (policy class {policy_class!r})")


def load_model(model_path: Path, venv: VecEnv, device: str = "cpu") -> BaseAlgorithm:
    """Load a model and check that it fits ``venv`` (observation and action spaces)."""
    model = algorithm_of(model_path).load(model_path, device=device)
    if model.observation_space != venv.observation_space:
        raise RunError(
            f"{model_path} was trained on observations {describe_space(model.observation_space)}, "
            f"but the env gives {describe_space(venv.observation_space)}: another env id or other env_kwargs?"
        )
    if model.action_space.shape != venv.action_space.shape:
        raise RunError(
            f"{model_path} acts with shape {model.action_space.shape}, "
            f"the env expects {venv.action_space.shape}"
        )
    return model


def read_normalizer(path: Path) -> VecNormalize:
    """The VecNormalize statistics saved at ``path`` (not yet around an env).

    Raises:
        RunError: no such file, or not VecNormalize statistics (corrupt, truncated, another object).
    """
    if not path.is_file():
        raise RunError(f"normalizer file {path} not found")
    try:
        with open(path, "rb") as f:
            normalizer = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, IndexError) as err:
        raise RunError(f"{path} is not a readable VecNormalize file ({type(err).__name__}: {err})") from None
    if not isinstance(normalizer, VecNormalize):
        raise RunError(f"{path} holds a {type(normalizer).__name__}, not VecNormalize statistics")
    return normalizer


def load_normalizer(path: Path, venv: VecEnv, training: bool = False) -> VecNormalize:
    """Saved VecNormalize statistics around ``venv``, checked against its observation space.

    For evaluation (``training=False``) the statistics are frozen and rewards reported unnormalized.
    """
    normalizer = read_normalizer(path)
    if normalizer.observation_space != venv.observation_space:
        raise RunError(
            f"normalizer {path} was saved for observations {describe_space(normalizer.observation_space)}, "
            f"but the env gives {describe_space(venv.observation_space)}: was it saved with another env id "
            "or other env_kwargs?"
        )
    normalizer.set_venv(venv)
    if not training:
        normalizer.training, normalizer.norm_reward = False, False
    return normalizer


def describe_space(space: gym.Space) -> str:
    if isinstance(space, gym.spaces.Dict):
        return "{" + ", ".join(f"{key}: {sub.shape}" for key, sub in space.spaces.items()) + "}"
    return f"{type(space).__name__}{getattr(space, 'shape', '')}"


# -- tables ----------------------------------------------------------------------------------------
def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file with a header; none if the file does not exist."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def append_csv(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to a CSV file, writing the header first if the file is new."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
