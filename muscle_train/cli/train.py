"""Train a policy on a muscle_envs task: Stable-Baselines3 (PPO, RecurrentPPO, SAC, TD3), distillation
of a trained teacher into a recurrent student, or CMA-ES.

    muscle-train                                          # MuscleArmReach-v0, PPO, defaults
    muscle-train --n_envs 16 --total_timesteps 2000000
    muscle-train --algo recurrent_ppo --policy sensory_lstm
    muscle-train --env MyoLegsStand-v0 --use_wandb --tags legs baseline
    muscle-train --hyperparams my_settings.yml --env_kwargs vision=false effort_weight=0.1
    muscle-train --resume logs/MuscleArmReach-v0/ppo_0_20261121-093000
    muscle-train --algo distill --teacher logs/MuscleArmReach-v0/ppo_0_20261121-093000
    muscle-train --algo cmaes --policy sensory_rnn
    muscle-train --finetune RUN_DIR --env_kwargs push_force=300   # train on, with pushes
    muscle-train --optimize --n_trials 20                 # an Optuna study of PPO on the arm
    muscle-train --optimize --n_trials 40 --storage postgresql://user@db-host/studies   # one worker
                                                          # per machine running the same command
    muscle-train --env MyoLegsStand-v0 --seeds 3          # the defaults over seeds 0, 1, 2
    muscle-train --mlflow                                 # also track the run with MLflow

(``python train_sb3.py`` in the repository and ``python -m muscle_train train`` take the same options.)
Defaults per algorithm and env live in the package's hyperparams.yml (``--show_hyperparams`` prints
its path); ``--hyperparams FILE`` overrides keys of that entry and command-line options override both.
Every resolved setting is written to the run directory's config.yml; ``muscle-evaluate RUN_DIR``
evaluates the run, whichever way it was trained. SB3 runs normalize observations and rewards with
VecNormalize. The policy acts in [-1, 1], mapped onto the env's [0, 1] excitations by
``gymnasium.wrappers.RescaleAction``. Ctrl-C (or SIGTERM) saves the model and its normalizer (and a
checkpoint) before exiting; ``--resume`` continues from the latest checkpoint with the same step
counter and normalizer.

``--optimize`` and ``--seeds N`` run an Optuna study whose trials are runs of the other options
(``muscle_train.sweeps``): its storage (default ``logs/studies/optuna.db``), workers
(``--n_jobs``, or the same command on other machines), trial folders and report are described there
and in the README's "Sweeps" section.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from muscle_train.cli import guarded, parse_env_kwargs
from muscle_train.config import VEC_ENVS, MlflowOptions, RunError, Session, WandbOptions, hyperparams_file
from muscle_train.sweeps import PRUNERS, SAMPLERS, StudySpec, report_study, run_study, search_spaces_file
from muscle_train.tracking import default_mlflow_uri
from muscle_train.trainers import ALGOS
from muscle_train.training import RunRequest, default_run_dir, new_run_config, resume_run, start_run
from policies import POLICIES

# Options a resumed run takes from its config.yml; giving them again is an error, not silently ignored.
RESUME_FIXED = (
    "env",
    "algo",
    "policy",
    "n_envs",
    "vec_env",
    "seed",
    "env_kwargs",
    "hyperparams",
    "teacher",
    "transfer",
    "finetune",
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default=None, help="registered env id (default MuscleArmReach-v0)")
    parser.add_argument(
        "--algo",
        choices=ALGOS,
        default=None,
        help="algorithm (default: distill with --teacher, recurrent_ppo for a recurrent --policy, else ppo)",
    )
    parser.add_argument(
        "--teacher",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="--algo distill: the trained run to imitate (its env and env options are the student's)",
    )
    parser.add_argument(
        "--transfer",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="learn a new task from a PPO/RecurrentPPO run (seed 004): only the actor's weights from the "
        "rule input train, the normalizer frozen; --env_kwargs change its env (e.g. tasks=[Figure8])",
    )
    parser.add_argument(
        "--finetune",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="a new run that trains on a PPO/RecurrentPPO run's final model and normalizer, all of it; "
        "--env_kwargs change its env (e.g. push_force=300); its env, algo, policy and hyperparameters are "
        "the source's",
    )
    parser.add_argument(
        "--policy", choices=sorted(POLICIES), default=None, help="policy (default per env and algo)"
    )
    parser.add_argument("--n_envs", type=int, default=None, help="parallel training envs")
    parser.add_argument(
        "--vec_env",
        choices=VEC_ENVS,
        default=None,
        help="vectorization; batched: one batch of envs per CPU core (default: hyperparams.yml)",
    )
    parser.add_argument("--total_timesteps", type=int, default=None, help="env steps to train for")
    parser.add_argument("--seed", type=int, default=None, help="seed of the policy and the envs (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device of the policy")
    parser.add_argument(
        "--env_kwargs", nargs="*", default=None, metavar="KEY=VALUE", help="env options, e.g. vision=false"
    )
    parser.add_argument(
        "--hyperparams",
        type=Path,
        default=None,
        metavar="FILE",
        help="YAML or .py file overriding hyperparams.yml",
    )
    parser.add_argument(
        "--show_hyperparams",
        action="store_true",
        help="print the path of the shipped hyperparams.yml and exit",
    )
    parser.add_argument(
        "--run_dir", type=Path, default=None, help="output folder (default logs/<env>/<algo>_...)"
    )
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR", help="continue this run")
    parser.add_argument("--use_wandb", action="store_true", help="log to Weights & Biases")
    parser.add_argument("--wandb_project", default="muscle_envs", help="W&B project")
    parser.add_argument("--wandb_entity", default=None, help="W&B entity (user or team)")
    parser.add_argument("--tags", nargs="*", default=[], help="W&B tags")
    parser.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--trust",
        action="store_true",
        help="--resume/--teacher: load files that only running their pickled code can restore (runs "
        "written before 0.2.0, a CMA-ES search state): only for runs you trust (README, Security)",
    )
    tracking = parser.add_argument_group("MLflow")
    tracking.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        default=None,
        metavar="URI",
        help="track the run with MLflow: a tracking server (http://host:5000) or database URI; without "
        "one, MLFLOW_TRACKING_URI or a SQLite file in the logs folder (logs/mlflow.db)",
    )
    tracking.add_argument("--mlflow_experiment", default=None, help="MLflow experiment (default: the env id)")
    study = parser.add_argument_group(
        "studies (Optuna)",
        "Trials are runs of the options above; --run_dir is the study's folder "
        "(default logs/studies/<study_name>).",
    )
    study.add_argument(
        "--optimize", action="store_true", help="search hyperparameters (and env options) with Optuna"
    )
    study.add_argument(
        "--seeds", type=int, default=None, metavar="N", help="run the configuration over N seeds from --seed"
    )
    study.add_argument(
        "--n_trials", type=int, default=20, help="finished trials the study holds (default 20; --seeds: N)"
    )
    study.add_argument("--n_jobs", type=int, default=1, help="worker processes on this machine (default 1)")
    study.add_argument("--study_name", default=None, help="default <env>-<algo> (-seeds with --seeds)")
    study.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="Optuna RDB URL shared by the workers, e.g. postgresql://user:password@host/db "
        "(default sqlite:///logs/studies/optuna.db)",
    )
    study.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="default tpe")
    study.add_argument("--pruner", choices=PRUNERS, default="median", help="default median")
    study.add_argument(
        "--search_space", type=Path, default=None, metavar="FILE", help="YAML search spaces per algorithm"
    )
    study.add_argument(
        "--show_search_space",
        action="store_true",
        help="print the path of the shipped search spaces and exit",
    )
    study.add_argument(
        "--heartbeat",
        type=int,
        default=60,
        metavar="S",
        help="seconds between a trial's heartbeats; a killed worker's trial fails after 3x (default 60)",
    )
    study.add_argument("--report", action="store_true", help="only write the study's report (no trials)")
    return parser.parse_args(argv)


def session_of(args: argparse.Namespace) -> Session:
    wandb = WandbOptions(args.wandb_project, args.wandb_entity, tuple(args.tags)) if args.use_wandb else None
    mlflow = None
    if args.mlflow is not None:
        uri = args.mlflow or os.environ.get("MLFLOW_TRACKING_URI") or default_mlflow_uri()
        mlflow = MlflowOptions(uri, args.mlflow_experiment)
    return Session(
        device=args.device, progress=not args.no_progress, wandb=wandb, trust=args.trust, mlflow=mlflow
    )


STUDY_OPTIONS = (
    "n_trials",
    "n_jobs",
    "study_name",
    "storage",
    "sampler",
    "pruner",
    "search_space",
    "heartbeat",
)


def study(args: argparse.Namespace, session: Session) -> Path:
    """--optimize or --seeds: run the study (or only write its report) and print where it is."""
    if args.resume is not None:
        raise RunError("--resume continues one run; a study continues by running its command again")
    if args.optimize and args.seeds is not None:
        raise RunError("--optimize searches settings and --seeds repeats one configuration: give one of them")
    spec = StudySpec(
        request_of(args),
        n_trials=args.n_trials,
        study_name=args.study_name,
        storage=args.storage,
        folder=args.run_dir,
        sampler=args.sampler,
        pruner=args.pruner,
        search_space=args.search_space,
        seeds=args.seeds,
        heartbeat=args.heartbeat,
    )
    summary, folder = report_study(spec) if args.report else run_study(spec, session, args.n_jobs)
    print((folder / "trials.md").read_text())
    best = summary.get("best")
    if best is not None:
        print(f"best: trial {best['trial']} ({best['run_dir']})")
    print(
        f"report: {folder} (study.json, trials.md"
        + (", best_hyperparams.yml" if not args.seeds else "")
        + ")"
    )
    return folder


def request_of(args: argparse.Namespace) -> RunRequest:
    return RunRequest(
        env=args.env,
        algo=args.algo,
        env_kwargs=parse_env_kwargs(args.env_kwargs or []),
        policy=args.policy,
        n_envs=args.n_envs,
        vec_env=args.vec_env,
        total_timesteps=args.total_timesteps,
        seed=args.seed,
        hyperparams_file=args.hyperparams,
        teacher=args.teacher,
        transfer=args.transfer,
        finetune=args.finetune,
    )


def train(args: argparse.Namespace) -> Path:
    session = session_of(args)
    if args.optimize or args.seeds is not None:
        return study(args, session)
    defaults = parse_args([])
    given = [key for key in STUDY_OPTIONS if getattr(args, key) != getattr(defaults, key)]
    if given or args.report:
        options = ", ".join("--" + key for key in given or ["report"])
        raise RunError(f"{options} belong to a study: add --optimize (or --seeds N)")
    if args.resume is not None:
        given = [key for key in RESUME_FIXED if getattr(args, key, None) is not None]
        if given or args.run_dir is not None:
            raise RunError(
                "--resume continues a run with its own config.yml; drop "
                f"{', '.join('--' + k for k in given) or '--run_dir'}"
                " (only --total_timesteps, --device, W&B and progress options may change)"
            )
        return resume_run(args.resume, session, args.total_timesteps)
    config = new_run_config(request_of(args))
    return start_run(config, args.run_dir or default_run_dir(config), session)


def main(argv: list[str] | None = None) -> None:
    """The console script: train, or report a user error in one line (exit status 2). Returns None,
    which a console script's wrapper reads as exit status 0 (:func:`train` returns the run directory)."""
    args = parse_args(argv)
    if args.show_hyperparams:
        print(hyperparams_file())
        return
    if args.show_search_space:
        print(search_spaces_file())
        return
    guarded(Path(sys.argv[0]).name, lambda: train(args))


if __name__ == "__main__":
    main()
