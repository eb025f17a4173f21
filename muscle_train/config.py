"""The run configuration: one typed, frozen record of every setting of a run (what config.yml holds),
the options of one invocation that are not part of the run (device, W&B, progress bar), and the
shipped hyperparameter file.

The first of ``muscle_train``'s layers: it imports no other, neither the envs nor SB3.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# The policy acts in [-1, 1] (what SB3's Gaussian policies, SAC's tanh and clipping assume);
# RescaleAction maps that affinely onto the env's [0, 1] excitations. Saved in config.yml and
# re-applied by evaluation.
POLICY_ACTION_RANGE = (-1.0, 1.0)
VEC_ENVS = ("dummy", "subproc", "batched")  # muscle_train.envs.make_vec_env
# Keys of a hyperparameter entry that configure the run rather than the algorithm (a trainer declares
# the subset that applies to it).
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
    "initial_action",
    "observation_keys",
    "final_action_std",
    "normalizer_until",
    "push_ramp",
)
# Run settings whose None is itself a choice (the others are required by the trainers they apply to).
# observation_keys: the Dict observation's keys the policy sees (None: all of them).
# final_action_std: the Gaussian's std at the end of training (None: learnt, as SB3 does).
# normalizer_until: the fraction of training after which VecNormalize's statistics stop updating
# (None: they update to the end, as SB3's do).
# push_ramp: (start, end) fractions of training over which the training envs' pelvis pushes grow from
# nothing to the env's push_force (None: full pushes throughout).
OPTIONAL_RUN_SETTINGS = (
    "initial_action",
    "observation_keys",
    "final_action_std",
    "normalizer_until",
    "push_ramp",
)
# Settings that are sequences: tuples in a RunConfig, lists in YAML.
SEQUENCE_SETTINGS = ("action_range", "observation_keys", "push_ramp", "resumed")
# initial_action: where the policy's action mean starts. None: the policy's own initialisation (SB3:
# the middle of the range, excitation 0.5); "holding": the env's holding excitation
# (MuscleEnv.holding_excitation), a posture the body keeps for a while open loop.
INITIAL_ACTIONS = (None, "holding")
# Runs that start from a trained run (RunConfig.derived_from): a transfer trains the actor's weights
# from the rule input (and the critic), its normalizer frozen; a finetune trains all of it.
DERIVED_RUNS = ("transfer", "finetune")


class RunError(Exception):
    """A problem with the user's input (a file, an option, a run directory), said in one line.

    The command-line tools print its message and exit with status 2, instead of a traceback."""


class Interrupted(Exception):
    """Training was stopped by a signal (Ctrl-C: SIGINT; a scheduler's kill: SIGTERM) after the run
    saved what it had. The command-line tools exit with ``exit_status``, 128 + the signal's number
    (130, 143), as a shell reports a process the signal ended, so a script can tell an interrupted
    run from a finished one."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def hyperparams_file() -> Path:
    """The shipped hyperparams.yml (package data of ``muscle_train``)."""
    return Path(str(resources.files("muscle_train") / "hyperparams.yml"))


def read_yaml(path: Path) -> Any:
    """The YAML document in ``path``; a syntax error is a RunError in one line naming the file."""
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise RunError(f"{path} is not valid YAML: {' '.join(str(err).split())}") from None


def hyperparams_table() -> dict[str, Any]:
    """hyperparams.yml as a mapping: algorithm -> env id (or ``default``) -> entry."""
    return yaml.safe_load(hyperparams_file().read_text())


@dataclass(frozen=True)
class RunConfig:
    """Every setting of a run, as config.yml records it (and evaluation rebuilds the run from it).

    Frozen: a changed setting is a new object (:meth:`replace`). The dict fields are plain dicts, so
    the object is not hashable and nothing stops an in-place change of them; do not.

    Attributes:
        env: the registered env id, version included (``MuscleArmReach-v0``).
        algo: the training method (``ppo``, ``recurrent_ppo``, ``sac``, ``td3``, ``distill``, ``cmaes``).
        policy: the policy's short name (``policies.POLICIES``).
        seed: seed of the policy and the envs.
        env_kwargs: the env options given (``gym.make`` keyword arguments).
        env_config: the env's resolved config object, for the record (empty for envs without one).
        hyperparams: the algorithm's keyword arguments (a trainer's ``Settings`` for distill/cmaes).
        action_range: the range the policy acts in, rescaled onto the env's actions (None: none).
        n_envs, vec_env, total_timesteps, eval_freq, checkpoint_freq, keep_checkpoints: run settings
            (hyperparams.yml); None where they do not apply to ``algo`` (its trainer's
            ``run_settings``), and then absent from config.yml.
        normalize: VecNormalize's keyword arguments, or False (no normalizer).
        initial_action: where the policy's action mean starts (``INITIAL_ACTIONS``); set when the
            model is made, so only a new run reads it.
        n_eval_episodes: episodes per periodic evaluation.
        teacher: a distillation's teacher run directory.
        transfer: the run this one learns a new task from, training only the actor's weights from
            the rule input (``policies.transfer``), its normalizer frozen.
        finetune: the run whose final model and normalizer this one starts from, training all of it
            (the normalizer's statistics go on updating), e.g. on changed env options.
        observation_keys: the observation keys the policy sees (the env's others are dropped): the
            run setting of that name, or a distilled student's (its teacher's, without the
            privileged keys); None: all of them.
        final_action_std: PPO's exploration noise no longer learnt but moving log-linearly from the
            policy's ``log_std_init`` (a finetune's: where its source's noise ended) to this std (of
            the policy's [-1, 1] range) at ``total_timesteps``
            (``muscle_train.callbacks.ActionStdSchedule``); None: learnt.
        normalizer_until: the fraction of ``total_timesteps`` after which the normalizer's
            statistics are frozen for the rest of training (``muscle_train.callbacks.FreezeNormalizer``):
            with a learning rate decaying to 0, the policy can no longer follow statistics that go
            on moving; 0: never updated (a run started from another keeps that run's); None: they
            update to the end.
        push_ramp: ``(start, end)``, fractions of ``total_timesteps``: the training envs' pelvis
            pushes are off (scale 0) until ``start``, grow linearly to the env's ``push_force`` at
            ``end`` and stay there (``muscle_train.callbacks.PushRamp``); the evaluation pushes with
            the full force throughout. None: full pushes from the start.
        wandb_id: the W&B run id, so a resumed run logs to the same W&B run.
        mlflow_run_id: the MLflow run id, so a resumed run logs to the same MLflow run.
        study: the Optuna study and trial the run is part of (``muscle_train.sweeps``):
            ``{"name": ..., "trial": N}``; None for a run of its own.
        command: the command line that started the run; ``resumed``: those that continued it.
        versions: package versions of the machine that last wrote config.yml.
    """

    env: str
    algo: str
    policy: str
    seed: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    n_envs: int | None = None
    vec_env: str | None = None
    total_timesteps: int | None = None
    normalize: dict[str, Any] | bool = False
    eval_freq: int | None = None
    n_eval_episodes: int = 10
    checkpoint_freq: int | None = None
    keep_checkpoints: int | None = None
    initial_action: str | None = None
    action_range: tuple[float, float] | None = POLICY_ACTION_RANGE
    hyperparams: dict[str, Any] = field(default_factory=dict)
    env_config: dict[str, Any] = field(default_factory=dict)
    teacher: str | None = None
    transfer: str | None = None
    finetune: str | None = None
    observation_keys: tuple[str, ...] | None = None
    final_action_std: float | None = None
    normalizer_until: float | None = None
    push_ramp: tuple[float, float] | None = None
    wandb_id: str | None = None
    mlflow_run_id: str | None = None
    study: dict[str, Any] | None = None
    command: str | None = None
    resumed: tuple[str, ...] = ()
    versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in SEQUENCE_SETTINGS:  # (YAML's lists)
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    @property
    def derived_from(self) -> tuple[str, Path] | None:
        """("transfer" or "finetune", the source run's directory) for a run that started from
        another; None for one of its own."""
        for kind in DERIVED_RUNS:
            if getattr(self, kind) is not None:
                return kind, Path(getattr(self, kind))
        return None

    def to_dict(self) -> dict[str, Any]:
        """config.yml's mapping: unset optional settings are left out, tuples become lists."""
        record: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.default is None:
                continue
            if f.name == "resumed" and not value:
                continue
            record[f.name] = plain(value)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any], source: str = "config.yml") -> RunConfig:
        """The configuration a config.yml holds (also those written before this class existed).

        Raises:
            RunError: a required key is missing or a key is unknown (a newer version's file?).
        """
        if not isinstance(record, dict):
            raise RunError(f"{source} does not hold a mapping of settings")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - names)
        if unknown:
            raise RunError(f"{source} has unknown settings {unknown}: written by a newer muscle_envs?")
        missing = [key for key in ("env", "algo", "policy") if key not in record]
        if missing:
            raise RunError(f"{source} lacks the settings {missing}")
        values = dict(record)
        values.setdefault("normalize", True)  # what 0.1.0 read a config.yml without it as
        values["resumed"] = values.get("resumed") or ()
        for key in ("env_kwargs", "hyperparams", "env_config", "versions"):
            values[key] = values.get(key) or {}
        return cls(**values)


@dataclass(frozen=True)
class WandbOptions:
    """Weights & Biases logging: project, entity (user or team) and tags of the run."""

    project: str = "muscle_envs"
    entity: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class MlflowOptions:
    """MLflow tracking: the tracking URI (a server's ``http://host:port``, or a database such as
    ``sqlite:///path/mlflow.db``) and the experiment (None: the env id)."""

    tracking_uri: str
    experiment: str | None = None


# Called after every periodic evaluation of a run as hook(step, summary), summary being
# muscle_train.rollouts.summarize's mapping (success_rate, mean_reward, ...). A hook may raise to end
# training (an Optuna trial that is pruned); the run saves what it has first.
EvaluationHook = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class Session:
    """Options of one training invocation that are not settings of the run (they may differ between
    a run and its resumption).

    Attributes:
        device: torch device of the policy.
        progress: show progress bars.
        resume: continue the run in the run directory rather than start it.
        wandb: log to W&B with these options (None: no W&B).
        trust: load files that only running pickled code can restore (a run directory written before
            0.2.0, a CMA-ES search state); see ``muscle_train.rundir``.
        mlflow: log to MLflow with these options (None: no MLflow).
        evaluation_hooks: called after each periodic evaluation (:data:`EvaluationHook`).
    """

    device: str = "cpu"
    progress: bool = True
    resume: bool = False
    wandb: WandbOptions | None = None
    trust: bool = False
    mlflow: MlflowOptions | None = None
    evaluation_hooks: tuple[EvaluationHook, ...] = ()


def is_number(value: Any) -> bool:
    """A plain int or float from a settings file (YAML's true and false are bools, which Python
    counts as ints)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


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
