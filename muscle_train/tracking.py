"""Weights & Biases: a run's W&B run (resumed with it) and its model artifact. TensorBoard needs
nothing here: every trainer writes to the run directory's ``tb/``, which W&B syncs.

``WANDB_MODE=offline`` keeps everything in the run directory's ``wandb/``; ``WANDB_MODE=disabled``
turns W&B into a no-op (what the tests use).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from muscle_train import rundir
from muscle_train.config import RunConfig, WandbOptions, plain


def start_wandb(
    options: WandbOptions, config: RunConfig, run_dir: Path, job_type: str = "train"
) -> tuple[Any, RunConfig]:
    """The W&B run of ``config`` (the same one again for a resumed run), and the config with its id."""
    import wandb  # only with --use_wandb

    run = wandb.init(
        project=options.project,
        entity=options.entity,
        name=run_dir.name,
        id=config.wandb_id,
        resume="allow",
        dir=str(run_dir),
        config=config.to_dict(),
        tags=list(options.tags) or None,
        sync_tensorboard=True,
        job_type=job_type,
    )
    return run, config.replace(wandb_id=run.id)


def log_model_artifact(run: Any, config: RunConfig, run_dir: Path, summary: dict[str, Any] | None) -> None:
    """The run's final model, normalizer and config.yml as a W&B ``model`` artifact, with the last
    evaluation as its metadata."""
    import wandb

    name = re.sub(r"[^\w.-]", "-", f"{config.env}-{run_dir.name}")
    artifact = wandb.Artifact(name, type="model", metadata=plain(summary or {}))
    statistics = rundir.statistics_path(run_dir / rundir.NORMALIZER_FILE)
    for path in (
        run_dir / rundir.MODEL_FILE,
        run_dir / rundir.NORMALIZER_FILE,
        statistics,
        run_dir / rundir.CONFIG_FILE,
    ):
        if path.is_file():
            artifact.add_file(str(path))
    run.log_artifact(artifact)
