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

(``python train_sb3.py`` in the repository and ``python -m muscle_train train`` take the same options.)
Defaults per algorithm and env live in the package's hyperparams.yml (``--show_hyperparams`` prints
its path); ``--hyperparams FILE`` overrides keys of that entry and command-line options override both.
Every resolved setting is written to the run directory's config.yml; ``muscle-evaluate RUN_DIR``
evaluates the run, whichever way it was trained. SB3 runs normalize observations and rewards with
VecNormalize. The policy acts in [-1, 1], mapped onto the env's [0, 1] excitations by
``gymnasium.wrappers.RescaleAction``. Ctrl-C (or SIGTERM) saves the model and its normalizer (and a
checkpoint) before exiting; ``--resume`` continues from the latest checkpoint with the same step
counter and normalizer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from muscle_train.cli import guarded, parse_env_kwargs
from muscle_train.config import VEC_ENVS, RunError, Session, WandbOptions, hyperparams_file
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
    return parser.parse_args(argv)


def session_of(args: argparse.Namespace) -> Session:
    wandb = WandbOptions(args.wandb_project, args.wandb_entity, tuple(args.tags)) if args.use_wandb else None
    return Session(device=args.device, progress=not args.no_progress, wandb=wandb, trust=args.trust)


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
    )


def train(args: argparse.Namespace) -> Path:
    session = session_of(args)
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
    guarded(Path(sys.argv[0]).name, lambda: train(args))


if __name__ == "__main__":
    main()
