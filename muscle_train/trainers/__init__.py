"""The training methods, each behind the :class:`~muscle_train.trainers.base.Trainer` interface:

- :mod:`~muscle_train.trainers.sb3`: PPO, RecurrentPPO, SAC, TD3 (Stable-Baselines3);
- :mod:`~muscle_train.trainers.distillation`: a recurrent student imitates a trained teacher;
- :mod:`~muscle_train.trainers.evolution`: CMA-ES over a controller's weights.
"""

from __future__ import annotations

from muscle_train.config import RunError
from muscle_train.trainers import distillation, evolution, sb3
from muscle_train.trainers.base import RunRequest, Trainer

TRAINERS: dict[str, Trainer] = {
    algo: trainer
    for trainer in (sb3.TRAINER, distillation.TRAINER, evolution.TRAINER)
    for algo in trainer.algos
}
ALGOS: tuple[str, ...] = tuple(sorted(TRAINERS))


def trainer_for(algo: str) -> Trainer:
    """The trainer of ``--algo`` ``algo``."""
    if algo not in TRAINERS:
        raise RunError(f"unknown algorithm {algo!r}; known: {list(ALGOS)}")
    return TRAINERS[algo]


__all__ = ["ALGOS", "TRAINERS", "RunRequest", "Trainer", "trainer_for"]
