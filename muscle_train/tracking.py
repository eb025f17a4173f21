"""Experiment trackers: Weights & Biases and MLflow. TensorBoard needs nothing here: every trainer
writes to the run directory's ``tb/``, which W&B syncs.

W&B: a run's W&B run (resumed with it) and its model artifact. ``WANDB_MODE=offline`` keeps everything
in the run directory's ``wandb/``; ``WANDB_MODE=disabled`` turns W&B into a no-op (what the tests use).

MLflow (seed 002 tracked its runs with it): a run's MLflow run (resumed with it) with the run's
settings as parameters, every periodic evaluation as ``eval/...`` metrics, and at the end the model,
its normalizer, config.yml and evaluations.csv as artifacts under ``model/``. Any tracking URI works: a
server (``http://host:5000``) or a database. The embedded default, :func:`default_mlflow_uri`, needs no
server: a SQLite file in the logs folder, artifacts beside it (MLflow 3 keeps its older file store in
maintenance mode and refuses new ones, so SQLite is MLflow's own local default now). ``mlflow ui
--backend-store-uri sqlite:///logs/mlflow.db`` shows it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from muscle_train import rundir
from muscle_train.config import MlflowOptions, RunConfig, RunError, WandbOptions, plain

MLFLOW_DB = "mlflow.db"  # the embedded default's files in the logs folder
MLFLOW_ARTIFACTS = "mlartifacts"


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


# -- MLflow ------------------------------------------------------------------------------------------
def default_mlflow_uri(root: Path = Path("logs")) -> str:
    """The embedded default tracking URI: ``root/mlflow.db`` (SQLite), as an absolute URI."""
    return f"sqlite:///{(root / MLFLOW_DB).resolve()}"


def flat_params(record: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested mapping as MLflow parameters: dotted keys, values as text (MLflow's limit: 6000 chars)."""
    params: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            params.update(flat_params(value, name + "."))
        else:
            params[name] = str(plain(value))[:6000]
    return params


class MlflowRun:
    """One run's MLflow run, through ``MlflowClient`` (no process-wide state, so the trials of a study
    in one process each log to their own run). :meth:`log_evaluation` is an evaluation hook."""

    def __init__(self, options: MlflowOptions, config: RunConfig, run_dir: Path):
        try:
            from mlflow import MlflowClient
            from mlflow.entities import Param
        except ImportError:
            raise RunError('MLflow tracking needs mlflow: pip install "muscle_envs[sweep]"') from None
        self.client = MlflowClient(tracking_uri=options.tracking_uri)
        self.run_dir = run_dir
        name = options.experiment or config.env
        try:
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                experiment_id = experiment.experiment_id
            else:
                location = None
                if options.tracking_uri.startswith("sqlite:///"):  # the artifacts beside the database
                    database = Path(options.tracking_uri.removeprefix("sqlite:///"))
                    location = (database.parent / MLFLOW_ARTIFACTS).resolve().as_uri()
                experiment_id = self.client.create_experiment(name, artifact_location=location)
            if config.mlflow_run_id is not None:  # a resumed run: the same MLflow run
                self.run_id = config.mlflow_run_id
                self.client.update_run(self.run_id, status="RUNNING")
                return
            tags = {"env": config.env, "algo": config.algo, "run_dir": str(run_dir)}
            if config.study is not None:
                tags.update(study=str(config.study["name"]), trial=str(config.study["trial"]))
            run = self.client.create_run(experiment_id, run_name=run_dir.name, tags=tags)
            self.run_id = run.info.run_id
            params = flat_params(config.to_dict())
            self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in params.items()])
        except Exception as err:  # an unreachable server, a refused connection, a bad URI
            if isinstance(err, RunError):
                raise
            raise RunError(f"MLflow at {options.tracking_uri}: {str(err).splitlines()[0]}") from None

    def log_evaluation(self, step: int, summary: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [
            Metric(f"eval/{key}", float(value), stamp, step)
            for key, value in summary.items()
            if isinstance(value, int | float)
        ]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, interrupted: bool) -> None:
        """The run's model files as artifacts (``model/``), and the run's end."""
        for path in (
            self.run_dir / rundir.MODEL_FILE,
            self.run_dir / rundir.NORMALIZER_FILE,
            rundir.statistics_path(self.run_dir / rundir.NORMALIZER_FILE),
            self.run_dir / rundir.CONFIG_FILE,
            self.run_dir / rundir.EVALUATIONS_FILE,
        ):
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path), artifact_path="model")
        self.client.set_terminated(self.run_id, status="KILLED" if interrupted else "FINISHED")
