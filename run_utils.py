"""What train_sb3.py and evaluate.py share: hyperparameters, env construction, run directories,
model and normalizer files, and the episode loop both evaluate with.

A run directory (``logs/<env_id>/<algo>_<seed>_<timestamp>/``) holds::

    config.yml                  every resolved setting, the command, package versions
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
import difflib
import importlib
import inspect
import math
import os
import pickle
import platform
import re
import shutil
import signal
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict, fields, is_dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml
from gymnasium.wrappers import RescaleAction
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv, VecNormalize
from stable_baselines3.sac.policies import SACPolicy
from stable_baselines3.td3.policies import TD3Policy

import muscle_envs

ROOT = Path(__file__).resolve().parent
HYPERPARAMS_FILE = ROOT / "hyperparams.yml"
CONFIG_FILE = "config.yml"
MODEL_FILE = "final_model.zip"
NORMALIZER_FILE = "vec_normalize.pkl"
BEST_MODEL_FILE = "best_model.zip"
BEST_NORMALIZER_FILE = "best_vec_normalize.pkl"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_MODEL, CHECKPOINT_NORMALIZER = "model.zip", "vec_normalize.pkl"
EVALUATIONS_FILE = "evaluations.csv"
# The policy acts in [-1, 1] (what SB3's Gaussian policies, SAC's tanh and clipping assume);
# RescaleAction maps that affinely onto the env's [0, 1] excitations. Saved in config.yml and
# re-applied by evaluate.py.
POLICY_ACTION_RANGE = (-1.0, 1.0)
VEC_ENVS = ("dummy", "subproc", "batched")  # run_utils.make_vec_env
TRAINING_EVAL_ENVS = 5  # periodic evaluation episodes run side by side, in one process (make_eval_env)
EVAL_SEED_OFFSET = 10_000  # periodic evaluation episodes are seeded with the run's seed + this

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "recurrent_ppo": RecurrentPPO,
    "sac": SAC,
    "td3": TD3,
}
# Training methods that are not SB3 algorithms: the module (beside this one) that runs each. Its
# ``Settings`` dataclass lists the keys a hyperparameter entry may set besides its ``RUN_SETTINGS``
# (the subset of the run settings below that apply to it), its ``train(config, run_dir, args)``
# trains, and ``RESUMABLE`` says whether --resume can continue a run.
TRAINERS = {"distill": "distillation", "cmaes": "evolution"}
# Keys of a hyperparameter entry that configure the run rather than the algorithm's constructor.
RUN_SETTINGS = (
    "policy",
    "n_envs",
    "vec_env",
    "total_timesteps",
    "normalize",
    "eval_freq",
    "n_eval_episodes",
    "checkpoint_freq",
    "keep_checkpoints",
)


class RunError(Exception):
    """A problem with the user's input (a file, an option, a run directory), said in one line.

    The scripts print its message and exit with status 2, instead of a traceback."""


# -- hyperparameters ---------------------------------------------------------------------------------
def load_hyperparams(algo: str, env_id: str, override_file: Path | None = None) -> dict[str, Any]:
    """The entry for ``algo`` and ``env_id`` in hyperparams.yml, with ``override_file``'s keys on top.

    Raises:
        RunError: unknown algorithm, unreadable override file, or a key that is neither a run setting
            nor an argument of the algorithm.
    """
    if algo not in ALGORITHMS and algo not in TRAINERS:
        raise RunError(f"unknown algorithm {algo!r}; known: {sorted([*ALGORITHMS, *TRAINERS])}")
    table = yaml.safe_load(HYPERPARAMS_FILE.read_text())[algo]
    params = dict(table.get(env_id, table["default"]))
    if override_file is not None:
        params.update(_read_override(override_file))
    check_hyperparams(algo, params)
    return params


def _read_override(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RunError(f"hyperparameter file {path} not found")
    if path.suffix == ".py":
        namespace: dict[str, Any] = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)  # the user's own file
        values = namespace.get("HYPERPARAMS")
    else:
        try:
            values = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise RunError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise RunError(f"{path} must hold a mapping of hyperparameters (a .py file: HYPERPARAMS = {{...}})")
    return values


def trainer(algo: str) -> Any:
    """The module of a non-SB3 training method (``TRAINERS``)."""
    return importlib.import_module(TRAINERS[algo])


def run_settings(algo: str) -> tuple[str, ...]:
    """The run settings that apply to ``algo``."""
    return trainer(algo).RUN_SETTINGS if algo in TRAINERS else RUN_SETTINGS


def algorithm_arguments(algo: str) -> list[str]:
    """Keyword arguments of the algorithm's constructor (a trainer's ``Settings``) that a
    hyperparameter entry may set."""
    if algo in TRAINERS:
        return [field.name for field in fields(trainer(algo).Settings)]
    params = inspect.signature(ALGORITHMS[algo].__init__).parameters
    return [name for name in params if name not in ("self", "policy", "env", "_init_setup_model")]


def check_hyperparams(algo: str, params: dict[str, Any]) -> None:
    allowed = set(run_settings(algo)) | set(algorithm_arguments(algo))
    for key in params:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RunError(
                f"unknown hyperparameter {key!r} for {algo}{hint} Run settings: "
                f"{', '.join(run_settings(algo))}; {algo} arguments: {', '.join(algorithm_arguments(algo))}"
            )


def split_hyperparams(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run settings, the algorithm's keyword arguments)."""
    run = {key: params[key] for key in RUN_SETTINGS if key in params}
    return run, {key: value for key, value in params.items() if key not in RUN_SETTINGS}


# -- envs --------------------------------------------------------------------------------------------
def qualified_id(env_id: str) -> str:
    """``muscle_envs:<id>`` for our ids, so worker processes that never imported the package (spawn,
    forkserver) can still make the env."""
    return f"muscle_envs:{env_id}" if env_id in muscle_envs.ENV_IDS else env_id


def check_env_id(env_id: str) -> None:
    """Raise RunError, with Gymnasium's suggestions, if ``env_id`` ([module:]name) is not registered."""
    module, _, name = env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)
        gym.spec(name)
    except (gym.error.Error, ImportError) as err:
        raise RunError(f"unknown env id {env_id!r}: {err}") from None


class EpisodeMetrics(gym.Wrapper):
    """Adds ``info["episode_metrics"]`` at an episode's last step: what a learning curve plots.

    Holds ``reward/<term>`` (each ``reward_<term>`` of ``info`` summed over the episode) and
    ``task/<name>`` (the env's ``episode_metrics()``, e.g. the arm's final distance and reach time).
    Once per episode and a few floats, so it is cheap to send through SubprocVecEnv's pipes.
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._sums: dict[str, float] = {}
        self._task = getattr(env.unwrapped, "episode_metrics", None)

    def reset(self, **kwargs: Any):
        self._sums = {}
        return self.env.reset(**kwargs)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        sums = self._sums
        if not sums:
            sums.update((key, 0.0) for key in info if key.startswith("reward_"))
        for key in sums:
            sums[key] += info.get(key, 0.0)
        if terminated or truncated:
            metrics = {f"reward/{key[7:]}": value for key, value in sums.items()}
            if self._task is not None:
                metrics.update((f"task/{key}", value) for key, value in self._task().items())
            info["episode_metrics"] = metrics
        return obs, reward, terminated, truncated, info


def make_env(
    env_id: str,
    env_kwargs: dict[str, Any],
    action_range: tuple[float, float] | None,
    render_mode: str | None = None,
    monitor_file: Path | None = None,
) -> gym.Env:
    """One env as training uses it: the registered env, its action rescaling (continuous actions),
    episode metrics and a Monitor (writing ``monitor_file`` if given)."""
    env = gym.make(qualified_id(env_id), render_mode=render_mode, **env_kwargs)
    if action_range is not None and isinstance(env.action_space, gym.spaces.Box):
        low, high = np.float32(action_range[0]), np.float32(action_range[1])  # float32 like the env's space
        env = RescaleAction(env, low, high)
    env = EpisodeMetrics(env)
    return Monitor(
        env, filename=None if monitor_file is None else str(monitor_file), info_keywords=("is_success",)
    )


def _env_factory(
    env_id: str,
    env_kwargs: dict[str, Any],
    action_range: tuple[float, float] | None,
    monitor_file: Path | None,
    worker: bool,
) -> Callable[[], gym.Env]:
    def build() -> gym.Env:
        if worker:
            import torch  # in a worker process: one torch thread, and Ctrl-C is the main process's job

            torch.set_num_threads(1)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return make_env(env_id, env_kwargs, action_range, monitor_file=monitor_file)

    return build


def make_vec_env(
    env_id: str,
    env_kwargs: dict[str, Any],
    n_envs: int,
    vec_env: str,
    seed: int,
    action_range: tuple[float, float] | None = POLICY_ACTION_RANGE,
    monitor_dir: Path | None = None,
    start_method: str | None = None,
) -> VecEnv:
    """``n_envs`` copies in a DummyVecEnv, SubprocVecEnv or BatchedVecEnv, seeded seed..seed+n-1.

    Workers build their envs from the module-qualified id, so any start method works (fork,
    forkserver, spawn; ``start_method=None`` is forkserver on Linux). BatchedVecEnv
    (``muscle_envs.vector``) gives the same observations, rewards and resets as the other two.
    """
    if vec_env not in VEC_ENVS:
        raise RunError(f"vec_env must be one of {VEC_ENVS}, got {vec_env!r}")
    if monitor_dir is not None:
        monitor_dir.mkdir(parents=True, exist_ok=True)
    if vec_env == "batched":
        from muscle_envs.vector import BatchedVecEnv

        try:
            venv: VecEnv = BatchedVecEnv(
                env_id, n_envs, env_kwargs, action_range, start_method=start_method, monitor_dir=monitor_dir
            )
        except ValueError as err:
            raise RunError(f"vec_env batched: {err}") from None
        venv.seed(seed)
        return venv
    factories = [
        _env_factory(
            env_id,
            env_kwargs,
            action_range,
            None if monitor_dir is None else monitor_dir / str(rank),
            worker=vec_env == "subproc",
        )
        for rank in range(n_envs)
    ]
    venv = (
        SubprocVecEnv(factories, start_method=start_method)
        if vec_env == "subproc"
        else DummyVecEnv(factories)
    )
    venv.seed(seed)
    return venv


def make_eval_env(config: dict[str, Any]) -> VecEnv:
    """The envs of a run's periodic evaluations (``config``: a run's config.yml): up to
    ``TRAINING_EVAL_ENVS`` episodes side by side in one process, with neither wrapper nor normalizer
    beyond ``make_env``'s."""
    n_envs = max(1, min(TRAINING_EVAL_ENVS, config["n_eval_episodes"]))
    return make_vec_env(config["env"], config["env_kwargs"], n_envs, "dummy", config["seed"])


def parse_env_kwargs(pairs: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict, values parsed as YAML (numbers, booleans, lists, strings)."""
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RunError(f"--env_kwargs takes key=value pairs, got {pair!r}")
        kwargs[key] = yaml.safe_load(value)
    return kwargs


def check_env_options(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Make the env once here, so that a bad option is reported in one line rather than from inside
    a worker process. Returns its resolved options (its config object, if any) for config.yml."""
    try:
        env = gym.make(qualified_id(env_id), **env_kwargs)
    except (TypeError, ValueError) as err:
        raise RunError(f"{env_id} rejected the env options {env_kwargs}: {err}") from None
    config = getattr(env.unwrapped, "config", None)
    env.close()
    return plain(asdict(config)) if is_dataclass(config) else {}


# -- run directories ---------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    names = ["muscle_envs", "gymnasium", "mujoco", "stable-baselines3", "sb3-contrib", "torch", "numpy"]
    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def plain(value: Any) -> Any:
    """``value`` with tuples as lists and NumPy scalars as Python numbers, for YAML and JSON."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def save_config(run_dir: Path, config: dict[str, Any]) -> None:
    """Write config.yml. A new run records its command; a resumed one appends to ``resumed``."""
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    record = dict(config)
    if "command" in record:
        record["resumed"] = [*record.get("resumed", []), command]
    else:
        record["command"] = command
    record["versions"] = versions()
    atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(plain(record), sort_keys=False))


def load_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run_dir} has no {CONFIG_FILE}: is it a train_sb3.py run directory?")
    return yaml.safe_load(path.read_text())


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


def run_files(run_dir: Path, which: str, config: dict[str, Any]) -> tuple[Path, Path | None]:
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
    normalized = config.get("normalize", True)
    return model_path, normalizer_path if normalized else None


# -- loading -----------------------------------------------------------------------------------------
def algorithm_of(model_path: Path) -> type[BaseAlgorithm]:
    """The algorithm class that saved ``model_path``, read from the file's policy class."""
    if not model_path.is_file():
        raise RunError(f"model file {model_path} not found")
    try:
        data, _, _ = load_from_zip_file(model_path, load_data=True, device="cpu")
    except (zipfile.BadZipFile, ValueError, KeyError, EOFError, RuntimeError) as err:
        raise RunError(f"{model_path} is not a readable SB3 model ({type(err).__name__}: {err})") from None
    policy_class = data.get("policy_class") if data else None
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


def load_normalizer(path: Path, venv: VecEnv, training: bool = False) -> VecNormalize:
    """Saved VecNormalize statistics around ``venv``, checked against its observation space.

    For evaluation (``training=False``) the statistics are frozen and rewards reported unnormalized.
    """
    if not path.is_file():
        raise RunError(f"normalizer file {path} not found")
    try:
        with open(path, "rb") as f:
            normalizer = pickle.load(f)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as err:
        raise RunError(f"{path} is not a readable VecNormalize file ({type(err).__name__}: {err})") from None
    if not isinstance(normalizer, VecNormalize):
        raise RunError(f"{path} holds a {type(normalizer).__name__}, not VecNormalize statistics")
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


# -- the episode loop --------------------------------------------------------------------------------
StepHook = Callable[[Any, np.ndarray, Any, np.ndarray, list[dict]], None]


def episode_targets(n_episodes: int, n_envs: int) -> np.ndarray:
    """Episodes per env, as even as possible (so short episodes are not over-represented)."""
    return np.array([(n_episodes + i) // n_envs for i in range(n_envs)])


def episode_record(episode_return: float, length: int, info: dict[str, Any]) -> dict[str, Any]:
    """A finished episode's record: ``return``, ``length``, ``is_success`` and the
    :class:`EpisodeMetrics` entries of its last ``info``."""
    record = {"return": float(episode_return), "length": int(length)}
    record["is_success"] = bool(info.get("is_success", False))
    return {**record, **info.get("episode_metrics", {})}


def run_episodes(
    model: Any,
    venv: VecEnv,
    n_episodes: int,
    deterministic: bool = True,
    on_step: StepHook | None = None,
) -> list[dict[str, Any]]:
    """Run ``n_episodes`` with the model (anything with SB3's ``predict``) on ``venv`` (spread over its
    envs as evenly as possible, so short episodes are not over-represented), carrying a recurrent
    policy's state.

    ``on_step(obs, action, state, dones, infos)`` sees each step (``obs`` as the policy saw it).
    Returns one :func:`episode_record` per episode.
    """
    n_envs = venv.num_envs
    targets = episode_targets(n_episodes, n_envs)
    counts = np.zeros(n_envs, dtype=int)
    returns, lengths = np.zeros(n_envs), np.zeros(n_envs, dtype=int)
    episodes: list[dict[str, Any]] = []
    obs = venv.reset()
    state, starts = None, np.ones(n_envs, dtype=bool)
    while (counts < targets).any():
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
