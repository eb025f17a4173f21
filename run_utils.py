"""What train_sb3.py and evaluate.py share: env construction, run directories, saved configs.

A run directory holds ``config.yml`` (every resolved setting, the command and package versions),
``final_model.zip`` and ``vec_normalize.pkl``. Evaluation rebuilds the env from ``config.yml``
exactly as training built it, wrappers included.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml
from gymnasium.wrappers import RescaleAction
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

import muscle_envs

CONFIG_FILE = "config.yml"
MODEL_FILE = "final_model.zip"
NORMALIZER_FILE = "vec_normalize.pkl"
# The policy acts in [-1, 1] (what SB3's Gaussian policies and clipping assume); RescaleAction maps
# that affinely onto the env's [0, 1] excitations. Saved in config.yml, re-applied by evaluate.py.
POLICY_ACTION_RANGE = (-1.0, 1.0)


def qualified_id(env_id: str) -> str:
    """``muscle_envs:<id>`` for our ids, so worker processes that never imported the package (spawn,
    forkserver) can still make the env."""
    return f"muscle_envs:{env_id}" if env_id in muscle_envs.ENV_IDS else env_id


def make_env(
    env_id: str,
    env_kwargs: dict[str, Any],
    action_range: tuple[float, float] | None,
    render_mode: str | None = None,
) -> gym.Env:
    """One env as training uses it: the registered env, its action rescaling, a Monitor."""
    env = gym.make(qualified_id(env_id), render_mode=render_mode, **env_kwargs)
    if action_range is not None:
        low, high = np.float32(action_range[0]), np.float32(action_range[1])  # float32 like the env's space
        env = RescaleAction(env, low, high)
    return Monitor(env, info_keywords=("is_success",))


def _env_factory(
    env_id: str, env_kwargs: dict[str, Any], action_range: tuple[float, float] | None
) -> Callable:
    def build() -> gym.Env:
        import torch  # in the worker process: keep torch to one thread there

        torch.set_num_threads(1)
        return make_env(env_id, env_kwargs, action_range)

    return build


def make_vec_env(
    env_id: str,
    env_kwargs: dict[str, Any],
    n_envs: int,
    vec_env: str,
    seed: int,
    action_range: tuple[float, float] | None = POLICY_ACTION_RANGE,
) -> VecEnv:
    """``n_envs`` copies in a DummyVecEnv or SubprocVecEnv (forkserver on Linux), seeded seed..seed+n-1."""
    factories = [_env_factory(env_id, env_kwargs, action_range) for _ in range(n_envs)]
    if vec_env == "subproc":
        venv: VecEnv = SubprocVecEnv(factories)
    elif vec_env == "dummy":
        venv = DummyVecEnv(factories)
    else:
        raise ValueError(f"vec_env must be 'subproc' or 'dummy', got {vec_env!r}")
    venv.seed(seed)
    return venv


def parse_env_kwargs(pairs: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict, values parsed as YAML (numbers, booleans, lists, strings)."""
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--env_kwargs takes key=value pairs, got {pair!r}")
        kwargs[key] = yaml.safe_load(value)
    return kwargs


def versions() -> dict[str, str]:
    names = ["muscle_envs", "gymnasium", "mujoco", "stable-baselines3", "torch", "numpy"]
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def save_config(run_dir: Path, config: dict[str, Any]) -> None:
    record = {**config, "command": " ".join(sys.argv), "versions": versions()}
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(record, sort_keys=False))


def load_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no {CONFIG_FILE}: is it a train_sb3.py run directory?")
    return yaml.safe_load(path.read_text())
