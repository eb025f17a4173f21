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
import inspect
import json
import os
import pickle
import platform
import re
import shutil
import sys
import zipfile
import zlib
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import ActionNoise, NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy

from muscle_train.config import RunConfig, RunError, read_yaml
from muscle_train.replay import REPLAY_FILE, SAC, TD3, load_replay, replay_buffer_class, save_replay

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


# Hyperparameters that may be a schedule over training: a number, or rl-zoo3's "lin_<start>" (from
# <start> at the first step linearly down to 0 at the last).
SCHEDULED = ("learning_rate", "clip_range", "clip_range_vf")
LINEAR_PREFIX = "lin_"


def schedule(name: str, value: Any) -> Any:
    """``value`` as the algorithm takes it: a ``"lin_<start>"`` string becomes SB3's LinearSchedule
    from <start> to 0 (called with the fraction of training remaining); anything else is as is.

    Raises:
        RunError: a string that is not ``lin_`` and a number.
    """
    if not isinstance(value, str):
        return value
    try:
        if not value.startswith(LINEAR_PREFIX):
            raise ValueError
        start = float(value[len(LINEAR_PREFIX) :])
    except ValueError:
        raise RunError(
            f"{name} must be a number or 'lin_<start>' (linear decay to 0), got {value!r}"
        ) from None
    return LinearSchedule(start, 0.0, 1.0)


# Action noise of the off-policy algorithms, by hyperparams.yml's name: {kind: normal, sigma: 0.1} or
# {kind: ornstein_uhlenbeck, sigma: 0.2, theta: 0.15} (seed 002's two), sigma in the policy's range.
ACTION_NOISES = ("normal", "ornstein_uhlenbeck")


def action_noise(settings: dict[str, Any] | None, action_space: gym.Space) -> ActionNoise | None:
    """The ``action_noise`` hyperparameter as SB3's noise process over the action space's entries.

    Raises:
        RunError: an unknown kind, or settings the kind does not take.
    """
    if settings is None:
        return None
    values = dict(settings) if isinstance(settings, dict) else {"kind": settings}
    kind = values.pop("kind", None)
    if kind not in ACTION_NOISES:
        raise RunError(f"action_noise needs kind: one of {ACTION_NOISES} (and sigma), got {settings!r}")
    size = int(np.prod(action_space.shape))
    sigma = np.full(size, float(values.pop("sigma", 0.1)))
    try:
        if kind == "normal":
            noise: ActionNoise = NormalActionNoise(np.zeros(size), sigma, **values)
        else:
            noise = OrnsteinUhlenbeckActionNoise(np.zeros(size), sigma, **values)
    except TypeError as err:
        raise RunError(f"action_noise {settings!r}: {err}") from None
    return noise


def algorithm_kwargs(
    hyperparams: dict[str, Any], observation_space: gym.Space, action_space: gym.Space
) -> dict[str, Any]:
    """A run's hyperparameters as the algorithm's keyword arguments for an env of these spaces:
    schedules, the replay buffer class and the action noise built from their names;
    ``policy_kwargs``, which the policy's spec holds, left out.

    Raises:
        RunError: a value that names none of them.
    """
    built = {}
    for key, value in hyperparams.items():
        if key in SCHEDULED:
            built[key] = schedule(key, value)
        elif key == "replay_buffer_class":
            try:
                built[key] = replay_buffer_class(value, observation_space)
            except ValueError as err:
                raise RunError(str(err)) from None
        elif key == "action_noise":
            built[key] = action_noise(value, action_space)
        elif key != "policy_kwargs":
            built[key] = value
    return built


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
    """Write ``path`` whole or not at all (a temporary file renamed; removed if writing fails)."""
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise write_error(path, err) from None


def write_error(path: Path, err: OSError) -> RunError:
    """A failed write (a full disk, a folder that is not writable) as one line naming the file."""
    return RunError(f"could not write {path}: {err.strerror or err}")


def save_model_and_normalizer(
    model: BaseAlgorithm, venv: VecEnv, model_path: Path, normalizer_path: Path
) -> None:
    """Write the pair to temporary files, then move both into place: a crash or Ctrl-C while saving
    leaves the previous pair, never a half-written file."""
    moves = [(model_path.with_name(f".tmp-{model_path.name}"), model_path)]  # .zip, as SB3 wants
    if isinstance(venv, VecNormalize):
        statistics = statistics_path(normalizer_path)
        moves += [(path.with_name(f".tmp-{path.name}"), path) for path in (normalizer_path, statistics)]
    try:
        model.save(moves[0][0])
        if isinstance(venv, VecNormalize):
            venv.save(str(moves[1][0]))  # SB3's pickle, for SB3's own VecNormalize.load
            moves[2][0].write_text(json.dumps(normalizer_statistics(venv)))
        for src, dst in moves:
            os.replace(src, dst)
    except OSError as err:  # a full disk: no temporaries left behind, the previous pair intact
        for src, _ in moves:
            src.unlink(missing_ok=True)
        raise write_error(model_path, err) from None


def save_checkpoint(model: BaseAlgorithm, venv: VecEnv, run_dir: Path, keep: int) -> Path:
    """``checkpoints/step_<N>/`` with the model and its normalizer (and an off-policy model's replay
    buffer, ``replay.REPLAY_FILE``), written as a temporary folder and renamed (one atomic step); only
    the latest ``keep`` checkpoints stay."""
    root = run_dir / CHECKPOINT_DIR
    final = root / f"step_{model.num_timesteps:012d}"
    tmp = root / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_model_and_normalizer(model, venv, tmp / CHECKPOINT_MODEL, tmp / CHECKPOINT_NORMALIZER)
        if getattr(model, "replay_buffer", None) is not None:  # off-policy: what it learns from
            save_replay(model.replay_buffer, tmp / REPLAY_FILE)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except (OSError, RunError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise err if isinstance(err, RunError) else write_error(final, err) from None
    for old in checkpoints(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's complete checkpoints, oldest first."""
    root = run_dir / CHECKPOINT_DIR
    found = [p for p in root.glob("step_*") if re.fullmatch(r"step_\d+", p.name) and p.is_dir()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def run_files(run_dir: Path, which: str, config: RunConfig) -> tuple[Path, Path | None]:
    """The model and normalizer of a run directory: ``which`` is ``final`` (the latest checkpoint if a
    killed run left no final model), ``best``, or a checkpoint's step count (``2250000``)."""
    names = {
        "final": (MODEL_FILE, NORMALIZER_FILE),
        "best": (BEST_MODEL_FILE, BEST_NORMALIZER_FILE),
    }
    saved = checkpoints(run_dir)
    if which not in names:
        steps = {int(p.name[5:]): p for p in saved}
        if not which.isdigit() or int(which) not in steps:
            raise RunError(
                f"{which!r} is not final, best or the step of one of {run_dir}'s checkpoints "
                f"({sorted(steps)})"
            )
        checkpoint = steps[int(which)]
        return checkpoint / CHECKPOINT_MODEL, checkpoint / CHECKPOINT_NORMALIZER if config.normalize else None
    model_name, normalizer_name = names[which]
    model_path, normalizer_path = run_dir / model_name, run_dir / normalizer_name
    if not model_path.is_file():
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


# -- loading: without running pickled code unless trusted --------------------------------------------
# SB3 keeps a model's spaces, policy class, schedules and rollout state as pickles (cloudpickle) in
# the model file's JSON "data", and VecNormalize saves itself as a pickle: loading either as SB3 does
# runs whatever code the file holds. A run directory's files are therefore loaded without unpickling
# anything: the normalizer from its JSON statistics, the model with every pickled entry rebuilt from
# the run's config.yml and its env (the weights are torch tensors, loaded with weights_only=True).
# What cannot be loaded so (files written before 0.2.0, a model file without a config.yml beside it)
# needs ``trust=True`` (``--trust``).
TRUST_HINT = "pass --trust to load it anyway, only if you trust where the file came from"
STATISTICS_FORMAT = "muscle_envs.vec_normalize/1"


def statistics_path(normalizer_path: Path) -> Path:
    """The JSON statistics saved beside a normalizer pickle (``vec_normalize.pkl`` -> ``.json``)."""
    return normalizer_path.with_suffix(".json")


def _rms_record(rms: Any) -> dict[str, Any]:
    return {
        "mean": rms.mean.tolist(),
        "var": rms.var.tolist(),
        "count": float(rms.count),
        "shape": rms.mean.shape,
    }


def normalizer_statistics(normalizer: VecNormalize) -> dict[str, Any]:
    """VecNormalize's settings and running statistics as plain JSON (floats round-trip exactly)."""
    obs_rms = normalizer.obs_rms
    return {
        "format": STATISTICS_FORMAT,
        "norm_obs": normalizer.norm_obs,
        "norm_reward": normalizer.norm_reward,
        "norm_obs_keys": normalizer.norm_obs_keys,
        "clip_obs": normalizer.clip_obs,
        "clip_reward": normalizer.clip_reward,
        "gamma": normalizer.gamma,
        "epsilon": normalizer.epsilon,
        "obs_rms": {key: _rms_record(rms) for key, rms in obs_rms.items()}
        if isinstance(obs_rms, dict)
        else _rms_record(obs_rms),
        "ret_rms": _rms_record(normalizer.ret_rms),
    }


def _read_statistics(path: Path) -> dict[str, Any]:
    """The JSON record :func:`normalizer_statistics` wrote at ``path``; RunError for anything else."""
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or record.get("format") != STATISTICS_FORMAT:
            raise ValueError(f"not a {STATISTICS_FORMAT} record")
    except (OSError, ValueError) as err:
        raise RunError(
            f"{path} is not a readable normalizer statistics file ({type(err).__name__}: {err})"
        ) from None
    return record


def _statistics_normalizer(path: Path, venv: VecEnv) -> VecNormalize:
    """A FastVecNormalize around ``venv`` with the statistics of the JSON file ``path``."""
    from muscle_envs.vector import FastVecNormalize

    record = _read_statistics(path)
    try:
        stats = record["obs_rms"]
        keys = record["norm_obs_keys"]  # a Dict observation's normalized entries; None for a Box
        by_key = keys is not None
        saved = (
            {key: tuple(entry["shape"]) for key, entry in stats.items()} if by_key else tuple(stats["shape"])
        )
        space = venv.observation_space
        given = {key: space[key].shape for key in keys if key in space.spaces} if by_key else space.shape
        if saved != given:
            described = "{" + ", ".join(f"{k}: {v}" for k, v in saved.items()) + "}" if by_key else str(saved)
            raise RunError(
                f"normalizer {path} was saved for observations {described}, but the env gives "
                f"{describe_space(space)}: was it saved with another env id or other env_kwargs?"
            )
        settings = {
            key: record[key]
            for key in ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "gamma", "epsilon")
        }
        normalizer = FastVecNormalize(venv, norm_obs_keys=keys, **settings)
        targets = normalizer.obs_rms if by_key else {None: normalizer.obs_rms}
        stats = stats if by_key else {None: stats}
        for key, rms in [*targets.items(), ("returns", normalizer.ret_rms)]:
            entry = record["ret_rms"] if key == "returns" else stats[key]
            rms.mean = np.asarray(entry["mean"], dtype=np.float64).reshape(entry["shape"])
            rms.var = np.asarray(entry["var"], dtype=np.float64).reshape(entry["shape"])
            rms.count = float(entry["count"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise RunError(
            f"{path} is not a readable normalizer statistics file ({type(err).__name__}: {err})"
        ) from None
    return normalizer


def read_normalizer(path: Path) -> VecNormalize:
    """The VecNormalize pickle at ``path`` (not yet around an env). Unpickling runs code from the file:
    only for files the user trusts.

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


def normalizer_file(path: Path, trust: bool = False) -> Path:
    """The file the normalizer saved at ``path`` (``vec_normalize.pkl``) loads from: its JSON
    statistics beside it, else, with ``trust``, the pickle itself.

    Raises:
        RunError: only a pickle and no ``trust``, or neither file.
    """
    statistics = statistics_path(path)
    if statistics.is_file():
        return statistics
    if not path.is_file():
        raise RunError(f"normalizer file {statistics} not found")
    if not trust:
        raise RunError(f"{path} is a pickle (written before muscle_envs 0.2.0, or by hand); {TRUST_HINT}")
    return path


def check_normalizer_file(path: Path, trust: bool = False) -> None:
    """Raise RunError if the normalizer saved at ``path`` cannot be loaded (as :func:`load_normalizer`
    would, without an env)."""
    source = normalizer_file(path, trust)
    if source == statistics_path(path):
        _read_statistics(source)
    else:
        read_normalizer(source)


def load_normalizer(path: Path, venv: VecEnv, training: bool = False, trust: bool = False) -> VecNormalize:
    """The normalizer saved at ``path`` (``vec_normalize.pkl``: its JSON statistics beside it, or the
    pickle itself with ``trust``) around ``venv``, checked against its observation space.

    For evaluation (``training=False``) the statistics are frozen and rewards reported unnormalized.
    """
    source = normalizer_file(path, trust)
    if source == statistics_path(path):
        normalizer = _statistics_normalizer(source, venv)
    else:
        normalizer = read_normalizer(path)
        if normalizer.observation_space != venv.observation_space:
            raise RunError(
                f"normalizer {path} was saved for observations "
                f"{describe_space(normalizer.observation_space)}, but the env gives "
                f"{describe_space(venv.observation_space)}: was it saved with another env id or other "
                "env_kwargs?"
            )
        normalizer.set_venv(venv)
    normalizer.training = training
    if not training:
        normalizer.norm_reward = False
    return normalizer


def model_data(model_path: Path) -> dict[str, Any]:
    """The JSON "data" entry of an SB3 model file, read without unpickling anything; RunError for a
    file that is missing, not a zip, truncated, or without weights."""
    if not model_path.is_file():
        raise RunError(f"model file {model_path} not found")
    try:
        with zipfile.ZipFile(model_path) as archive:
            names = archive.namelist()
            damaged = archive.testzip()  # every entry's checksum: weights damaged since they were saved
            if damaged is not None:
                raise zipfile.BadZipFile(f"entry {damaged} is damaged")
            data = json.loads(archive.read("data"))
    except (zipfile.BadZipFile, zlib.error, KeyError, ValueError, OSError, EOFError) as err:
        raise RunError(f"{model_path} is not a readable SB3 model ({type(err).__name__}: {err})") from None
    if not isinstance(data, dict) or "policy.pth" not in names:
        raise RunError(f"{model_path} is not a readable SB3 model: no data or no policy weights (truncated?)")
    return data


def model_algorithm(config: RunConfig) -> type[BaseAlgorithm]:
    """The SB3 algorithm class of a run's model files: the run's own for SB3 algorithms; the policy's
    for distillation and CMA-ES, which save their students and controllers as its models."""
    from policies import POLICIES  # torch and the policy modules only when a model is loaded

    return ALGORITHMS.get(config.algo) or POLICIES[config.policy].algorithm


def _rebuilt_entries(algorithm: type[BaseAlgorithm], config: RunConfig, venv: VecEnv) -> dict[str, Any]:
    """What replaces each entry SB3 pickles in a model file, from the run and its env: the spaces and
    the policy class; training state that SB3 rebuilds from the plain settings when it sets a model
    up (schedules, buffer classes, train frequency), or that a resumed run starts afresh (last
    observation, episode buffers)."""
    from policies import POLICIES

    policy = POLICIES[config.policy].policy_class(algorithm)
    defaults = inspect.signature(algorithm.__init__).parameters

    def setting(name: str) -> Any:  # as the run was built: its hyperparameter, else the default
        value = config.hyperparams.get(name, defaults[name].default if name in defaults else None)
        return schedule(name, value) if name in SCHEDULED else value

    names = ("replay_buffer_class", "action_noise")
    built = algorithm_kwargs({key: setting(key) for key in names}, venv.observation_space, venv.action_space)
    return {
        "policy_class": policy,
        "observation_space": venv.observation_space,
        "action_space": venv.action_space,
        "learning_rate": setting("learning_rate"),
        "lr_schedule": None,  # rebuilt from learning_rate
        "clip_range": setting("clip_range"),
        "clip_range_vf": setting("clip_range_vf"),
        "train_freq": setting("train_freq"),
        "rollout_buffer_class": None,  # the default for the observation space
        "replay_buffer_class": built["replay_buffer_class"],  # (None: the default)
        "action_noise": built["action_noise"],
        "_last_obs": None,
        "_last_episode_starts": None,
        "_last_original_obs": None,
        "ep_info_buffer": None,
        "ep_success_buffer": None,
    }


def algorithm_of(model_path: Path) -> type[BaseAlgorithm]:
    """The algorithm class that saved ``model_path``, read from the file's pickled policy class: this
    runs code from the file (only for trusted files)."""
    model_data(model_path)
    try:
        data, _, _ = load_from_zip_file(model_path, load_data=True, device="cpu")
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError, RuntimeError, AssertionError) as err:
        raise RunError(f"{model_path} is not a readable SB3 model ({type(err).__name__}: {err})") from None
    policy_class = (data or {}).get("policy_class")
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


def load_replay_buffer(model: BaseAlgorithm, checkpoint: Path) -> bool:
    """Fill an off-policy ``model``'s replay buffer from ``checkpoint``'s; False if it has none.

    Raises:
        RunError: a file that does not fit the model's buffer.
    """
    path = checkpoint / REPLAY_FILE
    if getattr(model, "replay_buffer", None) is None or not path.is_file():
        return False
    try:
        load_replay(model.replay_buffer, path)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as err:
        raise RunError(f"cannot restore the replay buffer: {err}") from None
    return True


def load_model(
    model_path: Path,
    venv: VecEnv,
    config: RunConfig | None = None,
    trust: bool = False,
    device: str = "cpu",
    for_training: bool = False,
) -> BaseAlgorithm:
    """Load a model and check that it fits ``venv``. With the run's ``config`` nothing pickled in the
    file is run (see above); without one, or for an entry the run cannot rebuild, only with ``trust``.
    ``for_training``: bound to ``venv`` to continue training (else for prediction), with ``config``'s
    hyperparameters over the file's (a resumed run's are its own; a finetune's, its source's with its
    overrides)."""
    env = venv if for_training else None
    if config is None and not trust:
        raise RunError(f"{model_path} has no config.yml beside it to rebuild its settings from; {TRUST_HINT}")
    training = (
        algorithm_kwargs(config.hyperparams, venv.observation_space, venv.action_space)
        if for_training and config is not None
        else {}
    )
    if trust:
        algorithm = algorithm_of(model_path) if config is None else model_algorithm(config)
        model = algorithm.load(model_path, env=env, device=device, custom_objects=training)
    else:
        algorithm = model_algorithm(config)
        pickled = [
            key
            for key, value in model_data(model_path).items()
            if isinstance(value, dict) and ":serialized:" in value
        ]
        rebuilt = _rebuilt_entries(algorithm, config, venv)
        unknown = [key for key in pickled if key not in rebuilt]
        if unknown:
            raise RunError(
                f"{model_path} keeps {unknown} as pickled Python objects, which only its code can "
                f"restore; {TRUST_HINT}"
            )
        try:
            model = algorithm.load(
                model_path,
                env=env,
                device=device,
                custom_objects={**{key: rebuilt[key] for key in pickled}, **training},
            )
        except (RuntimeError, ValueError, KeyError) as err:  # weights of another shape, a missing entry
            raise RunError(
                f"{model_path} does not fit a {config.policy} policy on this env ({str(err).splitlines()[0]})"
            ) from None
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
