"""Optuna studies over training runs: hyperparameter searches and multi-seed runs, on one machine or
many (``muscle-train --optimize``, ``muscle-train --seeds N``).

A study lives in an Optuna RDB storage: by default a SQLite file in the logs folder
(``logs/studies/optuna.db``, no server), or any database URL (``postgresql://user@host/db``) that
several machines reach. The same command on N machines, or ``n_jobs`` processes on one, gives N
workers of one study: Optuna numbers the trials, and each worker runs trials until the study holds
``n_trials`` finished ones (complete or pruned). A worker's trials send heartbeats; a killed worker's
trial is marked failed once its heartbeat is ``3 x heartbeat`` seconds old, and the others (or the
same command run again) run the trials still missing.

Each trial is a normal run directory, ``<study folder>/trial_<NNNN>`` (``muscle-evaluate`` loads it),
its config.yml tagged with the study and trial (and its W&B run, and its MLflow run). The trial's
value is :func:`objective_value` of its last evaluation, reported at every periodic evaluation so
that a pruner can stop a bad trial early.

    from muscle_train.sweeps import StudySpec, run_study
    from muscle_train.training import RunRequest

    spec = StudySpec(RunRequest(env="MuscleArmReach-v0"), n_trials=20)
    summary, folder = run_study(spec, n_jobs=2)  # folder: the trials' runs and the report

The report (:func:`write_report`; at the end of every command, or on demand): the best trial's
settings as a file ``--hyperparams`` takes (best_hyperparams.yml), the top trials (trials.md),
study.json, and figures (optimization_history.png, param_importances.png); for a multi-seed study
the mean and spread of the final success rate (seeds in study.json, seeds.png).
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import os
import socket
import sys
import time
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from muscle_train.config import (
    RUN_SETTINGS,
    Interrupted,
    RunConfig,
    RunError,
    Session,
    is_number,
    plain,
    read_yaml,
)
from muscle_train.trainers import trainer_for
from muscle_train.training import (
    DEFAULT_SESSION,
    RunRequest,
    new_run_config,
    read_hyperparams_file,
    start_run,
)

# The trial's value: success rate, ties broken by mean return. TIE_BREAK * asinh(return) lies within
# +-0.5e-4 for any |return| < 1e40, so two values' tie-breaks differ by less than 1e-4: less than one
# episode's share of the success rate in evaluations of up to 10,000 episodes. A higher success rate
# always wins.
TIE_BREAK = 5e-7
STUDIES_DIR = "studies"  # in the logs folder: the default storage and the studies' folders
OPTUNA_DB = "optuna.db"
STORAGE_SCHEMES = ("sqlite", "postgresql", "mysql")
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "halving", "hyperband", "none")
STORAGE_ATTEMPTS = 5  # opening a new database that other workers are creating at the same moment
# What SQLite and PostgreSQL say when another process created the tables or stamped the schema first.
CREATION_RACE = ("already exists", "UNIQUE constraint failed", "duplicate key value")
WAIT_POLL_S = 5  # how often a worker waiting on the others' trials looks again
MAX_FAILURES = 3  # failed trials in a row that stop a worker (a setting no trial can run with)
STARTUP_TRIALS = 5  # random trials before TPE models, and before the median pruner prunes
ENV_PREFIX = "env_kwargs."
TRIAL_FORMAT = "trial_{:04d}"


def objective_value(summary: dict[str, Any]) -> float:
    """One number per evaluation: ``success_rate + TIE_BREAK * asinh(mean_reward)``."""
    return float(summary["success_rate"]) + TIE_BREAK * math.asinh(float(summary["mean_reward"]))


def search_spaces_file() -> Path:
    """The shipped search_spaces.yml (package data of ``muscle_train``)."""
    return Path(str(resources.files("muscle_train") / "search_spaces.yml"))


def _optuna():
    try:
        import optuna
    except ImportError:
        raise RunError('studies need Optuna: pip install "muscle_envs[sweep]"') from None
    # Heartbeats, fail_stale_trials and the matplotlib plots are marked experimental (since Optuna 2.9).
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


# -- search spaces -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dimension:
    """One sampled setting: a float or integer range, or choices (``labels`` name them for Optuna,
    ``values`` are what the run gets)."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    step: float | None = None
    labels: tuple[Any, ...] = ()
    values: tuple[Any, ...] = ()

    @classmethod
    def parse(cls, key: str, spec: Any, source: str) -> Dimension:
        where = f"{source}: {key}"
        if not isinstance(spec, dict):
            raise RunError(f"{where} must be a mapping such as {{low: 0.1, high: 1.0}} or {{choices: [...]}}")
        unknown = set(spec) - {"low", "high", "log", "int", "step", "choices"}
        if unknown:
            raise RunError(
                f"{where} has unknown fields {sorted(unknown)} (low, high, log, int, step, choices)"
            )
        if "choices" in spec:
            if set(spec) != {"choices"}:
                raise RunError(f"{where}: choices take no low, high, log, int or step")
            choices = spec["choices"]
            if isinstance(choices, dict):
                labels, values = tuple(str(label) for label in choices), tuple(choices.values())
            elif isinstance(choices, list):
                bad = [c for c in choices if not (c is None or isinstance(c, bool | int | float | str))]
                if bad:
                    raise RunError(
                        f"{where}: a list of choices holds numbers, strings, booleans or null; name "
                        f"other values ({{choices: {{name: value, ...}}}}), got {bad[0]!r}"
                    )
                labels = values = tuple(choices)
            else:
                raise RunError(f"{where}: choices must be a list or a mapping of named values")
            if not labels:
                raise RunError(f"{where}: no choices")
            return cls(key, labels=labels, values=values)
        if "low" not in spec or "high" not in spec:
            raise RunError(f"{where} needs low and high (or choices)")
        low, high = spec["low"], spec["high"]
        if not (is_number(low) and is_number(high)) or low >= high:
            raise RunError(f"{where}: low and high must be numbers with low < high, got {low!r}, {high!r}")
        log, integer, step = bool(spec.get("log", False)), bool(spec.get("int", False)), spec.get("step")
        if log and (low <= 0 or step is not None):
            raise RunError(f"{where}: a log scale needs low > 0 and no step")
        return cls(key, float(low), float(high), log, integer, step)

    def suggest(self, trial: Any) -> Any:
        """The value a trial samples for this setting."""
        if self.labels:
            label = trial.suggest_categorical(self.key, list(self.labels))
            return self.values[self.labels.index(label)]
        assert self.low is not None and self.high is not None
        if self.integer:
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def first(self) -> Any:
        """A value in the space (checking the space against the run's settings)."""
        return self.values[0] if self.labels else (int(self.low) if self.integer else self.low)


def read_search_space(algo: str, path: Path | None = None) -> tuple[Dimension, ...]:
    """``algo``'s search space from ``path`` (default: the shipped search_spaces.yml).

    Raises:
        RunError: an unreadable file, no entry for ``algo``, or a malformed dimension.
    """
    path = path or search_spaces_file()
    if not path.is_file():
        raise RunError(f"search space file {path} not found")
    table = read_yaml(path)
    if not isinstance(table, dict) or not isinstance(table.get(algo), dict) or not table[algo]:
        known = sorted(table) if isinstance(table, dict) else []
        raise RunError(f"{path} has no search space for {algo} (it has {known})")
    return tuple(Dimension.parse(str(key), spec, str(path)) for key, spec in table[algo].items())


def trial_settings(config: RunConfig, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(hyperparameter overrides, env options) of sampled ``values`` over the run ``config``: a dotted
    key sets one entry of a mapping and keeps the others (``policy_kwargs.net_arch``)."""
    entry = {**config.hyperparams, **{k: v for k, v in config.to_dict().items() if k in RUN_SETTINGS}}
    overrides: dict[str, Any] = {}
    env_kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith(ENV_PREFIX):
            env_kwargs[key.removeprefix(ENV_PREFIX)] = value
            continue
        top, *path = key.split(".")
        if not path:
            overrides[top] = value
            continue
        mapping = overrides.setdefault(top, _copy_mapping(entry.get(top)))
        for part in path[:-1]:
            mapping = mapping.setdefault(part, {})
            if not isinstance(mapping, dict):
                raise RunError(f"search space key {key}: {part} is not a mapping")
        mapping[path[-1]] = value
    return overrides, env_kwargs


def _copy_mapping(value: Any) -> dict[str, Any]:
    return json.loads(json.dumps(plain(value))) if isinstance(value, dict) else {}


# -- studies -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudySpec:
    """One study, as every worker of it is started.

    Attributes:
        request: the run each trial starts from (env, algorithm, policy, hyperparameter file, ...).
        n_trials: finished trials (complete or pruned) the study holds when it is done.
        study_name: default ``<env>-<algo>`` (``-seeds`` for a multi-seed study).
        storage: an Optuna RDB URL; default a SQLite file, ``<logs>/studies/optuna.db``.
        folder: the trials' run directories and the report; default ``<logs>/studies/<study_name>``.
        logs: the logs folder of the defaults.
        sampler, pruner: ``SAMPLERS``, ``PRUNERS``.
        search_space: a search space file (default the shipped search_spaces.yml).
        seeds: a multi-seed study: the request's configuration with seeds ``seed .. seed+seeds-1``, one
            per trial (no search, no pruning; ``n_trials`` is ``seeds``).
        heartbeat: seconds between a running trial's heartbeats (a silent trial fails after 3 x).
    """

    request: RunRequest
    n_trials: int = 20
    study_name: str | None = None
    storage: str | None = None
    folder: Path | None = None
    logs: Path = Path("logs")
    sampler: str = "tpe"
    pruner: str = "median"
    search_space: Path | None = None
    seeds: int | None = None
    heartbeat: int = 60

    def replace(self, **changes: Any) -> StudySpec:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Study:
    """A checked :class:`StudySpec`: its resolved name, storage, folder, base run and search space."""

    spec: StudySpec
    name: str
    storage: str
    folder: Path
    base: RunConfig
    space: tuple[Dimension, ...]
    seeds: tuple[int, ...]
    n_trials: int

    @property
    def mode(self) -> str:
        return "seeds" if self.seeds else "optimize"


def resolve(spec: StudySpec) -> Study:
    """Check ``spec`` in full before any trial runs: the base run, the search space against it (a
    run with each dimension's first value must start), the storage URL, the options.

    Raises:
        RunError: in one line, naming the problem.
    """
    if spec.sampler not in SAMPLERS:
        raise RunError(f"sampler must be one of {SAMPLERS}, got {spec.sampler!r}")
    if spec.pruner not in PRUNERS:
        raise RunError(f"pruner must be one of {PRUNERS}, got {spec.pruner!r}")
    if spec.heartbeat < 1:
        raise RunError(f"heartbeat must be >= 1 s, got {spec.heartbeat}")
    base = new_run_config(spec.request)
    if "eval_freq" in trainer_for(base.algo).run_settings and not base.eval_freq:
        raise RunError("a study judges its trials by the periodic evaluations: eval_freq must be > 0")
    if spec.seeds is not None:
        if spec.seeds < 1:
            raise RunError(f"seeds must be >= 1, got {spec.seeds}")
        seeds, space, n_trials = tuple(range(base.seed, base.seed + spec.seeds)), (), spec.seeds
    else:
        if spec.n_trials < 1:
            raise RunError(f"n_trials must be >= 1, got {spec.n_trials}")
        seeds, space, n_trials = (), read_search_space(base.algo, spec.search_space), spec.n_trials
        overrides, env_kwargs = trial_settings(base, {d.key: d.first() for d in space})
        try:
            new_run_config(trial_request(spec.request, overrides, env_kwargs, base.seed))
        except RunError as err:
            raise RunError(f"the search space does not fit the run: {err}") from None
    name = spec.study_name or f"{base.env}-{base.algo}" + ("-seeds" if seeds else "")
    storage = spec.storage or f"sqlite:///{(spec.logs / STUDIES_DIR / OPTUNA_DB).resolve()}"
    scheme = storage.split(":", 1)[0].split("+", 1)[0]
    if scheme not in STORAGE_SCHEMES:
        raise RunError(
            f"storage must be a database URL ({', '.join(s + '://...' for s in STORAGE_SCHEMES)}), got "
            f"{redact(storage)!r}"
        )
    folder = spec.folder or spec.logs / STUDIES_DIR / name
    return Study(spec, name, storage, folder, base, space, seeds, n_trials)


def trial_request(
    request: RunRequest, overrides: dict[str, Any], env_kwargs: dict[str, Any], seed: int
) -> RunRequest:
    return request.replace(
        hyperparams={**request.hyperparams, **overrides},
        env_kwargs={**request.env_kwargs, **env_kwargs},
        seed=seed,
    )


def redact(url: str) -> str:
    """``url`` without its password (config files, messages and W&B never get one)."""
    head, sep, tail = url.partition("://")
    credentials, at, host = tail.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{head}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def storage_of(study: Study):
    """The Optuna RDB storage, with heartbeats (so a killed worker's trial fails)."""
    optuna = _optuna()
    kwargs: dict[str, Any] = {}
    if study.storage.startswith("sqlite:///"):
        Path(study.storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}  # workers writing at once wait
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(
                study.storage,
                heartbeat_interval=study.spec.heartbeat,
                grace_period=3 * study.spec.heartbeat,
                **kwargs,
            )
        except Exception as err:  # no server there, a refused login, a missing driver
            # Workers started together on a new database race to create its tables and stamp its
            # schema version: the losers retry.
            raced = any(phrase in str(err) for phrase in CREATION_RACE)
            if raced and attempt + 1 < STORAGE_ATTEMPTS:
                time.sleep(1.0)
                continue
            raise RunError(
                f"cannot open the study storage {redact(study.storage)}: {_first_line(err)}"
            ) from None
    raise AssertionError("unreachable")


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def identity(study: Study) -> dict[str, Any]:
    """What every worker of one study must agree on (kept in the study's user attributes)."""
    return {
        "env": study.base.env,
        "algo": study.base.algo,
        "mode": study.mode,
        "space": sorted(d.key for d in study.space),
        "seeds": list(study.seeds),
    }


def open_study(study: Study, worker: int = 0):
    """Create the study, or join it (``load_if_exists``) after checking it is the same study."""
    optuna = _optuna()
    seed = int(np.random.SeedSequence([study.base.seed, worker, os.getpid()]).generate_state(1)[0])
    if study.seeds:  # each trial's seed is enqueued by work(): the one no trial has run yet
        sampler, pruner = optuna.samplers.RandomSampler(seed=seed), optuna.pruners.NopPruner()
    else:
        sampler = (
            optuna.samplers.TPESampler(n_startup_trials=STARTUP_TRIALS, seed=seed)
            if study.spec.sampler == "tpe"
            else optuna.samplers.RandomSampler(seed=seed)
        )
        pruner = make_pruner(study)
    handle = optuna.create_study(
        storage=storage_of(study),
        study_name=study.name,
        direction="maximize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    stored = handle.user_attrs.get("muscle_envs")
    mine = identity(study)
    if stored is None:
        handle.set_user_attr("muscle_envs", mine)
    elif stored != mine:
        differ = sorted(k for k in mine if stored.get(k) != mine[k])
        raise RunError(
            f"study {study.name!r} in {redact(study.storage)} was started with other settings ("
            + ", ".join(f"{k}: {stored.get(k)!r}, here {mine[k]!r}" for k in differ)
            + "); give another --study_name"
        )
    return handle


def make_pruner(study: Study):
    optuna = _optuna()
    total, every = study.base.total_timesteps or 0, study.base.eval_freq or 1
    return {
        "median": lambda: optuna.pruners.MedianPruner(
            n_startup_trials=STARTUP_TRIALS, n_warmup_steps=total // 3
        ),
        "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=every),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=every, max_resource=max(total, every)
        ),
        "none": lambda: optuna.pruners.NopPruner(),
    }[study.spec.pruner]()


class TrialReporter:
    """An evaluation hook: reports each evaluation's :func:`objective_value` to the trial, and ends
    the run (``optuna.TrialPruned``, after the run saved what it has) when the pruner says so, unless
    the run is at its end (``final_step``): a run that spent its whole budget completes."""

    def __init__(self, trial: Any, final_step: int | None = None):
        self.trial = trial
        self.final_step = final_step
        self.last: dict[str, Any] | None = None

    def __call__(self, step: int, summary: dict[str, Any]) -> None:
        self.last = summary
        self.trial.report(objective_value(summary), step)
        at_end = self.final_step is not None and step >= self.final_step
        if not at_end and self.trial.should_prune():
            raise _optuna().TrialPruned(f"pruned at step {step:,}: success {summary['success_rate']:.0%}")


def run_trial(study: Study, trial: Any, session: Session, numbers: list[int] | None = None) -> float:
    """Train one trial's run and return its value (Optuna's objective); ``numbers`` gets the trial's
    number."""
    if numbers is not None:
        numbers.append(trial.number)
    if study.seeds:
        seed, values = trial.suggest_categorical("seed", list(study.seeds)), {}
    else:
        seed, values = study.base.seed, {d.key: d.suggest(trial) for d in study.space}
    overrides, env_kwargs = trial_settings(study.base, values)
    request = study.spec.request
    given = {key: getattr(request, key) for key in ("policy", "n_envs", "vec_env", "total_timesteps")}
    everything = {
        **(read_hyperparams_file(request.hyperparams_file) if request.hyperparams_file else {}),
        **{key: value for key, value in given.items() if value is not None},  # command-line settings
        **request.hyperparams,
        **overrides,
    }
    trial.set_user_attr("hyperparams", plain(everything))  # what reproduces the trial
    trial.set_user_attr("env_kwargs", plain(env_kwargs))
    config = new_run_config(trial_request(study.spec.request, overrides, env_kwargs, seed))
    config = config.replace(study={"name": study.name, "trial": trial.number})
    run_dir = study.folder / TRIAL_FORMAT.format(trial.number)
    trial.set_user_attr("run_dir", str(run_dir.resolve()))
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    reporter = TrialReporter(trial, config.total_timesteps)
    wandb = session.wandb
    if wandb is not None:
        wandb = dataclasses.replace(wandb, tags=(*wandb.tags, study.name, f"trial-{trial.number}"))
    hooks = (*session.evaluation_hooks, reporter)
    start_run(config, run_dir, dataclasses.replace(session, wandb=wandb, evaluation_hooks=hooks))
    if reporter.last is None:
        raise RunError(f"trial {trial.number} ended without an evaluation")
    for key in ("success_rate", "mean_reward", "mean_episode_length"):
        trial.set_user_attr(key, plain(reporter.last.get(key)))
    return objective_value(reporter.last)


def counts(handle: Any) -> tuple[int, int]:
    """(finished trials: complete or pruned, running trials) of a study."""
    states = _optuna().trial.TrialState
    trials = handle.get_trials(deepcopy=False, states=(states.COMPLETE, states.PRUNED, states.RUNNING))
    running = sum(t.state == states.RUNNING for t in trials)
    return len(trials) - running, running


def missing_seeds(study: Study, handle: Any) -> list[int]:
    """The seeds of a multi-seed study that no finished, running or queued trial holds (failed ones
    run again)."""
    states = _optuna().trial.TrialState
    held = {
        t.params.get("seed", t.system_attrs.get("fixed_params", {}).get("seed"))
        for t in handle.get_trials(deepcopy=False)
        if t.state in (states.COMPLETE, states.PRUNED, states.RUNNING, states.WAITING)
    }
    return [seed for seed in study.seeds if seed not in held]


def work(study: Study, session: Session = DEFAULT_SESSION, worker: int = 0) -> None:
    """One worker: run trials until the study holds ``n_trials`` finished ones. While the others'
    running trials would complete the study, wait for them (each ends, or fails when its heartbeat
    goes silent), then run what is still missing.

    Raises:
        RunError: ``MAX_FAILURES`` failed trials in a row (each one's error is logged by Optuna).
        Interrupted: Ctrl-C or SIGTERM (the trial's run saved what it had; the trial is failed).
    """
    optuna = _optuna()
    states = optuna.trial.TrialState
    handle = open_study(study, worker)
    failures = 0
    waiting = False
    while True:
        optuna.storages.fail_stale_trials(handle)
        finished, running = counts(handle)
        if finished >= study.n_trials:
            return
        if finished + running >= study.n_trials:  # the others' trials would complete the study
            if not waiting:
                print(f"worker {worker}: waiting for {running} running trial(s) of other workers", flush=True)
            waiting = True
            time.sleep(min(study.spec.heartbeat, WAIT_POLL_S))
            continue
        waiting = False
        if study.seeds and not handle.get_trials(deepcopy=False, states=(states.WAITING,)):
            for seed in missing_seeds(study, handle)[:1]:  # (one is missing: fewer are held than seeds)
                handle.enqueue_trial({"seed": seed})
        numbers: list[int] = []
        handle.optimize(
            lambda trial, numbers=numbers: run_trial(study, trial, session, numbers),
            n_trials=1,
            catch=(RunError,),
            gc_after_trial=True,
        )
        state = handle.get_trials(deepcopy=False)[numbers[-1]].state
        failures = failures + 1 if state == states.FAIL else 0
        if failures >= MAX_FAILURES:
            raise RunError(
                f"{failures} trials in a row failed (the last: trial {numbers[-1]}); see their errors above"
            )


def report_study(spec: StudySpec) -> tuple[dict[str, Any], Path]:
    """Write the report of ``spec``'s stored study (no trial runs); returns (summary, folder)."""
    study = resolve(spec)
    return write_report(study), study.folder


def run_study(
    spec: StudySpec, session: Session = DEFAULT_SESSION, n_jobs: int = 1
) -> tuple[dict[str, Any], Path]:
    """Run ``spec``'s study with ``n_jobs`` workers on this machine (processes; their progress bars
    off when there are several), then write its report; returns (the report's summary, the study's
    folder).

    Raises:
        RunError: a bad spec or storage (before any trial), or a worker that failed.
        Interrupted: Ctrl-C or SIGTERM; the workers' runs saved what they had.
    """
    if n_jobs < 1:
        raise RunError(f"n_jobs must be >= 1, got {n_jobs}")
    study = resolve(spec)
    handle = open_study(study)  # the storage answers, and the study is this one (else a RunError now)
    if study.seeds and n_jobs > 1:  # every missing seed queued before the workers start, once
        for seed in missing_seeds(study, handle):
            handle.enqueue_trial({"seed": seed})
    print(
        f"study {study.name!r} ({study.mode}, {study.n_trials} trials of {study.base.algo} on "
        f"{study.base.env}) in {redact(study.storage)}; trials in {study.folder}",
        flush=True,
    )
    if n_jobs == 1:
        work(study, session)
    else:
        run_workers(study, dataclasses.replace(session, progress=False), n_jobs)
    return write_report(study), study.folder


def run_workers(study: Study, session: Session, n_jobs: int) -> None:
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited threads or state
    workers = [context.Process(target=_worker_main, args=(study, session, i)) for i in range(n_jobs)]
    for process in workers:
        process.start()
    try:
        for process in workers:
            process.join()
    except KeyboardInterrupt:  # the workers got the Ctrl-C too: they save their runs and exit
        for process in workers:
            process.join()
        raise Interrupted(2) from None
    statuses = [process.exitcode for process in workers]
    signalled = [status for status in statuses if status is not None and status > 128]
    if signalled:
        raise Interrupted(signalled[0] - 128)
    failed = [(i, status) for i, status in enumerate(statuses) if status != 0]
    if failed:
        raise RunError(", ".join(f"worker {i} exited with status {status}" for i, status in failed))


def _worker_main(study: Study, session: Session, worker: int) -> None:
    """A worker process: its errors as the command-line tools report them (one line, status 2)."""
    try:
        work(study, session, worker)
    except RunError as err:
        print(f"worker {worker}: error: {err}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as err:
        sys.exit(err.exit_status)


# -- the report --------------------------------------------------------------------------------------
TOP_TRIALS = 10


def load_study(study: Study):
    """The stored study (for its report), without creating one."""
    optuna = _optuna()
    try:
        return optuna.load_study(study_name=study.name, storage=storage_of(study))
    except KeyError:
        raise RunError(f"no study {study.name!r} in {redact(study.storage)}") from None


def trial_row(trial: Any) -> dict[str, Any]:
    return {
        "trial": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "success_rate": trial.user_attrs.get("success_rate"),
        "mean_reward": trial.user_attrs.get("mean_reward"),
        "params": plain(dict(trial.params)),
        "run_dir": trial.user_attrs.get("run_dir"),
    }


def write_report(study: Study) -> dict[str, Any]:
    """The study's report in its folder (study.json, trials.md, best_hyperparams.yml, figures); returns
    study.json's mapping. Trials still running are counted but not ranked."""
    optuna = _optuna()
    states = optuna.trial.TrialState
    handle = load_study(study)
    trials = handle.get_trials(deepcopy=False)
    ranked = sorted((t for t in trials if t.state == states.COMPLETE), key=lambda t: t.value, reverse=True)
    study.folder.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "study": study.name,
        "storage": redact(study.storage),
        **identity(study),
        "n_trials": study.n_trials,
        **{state.name.lower(): sum(t.state == state for t in trials) for state in states},
        "objective": f"success_rate + {TIE_BREAK} * asinh(mean_reward) of the last evaluation",
        "top": [trial_row(t) for t in ranked[:TOP_TRIALS]],
    }
    if ranked:
        summary["best"] = trial_row(ranked[0])
        if not study.seeds:
            write_best_hyperparams(study, ranked[0])
    if study.seeds:
        summary["seeds"] = seed_summary(ranked)
    (study.folder / "trials.md").write_text(trials_table(study, ranked[:TOP_TRIALS], summary))
    (study.folder / "study.json").write_text(json.dumps(plain(summary), indent=2) + "\n")
    draw_figures(study, handle, ranked)
    return summary


def write_best_hyperparams(study: Study, best: Any) -> Path:
    """best_hyperparams.yml: the best trial's sampled settings, a file ``--hyperparams`` takes."""
    path = study.folder / "best_hyperparams.yml"
    env_kwargs = best.user_attrs.get("env_kwargs") or {}
    header = [
        f"# The best trial of study {study.name} ({study.base.algo} on {study.base.env}): trial "
        f"{best.number}, success {best.user_attrs.get('success_rate', float('nan')):.0%}, "
        f"return {best.user_attrs.get('mean_reward', float('nan')):.1f}.",
        f"# muscle-train --env {study.base.env} --algo {study.base.algo} --hyperparams {path.name}"
        + (f" --seed {study.base.seed}" if study.base.seed else "")
        + (" --env_kwargs " + " ".join(f"{k}={v}" for k, v in env_kwargs.items()) if env_kwargs else ""),
    ]
    body = yaml.safe_dump(best.user_attrs.get("hyperparams") or {}, sort_keys=True)
    path.write_text("\n".join(header) + "\n" + body)
    return path


def seed_summary(ranked: list[Any]) -> dict[str, Any]:
    """Each seed's final success rate, their mean, standard deviation, min and max."""
    rows = sorted((t.params["seed"], t.user_attrs.get("success_rate")) for t in ranked)
    rates = np.array([rate for _, rate in rows], dtype=float)
    return {
        "seed": [seed for seed, _ in rows],
        "success_rate": rates.tolist(),
        "mean": float(rates.mean()) if rates.size else None,
        "std": float(rates.std(ddof=1)) if rates.size > 1 else None,
        "min": float(rates.min()) if rates.size else None,
        "max": float(rates.max()) if rates.size else None,
    }


def trials_table(study: Study, ranked: list[Any], summary: dict[str, Any]) -> str:
    keys = sorted({key for t in ranked for key in t.params})
    lines = [
        f"# Study {study.name}: {study.base.algo} on {study.base.env}",
        "",
        f"{summary['complete']} complete, {summary['pruned']} pruned, {summary['fail']} failed, "
        f"{summary['running']} running of {study.n_trials}. Value: {summary['objective']}.",
        "",
        "| trial | value | success | return | " + " | ".join(keys) + " |",
        "|---|---|---|---|" + "---|" * len(keys),
    ]
    for t in ranked:
        cells = [_cell(t.params.get(key)) for key in keys]
        lines.append(
            f"| {t.number} | {t.value:.6g} | {t.user_attrs.get('success_rate', float('nan')):.0%} | "
            f"{t.user_attrs.get('mean_reward', float('nan')):.1f} | " + " | ".join(cells) + " |"
        )
    seeds = summary.get("seeds")
    if seeds and seeds["mean"] is not None:
        spread = f" +- {seeds['std']:.1%}" if seeds["std"] is not None else ""
        lines += [
            "",
            f"Final success over {len(seeds['seed'])} seeds: mean {seeds['mean']:.1%}{spread} "
            f"(min {seeds['min']:.0%}, max {seeds['max']:.0%}).",
        ]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def draw_figures(study: Study, handle: Any, ranked: list[Any]) -> None:
    """optimization_history.png, and param_importances.png where two trials differ; seeds.png for a
    multi-seed study."""
    import matplotlib.pyplot as plt  # Optuna's plots draw with pyplot
    from matplotlib.figure import Figure
    from optuna.visualization import matplotlib as optuna_plots

    figures = {}
    if ranked and not study.seeds:
        figures["optimization_history"] = optuna_plots.plot_optimization_history(handle)
        if len(ranked) >= 2 and any(len({str(t.params.get(d.key)) for t in ranked}) > 1 for d in study.space):
            figures["param_importances"] = optuna_plots.plot_param_importances(handle)
    for name, axes in figures.items():
        figure = axes.figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figure.savefig(study.folder / f"{name}.png", dpi=120)
        plt.close(figure)
    if study.seeds and ranked:
        seeds = seed_summary(ranked)
        figure = Figure(figsize=(6, 4))
        axes = figure.subplots()
        axes.bar([str(s) for s in seeds["seed"]], np.array(seeds["success_rate"]) * 100, color="tab:blue")
        axes.axhline(seeds["mean"] * 100, color="k", ls="--", label=f"mean {seeds['mean']:.0%}")
        axes.set(xlabel="seed", ylabel="final success (%)", ylim=(0, 105), title=study.name)
        axes.legend()
        figure.tight_layout()
        figure.savefig(study.folder / "seeds.png", dpi=120)
