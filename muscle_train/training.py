"""Starting and resuming runs, whatever the training method: the hyperparameters of a request
(hyperparams.yml, an override file, the request's own settings) resolved into a
:class:`~muscle_train.config.RunConfig`, checked in full before anything is written; then the run
directory, config.yml, W&B, and the method's :class:`~muscle_train.trainers.base.Trainer`.

    from muscle_train.training import RunRequest, new_run_config, start_run

    config = new_run_config(RunRequest(env="MuscleArmReach-v0", total_timesteps=200_000))
    run_dir = start_run(config, Path("logs/my_run"))
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from muscle_train import rundir
from muscle_train.config import (
    DERIVED_RUNS,
    INITIAL_ACTIONS,
    OPTIONAL_RUN_SETTINGS,
    POLICY_ACTION_RANGE,
    RUN_SETTINGS,
    VEC_ENVS,
    RunConfig,
    RunError,
    Session,
    hyperparams_table,
    read_yaml,
)
from muscle_train.envs import (
    check_env_id,
    check_env_options,
    check_observation_keys,
    initial_action,
    make_env,
)
from muscle_train.tracking import MlflowRun, log_model_artifact, start_wandb
from muscle_train.trainers import TRAINERS, RunRequest, trainer_for
from policies import POLICIES, policy_spec

DEFAULT_ENV = "MuscleArmReach-v0"
DEFAULT_SESSION = Session()  # on the CPU, with progress bars, without W&B

__all__ = [
    "RunRequest",
    "default_run_dir",
    "load_hyperparams",
    "new_run_config",
    "resume_run",
    "check_config",
    "split_hyperparams",
    "start_run",
]


# -- hyperparameters ---------------------------------------------------------------------------------
def load_hyperparams(
    algo: str, env_id: str, override_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The entry for ``algo`` and ``env_id`` in hyperparams.yml (its ``default`` if the env has none),
    with ``override_file``'s keys on top, and ``overrides``' on top of those.

    Raises:
        RunError: unknown algorithm, unreadable override file, or a key that is neither a run setting
            nor an argument of the algorithm.
    """
    trainer_for(algo)  # names the known algorithms
    table = hyperparams_table()[algo]
    params = dict(table.get(env_id, table["default"]))
    if override_file is not None:
        params.update(read_hyperparams_file(override_file))
    params.update(overrides or {})
    check_hyperparams(algo, params)
    return params


def read_hyperparams_file(path: Path) -> dict[str, Any]:
    """The hyperparameters of an override file (YAML, or Python defining ``HYPERPARAMS``)."""
    if not path.is_file():
        raise RunError(f"hyperparameter file {path} not found")
    if path.suffix == ".py":
        namespace: dict[str, Any] = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)  # the user's own file
        values = namespace.get("HYPERPARAMS")
    else:
        values = read_yaml(path)
    if not isinstance(values, dict):
        raise RunError(f"{path} must hold a mapping of hyperparameters (a .py file: HYPERPARAMS = {{...}})")
    return values


def check_hyperparams(algo: str, params: dict[str, Any]) -> None:
    """Raise RunError, with the closest valid name, for a key that ``algo`` does not take."""
    trainer = trainer_for(algo)
    arguments = trainer.arguments(algo)
    allowed = set(trainer.run_settings) | set(arguments)
    for key in params:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RunError(
                f"unknown hyperparameter {key!r} for {algo}{hint} Run settings: "
                f"{', '.join(trainer.run_settings)}; {algo} arguments: {', '.join(arguments)}"
            )


def split_hyperparams(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run settings, the algorithm's keyword arguments)."""
    run = {key: params[key] for key in RUN_SETTINGS if key in params}
    return run, {key: value for key, value in params.items() if key not in RUN_SETTINGS}


# -- new runs ----------------------------------------------------------------------------------------
def default_algo(request: RunRequest) -> str:
    """The request's algorithm, else: the one that takes a teacher when a teacher is given (distill),
    recurrent_ppo for a recurrent policy, ppo otherwise."""
    if request.algo is not None:
        return request.algo
    if request.teacher is not None:
        return next(algo for algo, trainer in TRAINERS.items() if trainer.takes_teacher)
    return "recurrent_ppo" if request.policy and POLICIES[request.policy].recurrent else "ppo"


def check_policy_name(name: str) -> None:
    if name not in POLICIES:
        raise RunError(f"unknown policy {name!r}; known: {sorted(POLICIES)}")


def new_run_config(request: RunRequest) -> RunConfig:
    """Every setting of a new run: the request's over its hyperparameter file's over hyperparams.yml's,
    with the trainer's own; checked in full (:func:`check_config`; the env options by making the env).

    Raises:
        RunError: anything the run could not start with, in one line.
    """
    if any(getattr(request, kind) is not None for kind in DERIVED_RUNS):
        return derived_run_config(request)
    if request.policy is not None:
        check_policy_name(request.policy)
    algo = default_algo(request)
    trainer = trainer_for(algo)
    if request.teacher is not None and not trainer.takes_teacher:
        taking = [name for name, t in TRAINERS.items() if t.takes_teacher]
        raise RunError(f"a teacher run (--teacher) is only for algo {' or '.join(taking)}")
    request, fixed = trainer.adapt(request)
    env_id = request.env or DEFAULT_ENV
    check_env_id(env_id)
    params = load_hyperparams(algo, env_id, request.hyperparams_file, request.hyperparams)
    run, algo_kwargs = split_hyperparams(params)
    for key in ("policy", "n_envs", "vec_env", "total_timesteps"):
        value = getattr(request, key)
        if value is not None:
            if key not in trainer.run_settings:
                raise RunError(
                    f"{key} does not apply to {algo}; its settings are hyperparams.yml's {algo} entry"
                )
            run[key] = value
    if run.get("n_envs") is not None:
        run["vec_env"] = run.get("vec_env") or ("subproc" if run["n_envs"] > 1 else "dummy")
    config = RunConfig(
        env=env_id,
        env_kwargs=dict(request.env_kwargs),
        algo=algo,
        seed=0 if request.seed is None else request.seed,
        **run,
        **fixed,
        action_range=POLICY_ACTION_RANGE,
        hyperparams=algo_kwargs,
        env_config=check_env_options(env_id, request.env_kwargs),
    )
    check_config(config)
    return config


# The algorithms whose runs a transfer or finetune starts from (SAC's and TD3's replay buffers would
# start empty).
DERIVED_FROM = ("ppo", "recurrent_ppo")
# The settings that make the model and its inputs: a run started from another keeps its source's.
MODEL_SETTINGS = ("policy", "policy_kwargs", "normalize", "observation_keys", "initial_action")


def derived_run_config(request: RunRequest) -> RunConfig:
    """A run that starts from the trained run ``request.transfer`` or ``request.finetune``: the
    source run's settings, algorithm, policy and hyperparameters, its env with ``request.env_kwargs``
    over its options (e.g. ``tasks=[Figure8]``, a task it never saw; ``push_force=300``), the
    request's hyperparameters over the source's but for those that make the model
    (``MODEL_SETTINGS``: e.g. a lower learning rate), and ``total_timesteps``, ``n_envs``, ``vec_env``
    and ``seed`` if given; its steps count from 0.

    transfer (seed 004's): only the actor's weights from the rule input train (``policies.transfer``),
    the critic learns, the normalizer is the source's, frozen. finetune: the whole model trains from
    the source's final one, and the normalizer's statistics go on from the source's.

    Raises:
        RunError: both asked, options that are the source's (``--env``, ``--policy``...), a
            hyperparameter that makes the model, no run there, a run of another algorithm, or an
            option the env refuses.
    """
    kinds = [kind for kind in DERIVED_RUNS if getattr(request, kind) is not None]
    if len(kinds) > 1:
        raise RunError("--transfer and --finetune each start a run from another; give one")
    (kind,) = kinds
    source_dir = getattr(request, kind)
    given = [name for name in ("env", "algo", "policy", "teacher") if getattr(request, name)]
    if given:
        raise RunError(
            f"a {kind} run takes these from its source run; drop {', '.join('--' + g for g in given)}"
        )
    source = rundir.load_config(source_dir)
    if source.algo not in DERIVED_FROM:
        names = " or ".join(rundir.ALGORITHMS[algo].__name__ for algo in DERIVED_FROM)
        raise RunError(f"a {kind} starts from a {names} run; {source_dir} is a {source.algo} run")
    overrides = read_hyperparams_file(request.hyperparams_file) if request.hyperparams_file else {}
    overrides.update(request.hyperparams or {})  # (a study's sampled ones too)
    check_hyperparams(source.algo, overrides)
    fixed = [key for key in overrides if key in MODEL_SETTINGS]
    if fixed:
        raise RunError(f"a {kind} trains its source run's model; drop {fixed} from the hyperparameters")
    run, algo_kwargs = split_hyperparams(overrides)
    for key in ("total_timesteps", "n_envs", "vec_env"):
        if getattr(request, key):
            run[key] = getattr(request, key)
    env_kwargs = {**source.env_kwargs, **request.env_kwargs}
    config = source.replace(
        env_kwargs=env_kwargs,
        env_config=check_env_options(source.env, env_kwargs),
        **{derived: str(source_dir) if derived == kind else None for derived in DERIVED_RUNS},
        seed=source.seed if request.seed is None else request.seed,
        **run,
        hyperparams={**source.hyperparams, **algo_kwargs},
        wandb_id=None,
        mlflow_run_id=None,
        study=None,
        command=None,
        resumed=(),
    )
    check_config(config)
    return config


def check_config(config: RunConfig) -> None:
    """Raise RunError for anything a run of ``config`` could not start (or resume) with: an env id
    that does not exist (or no longer does), a run setting the trainer needs but the config lacks, a
    count below 1, a policy the trainer cannot train, a hyperparameter it does not take, or a value
    its own check refuses."""
    check_env_id(config.env)
    trainer = trainer_for(config.algo)
    required = [key for key in trainer.run_settings if key not in OPTIONAL_RUN_SETTINGS]
    missing = [key for key in required if getattr(config, key) is None]
    if missing:
        raise RunError(f"a {config.algo} run needs the settings {missing}")
    for key in ("n_envs", "total_timesteps", "n_eval_episodes"):
        if key in trainer.run_settings and getattr(config, key) < 1:
            raise RunError(f"{key} must be >= 1, got {getattr(config, key)}")
    if config.initial_action not in INITIAL_ACTIONS:
        raise RunError(f"initial_action must be one of {INITIAL_ACTIONS}, got {config.initial_action!r}")
    initial_action(config)  # the env has what the setting names
    check_observation_keys(config.env, config.env_kwargs, config.observation_keys)
    if config.vec_env is not None and config.vec_env not in VEC_ENVS:
        raise RunError(f"vec_env must be one of {VEC_ENVS}, got {config.vec_env!r}")
    check_policy_name(config.policy)
    trainer.check_policy(config.algo, config.policy)
    check_hyperparams(config.algo, config.hyperparams)
    trainer.check(config)
    check_policy_builds(config)


def check_policy_builds(config: RunConfig) -> None:
    """Build the run's policy once, as its algorithm would, on its env's spaces, so that
    ``policy_kwargs`` the policy does not take (e.g. a recurrent entry's ``lstm_hidden_size`` given to
    ``mlp``) or an env it cannot work on (the reflex controller's muscle groups) are reported in one
    line before anything is written.

    Raises:
        RunError: the policy refuses its ``policy_kwargs`` or the env.
    """
    kwargs = config.hyperparams.get("policy_kwargs", {})
    spec = policy_spec(config.policy, **kwargs)
    policy = spec.policy_class(rundir.model_algorithm(config))
    keys = config.observation_keys
    env = make_env(config.env, config.env_kwargs, config.action_range, observation_keys=keys)
    venv = DummyVecEnv([lambda: env])
    try:
        policy(venv.observation_space, venv.action_space, lambda _: 0.0, **spec.kwargs_for(venv))
    except (TypeError, ValueError) as err:
        given = f" (the hyperparameters' policy_kwargs: {kwargs})" if kwargs else ""
        raise RunError(f"policy {config.policy!r} cannot run on {config.env}: {err}{given}") from None
    finally:
        venv.close()


def default_run_dir(config: RunConfig, root: Path = Path("logs")) -> Path:
    """``logs/<env>/<algo>_<seed>_<timestamp>``."""
    return root / config.env / f"{config.algo}_{config.seed}_{time.strftime('%Y%m%d-%H%M%S')}"


def start_run(
    config: RunConfig, run_dir: Path, session: Session = DEFAULT_SESSION, command: str | None = None
) -> Path:
    """Train a new run of ``config`` in ``run_dir`` (which must be new or empty).

    Raises:
        RunError: the config or the run directory cannot start a run (nothing is written then).
        Interrupted: Ctrl-C or SIGTERM stopped training; what it had is saved and resumable.
    """
    if session.resume:
        raise RunError("start_run() starts a run; resume_run() continues one")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunError(f"{run_dir} is not empty; use --resume {run_dir} to continue that run")
    check_config(config)  # a config made by hand, too
    return _run(config, run_dir, session, command)


def resume_run(
    run_dir: Path,
    session: Session = DEFAULT_SESSION,
    total_timesteps: int | None = None,
    command: str | None = None,
) -> Path:
    """Continue the run in ``run_dir`` from where it stopped (``total_timesteps``: a new budget).
    Raises as :func:`start_run` does; nothing in ``run_dir`` changes before its files are checked."""
    config = rundir.load_config(run_dir)
    trainer = trainer_for(config.algo)
    if not trainer.resumable:
        raise RunError(f"a {config.algo} run cannot be resumed; start a new one")
    if total_timesteps is not None:
        if "total_timesteps" not in trainer.run_settings:
            raise RunError(f"total_timesteps does not apply to {config.algo}")
        config = config.replace(total_timesteps=total_timesteps)
    check_config(config)
    session = dataclasses.replace(session, resume=True)
    trainer.check_resume(run_dir, config, session)  # before config.yml is touched
    return _run(config, run_dir, session, command)


def _run(config: RunConfig, run_dir: Path, session: Session, command: str | None) -> Path:
    trainer = trainer_for(config.algo)
    mlflow_run = None
    if session.mlflow is not None:  # before anything is written: an unreachable server is a RunError
        mlflow_run = MlflowRun(session.mlflow, config, run_dir)
        config = config.replace(mlflow_run_id=mlflow_run.run_id)
        hooks = (*session.evaluation_hooks, mlflow_run.log_evaluation)
        session = dataclasses.replace(session, evaluation_hooks=hooks)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in the way, a folder that is not writable
        raise RunError(f"cannot make the run directory {run_dir}: {err.strerror or err}") from None
    # Envs run in worker processes or native threads; one thread here leaves them the cores. The
    # networks are small, so more threads would mostly add synchronization.
    torch.set_num_threads(1)
    wandb_run = None
    if session.wandb is not None:
        wandb_run, config = start_wandb(session.wandb, config, run_dir)
    config = rundir.save_config(run_dir, config, command)
    summary = None
    finished = False
    try:
        summary = trainer.train(config, run_dir, session, wandb_run)
        finished = True
    finally:  # an interrupted (or pruned) run has saved what it had: the trackers get that too
        if wandb_run is not None:
            log_model_artifact(wandb_run, config, run_dir, summary)
            wandb_run.finish()
        if mlflow_run is not None:
            mlflow_run.finish(interrupted=not finished)
    print(f"run directory: {run_dir}  (evaluate: muscle-evaluate {run_dir}, or python evaluate.py {run_dir})")
    return run_dir
