"""The interface every training method implements, and what a user asks of a new run.

:mod:`muscle_train.training` drives a run through it alone: it resolves the request into a
:class:`~muscle_train.config.RunConfig` (hyperparams.yml, the trainer's own settings and checks),
writes config.yml, starts W&B, and calls :meth:`Trainer.train`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muscle_train.config import RunConfig, Session


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for a new run; None: the default (hyperparams.yml or the trainer's).

    Attributes:
        env: env id (default ``MuscleArmReach-v0``).
        algo: training method.
        env_kwargs: env options.
        policy, n_envs, vec_env, total_timesteps: run settings over hyperparams.yml's.
        seed: seed of the policy and the envs (default 0).
        hyperparams_file: a YAML (or Python) file overriding keys of hyperparams.yml's entry.
        hyperparams: keys overriding both (an Optuna trial's sampled settings).
        teacher: a distillation's teacher run directory.
        transfer: a run to learn a new task from through the rule input (see ``training``).
        finetune: a run to continue training, all of it, as a new run (see ``training``).
    """

    env: str | None = None
    algo: str | None = None
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    policy: str | None = None
    n_envs: int | None = None
    vec_env: str | None = None
    total_timesteps: int | None = None
    seed: int | None = None
    hyperparams_file: Path | None = None
    hyperparams: dict[str, Any] = dataclasses.field(default_factory=dict)
    teacher: Path | None = None
    transfer: Path | None = None
    finetune: Path | None = None

    def replace(self, **changes: Any) -> RunRequest:
        return dataclasses.replace(self, **changes)


class Trainer(ABC):
    """A training method: SB3's algorithms, distillation, CMA-ES.

    Attributes:
        algos: the ``--algo`` names it trains.
        run_settings: the run settings (``config.RUN_SETTINGS``) that apply to it; the others are
            absent from its runs' config.yml.
        resumable: whether ``--resume`` can continue one of its runs.
        takes_teacher: whether it learns from a teacher run (``RunRequest.teacher``).
    """

    algos: tuple[str, ...] = ()
    run_settings: tuple[str, ...] = ()
    resumable: bool = False
    takes_teacher: bool = False

    @abstractmethod
    def arguments(self, algo: str) -> list[str]:
        """Keys of a hyperparameter entry for ``algo`` besides the run settings (the algorithm's
        constructor arguments, or the trainer's ``Settings`` fields)."""

    def adapt(self, request: RunRequest) -> tuple[RunRequest, dict[str, Any]]:
        """The request as this method runs it, and the settings it fixes for every run of it (e.g.
        ``normalize``). The default: the request as it is, nothing fixed."""
        return request, {}

    @abstractmethod
    def check_policy(self, algo: str, policy: str) -> None:
        """Raise RunError if ``policy`` (a ``policies.POLICIES`` name) cannot be trained by ``algo``."""

    def check(self, config: RunConfig) -> None:  # noqa: B027 (optional hook)
        """Raise RunError for a bad setting of ``config`` before any work is done."""

    def check_resume(self, run_dir: Path, config: RunConfig, session: Session) -> None:  # noqa: B027
        """Raise RunError if ``run_dir`` holds nothing to resume from, or nothing ``session`` may load
        (checked before anything in it is written; only for a ``resumable`` trainer)."""

    @abstractmethod
    def train(
        self, config: RunConfig, run_dir: Path, session: Session, wandb_run: Any
    ) -> dict[str, Any] | None:
        """Train (``session.resume``: continue) the run of ``config`` in ``run_dir``, whose config.yml is
        written. ``wandb_run``: the W&B run to log to, or None. Returns the last evaluation's summary
        (None if there was none)."""
