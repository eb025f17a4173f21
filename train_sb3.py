"""Train a policy on a muscle_envs task: Stable-Baselines3 (PPO, RecurrentPPO, SAC, TD3), distillation
of a trained teacher into a recurrent student, or CMA-ES.

    python train_sb3.py                                   # MuscleArmReach-v0, PPO, defaults
    python train_sb3.py --n_envs 16 --total_timesteps 2000000
    python train_sb3.py --algo recurrent_ppo --policy sensory_lstm
    python train_sb3.py --env MyoLegsStand-v0 --use_wandb --tags legs baseline
    python train_sb3.py --hyperparams my_settings.yml --env_kwargs vision=false effort_weight=0.1
    python train_sb3.py --resume logs/MuscleArmReach-v0/ppo_0_20261121-093000
    python train_sb3.py --algo distill --teacher logs/MuscleArmReach-v0/ppo_0_20261121-093000
    python train_sb3.py --algo cmaes --policy sensory_rnn

Defaults per algorithm and env live in hyperparams.yml; ``--hyperparams FILE`` overrides keys of that
entry and command-line options override both. Every resolved setting is written to the run
directory's config.yml (layout: see run_utils.py or the README); ``python evaluate.py RUN_DIR``
evaluates the run, whichever way it was trained (distillation: distillation.py; CMA-ES:
evolution.py). SB3 runs normalize observations and rewards with VecNormalize. The policy acts in [-1, 1],
mapped onto the env's [0, 1] excitations by ``gymnasium.wrappers.RescaleAction``. Ctrl-C (or
SIGTERM) saves the model and its normalizer (and a checkpoint) before exiting; ``--resume``
continues from the latest checkpoint with the same step counter and normalizer.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize, sync_envs_normalization

import run_utils
from muscle_envs.vector import FastVecNormalize
from policies import POLICIES, PolicySpec, policy_spec
from train_callbacks import (
    CheckpointCallback,
    EpisodeMetricsCallback,
    EvalCallback,
    ProgressBarCallback,
    StopOnSignal,
)

# Settings a resumed run takes from its config.yml; giving them again is an error, not silently ignored.
RESUME_FIXED = ("env", "algo", "policy", "n_envs", "vec_env", "seed", "env_kwargs", "hyperparams", "teacher")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default=None, help="registered env id (default MuscleArmReach-v0)")
    parser.add_argument(
        "--algo",
        choices=sorted([*run_utils.ALGORITHMS, *run_utils.TRAINERS]),
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
        "--policy",
        choices=sorted(POLICIES),
        default=None,
        help="policy short name (default per env and algo)",
    )
    parser.add_argument("--n_envs", type=int, default=None, help="parallel training envs")
    parser.add_argument(
        "--vec_env",
        choices=run_utils.VEC_ENVS,
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
        "--run_dir", type=Path, default=None, help="output folder (default logs/<env>/<algo>_...)"
    )
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR", help="continue this run")
    parser.add_argument("--use_wandb", action="store_true", help="log to Weights & Biases")
    parser.add_argument("--wandb_project", default="muscle_envs", help="W&B project")
    parser.add_argument("--wandb_entity", default=None, help="W&B entity (user or team)")
    parser.add_argument("--tags", nargs="*", default=[], help="W&B tags")
    parser.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def resolve(args: argparse.Namespace) -> dict[str, Any]:
    """Every setting of a new run: command line over --hyperparams over hyperparams.yml."""
    algo = args.algo or (
        "distill"
        if args.teacher is not None
        else "recurrent_ppo"
        if args.policy and POLICIES[args.policy].recurrent
        else "ppo"
    )
    env_id, env_kwargs = args.env or "MuscleArmReach-v0", run_utils.parse_env_kwargs(args.env_kwargs or [])
    extra: dict[str, Any] = {}
    if (algo == "distill") != (args.teacher is not None):
        raise run_utils.RunError("--algo distill needs --teacher RUN_DIR, and --teacher is only for distill")
    if algo == "distill":
        teacher = run_utils.load_config(args.teacher)
        if (args.env and args.env != teacher["env"]) or args.env_kwargs:
            raise run_utils.RunError(
                f"the student learns on its teacher's env ({teacher['env']} with "
                f"{teacher.get('env_kwargs', {})}); drop --env and --env_kwargs"
            )
        env_id, env_kwargs = teacher["env"], teacher.get("env_kwargs", {})
        extra = {"teacher": str(args.teacher), "normalize": {"norm_obs": True, "norm_reward": False}}
    elif algo == "cmaes":
        extra = {"normalize": False}  # the weights are searched against raw observations
    run_utils.check_env_id(env_id)
    params = run_utils.load_hyperparams(algo, env_id, args.hyperparams)
    run, algo_kwargs = run_utils.split_hyperparams(params)
    for key in ("policy", "n_envs", "vec_env", "total_timesteps"):
        if getattr(args, key) is not None:
            if key not in run_utils.run_settings(algo):
                raise run_utils.RunError(
                    f"--{key} does not apply to {algo}; its settings are hyperparams.yml's {algo} entry"
                )
            run[key] = getattr(args, key)
    check_policy(run["policy"], algo)
    if run.get("n_envs", 1) < 1 or run.get("total_timesteps", 1) < 1:
        raise run_utils.RunError("n_envs and total_timesteps must be >= 1")
    if "n_envs" in run:
        run["vec_env"] = run.get("vec_env") or ("subproc" if run["n_envs"] > 1 else "dummy")
    if algo in run_utils.TRAINERS:
        run_utils.trainer(algo).Settings(**algo_kwargs)  # reports a bad value now, in one line
    return {
        "env": env_id,
        "env_kwargs": env_kwargs,
        "algo": algo,
        "seed": 0 if args.seed is None else args.seed,
        **run,
        **extra,
        "action_range": list(run_utils.POLICY_ACTION_RANGE),
        "hyperparams": algo_kwargs,
        "env_config": run_utils.check_env_options(env_id, env_kwargs),
    }


def check_policy(name: str, algo: str) -> None:
    if name not in POLICIES:
        raise run_utils.RunError(f"unknown policy {name!r}; known: {sorted(POLICIES)}")
    recurrent = POLICIES[name].recurrent
    if algo == "cmaes":  # searches any policy's weights
        return
    if algo == "distill" and not recurrent:
        students = sorted(n for n, spec in POLICIES.items() if spec.recurrent)
        raise run_utils.RunError(f"a distillation student is recurrent: one of {students}, not {name!r}")
    if algo != "distill" and recurrent != (algo == "recurrent_ppo"):
        fitting = sorted(n for n, spec in POLICIES.items() if spec.recurrent == (algo == "recurrent_ppo"))
        kind = "recurrent" if recurrent else "feed-forward"
        raise run_utils.RunError(f"policy {name!r} is {kind}; {algo} trains {fitting}")


def build_envs(config: dict[str, Any], run_dir: Path, spec: PolicySpec) -> tuple[VecEnv, VecEnv]:
    """The training envs (with Monitor files) and the evaluation envs, normalized alike."""
    venv = run_utils.make_vec_env(
        config["env"],
        config["env_kwargs"],
        config["n_envs"],
        config["vec_env"],
        config["seed"],
        monitor_dir=run_dir / "monitor",
    )
    eval_env = run_utils.make_eval_env(config)
    normalize = config["normalize"]
    if normalize:
        # Entries the policy models physiologically (muscle length/velocity/force) stay in their units.
        keys = getattr(venv.observation_space, "spaces", None)
        settings = {"gamma": config["hyperparams"].get("gamma", 0.99), **normalize}
        if keys is not None:
            settings["norm_obs_keys"] = [key for key in keys if key not in spec.raw_observation_keys]
        venv = FastVecNormalize(venv, **settings)
        eval_env = FastVecNormalize(eval_env, **{**settings, "training": False, "norm_reward": False})
    return venv, eval_env


def new_model(
    config: dict[str, Any], spec: PolicySpec, venv: VecEnv, run_dir: Path, device: str
) -> BaseAlgorithm:
    kwargs = dict(config["hyperparams"])
    kwargs.pop("policy_kwargs", None)
    algorithm = run_utils.ALGORITHMS[config["algo"]]
    return algorithm(
        spec.policy,
        venv,
        policy_kwargs=spec.policy_kwargs,
        seed=config["seed"],
        device=device,
        verbose=0,
        tensorboard_log=str(run_dir / "tb"),
        **kwargs,
    )


def video_recorder(config: dict[str, Any], run_dir: Path, train_env: VecEnv, wandb_run: Any):
    """``record(model, step)``: one deterministic evaluation episode as videos/step_<N>.mp4, sent to
    W&B as a ``wandb.Video``."""

    def record(model: BaseAlgorithm, step: int) -> None:
        import wandb

        env: VecEnv = DummyVecEnv(
            [
                lambda: run_utils.make_env(
                    config["env"], config["env_kwargs"], config["action_range"], "rgb_array"
                )
            ]
        )
        if isinstance(train_env, VecNormalize):
            env = VecNormalize(env, training=False, norm_reward=False, norm_obs_keys=train_env.norm_obs_keys)
            sync_envs_normalization(train_env, env)
        env.seed(config["seed"])
        try:
            path = run_utils.record_video(model, env, run_dir / "videos" / f"step_{step:012d}.mp4")
        finally:
            env.close()
        wandb_run.log({"eval/video": wandb.Video(str(path), format="mp4"), "global_step": step})

    return record


def start_wandb(args: argparse.Namespace, config: dict[str, Any], run_dir: Path) -> Any:
    import wandb  # only with --use_wandb

    run = wandb.init(
        project=args.wandb_project,
        entity=args.wandb_entity,
        name=run_dir.name,
        id=config.get("wandb_id"),
        resume="allow",
        dir=str(run_dir),
        config=config,
        tags=args.tags or None,
        sync_tensorboard=True,
        job_type="train",
    )
    config["wandb_id"] = run.id
    return run


def log_wandb_artifact(
    run: Any, config: dict[str, Any], run_dir: Path, summary: dict[str, Any] | None
) -> None:
    import re

    import wandb

    name = re.sub(r"[^\w.-]", "-", f"{config['env']}-{run_dir.name}")
    artifact = wandb.Artifact(name, type="model", metadata=run_utils.plain(summary or {}))
    for file in (run_utils.MODEL_FILE, run_utils.NORMALIZER_FILE, run_utils.CONFIG_FILE):
        if (run_dir / file).is_file():
            artifact.add_file(str(run_dir / file))
    run.log_artifact(artifact)


def check_resume_args(args: argparse.Namespace) -> None:
    given = [key for key in RESUME_FIXED if getattr(args, key, None) is not None]
    if given or args.run_dir is not None:
        raise run_utils.RunError(
            "--resume continues a run with its own config.yml; drop "
            f"{', '.join('--' + k for k in given) or '--run_dir'}"
            " (only --total_timesteps, --device, W&B and progress options may change)"
        )


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    try:
        return train(args)
    except run_utils.RunError as err:
        print(f"train_sb3.py: error: {err}", file=sys.stderr)
        sys.exit(2)  # like argparse's usage errors


def finite_weights(model: BaseAlgorithm) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.policy.parameters())


def train_other(args: argparse.Namespace, config: dict[str, Any], run_dir: Path) -> Path:
    """A run of a training method that is not an SB3 algorithm (run_utils.TRAINERS)."""
    trainer = run_utils.trainer(config["algo"])
    if args.resume is not None and not trainer.RESUMABLE:
        raise run_utils.RunError(f"a {config['algo']} run cannot be resumed; start a new one")
    if args.resume is not None and args.total_timesteps is not None:
        raise run_utils.RunError(f"--total_timesteps does not apply to {config['algo']}")
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # as for SB3 runs: the cores are for the env processes
    wandb_run = start_wandb(args, config, run_dir) if args.use_wandb else None
    run_utils.save_config(run_dir, config)
    summary = trainer.train(config, run_dir, args)
    if wandb_run is not None:
        log_wandb_artifact(wandb_run, config, run_dir, summary)
        wandb_run.finish()
    print(f"run directory: {run_dir}  (evaluate: python evaluate.py {run_dir})")
    return run_dir


def train(args: argparse.Namespace) -> Path:
    if args.resume is not None:
        check_resume_args(args)
        run_dir = args.resume
        config = run_utils.load_config(run_dir)
        if config["algo"] in run_utils.TRAINERS:
            return train_other(args, config, run_dir)
        if args.total_timesteps is not None:
            config["total_timesteps"] = args.total_timesteps
        latest = run_utils.checkpoints(run_dir)
        if not latest:
            raise run_utils.RunError(f"{run_dir} has no checkpoint to resume from")
        checkpoint = latest[-1]
    else:
        config = resolve(args)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = args.run_dir or Path("logs") / config["env"] / f"{config['algo']}_{config['seed']}_{stamp}"
        checkpoint = None
        if run_dir.exists() and any(run_dir.iterdir()):
            raise run_utils.RunError(f"{run_dir} is not empty; use --resume {run_dir} to continue that run")
        if config["algo"] in run_utils.TRAINERS:
            return train_other(args, config, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # Envs run in the worker processes; one thread here leaves them the cores. The networks are small,
    # so more threads would mostly add synchronization (SubprocVecEnv workers set 1 thread each, too).
    torch.set_num_threads(1)
    spec = policy_spec(config["policy"], **config["hyperparams"].get("policy_kwargs", {}))

    venv, eval_env = build_envs(config, run_dir, spec)
    if checkpoint is not None:
        if isinstance(venv, VecNormalize):
            venv = run_utils.load_normalizer(
                checkpoint / run_utils.CHECKPOINT_NORMALIZER, venv.venv, training=True
            )
        model = run_utils.ALGORITHMS[config["algo"]].load(
            checkpoint / run_utils.CHECKPOINT_MODEL, env=venv, device=args.device
        )
        model.tensorboard_log = str(run_dir / "tb")  # the run dir may have moved since
        print(f"resuming {run_dir} from {checkpoint.name} ({model.num_timesteps:,} steps)")
    else:
        model = new_model(config, spec, venv, run_dir, args.device)
    wandb_run = start_wandb(args, config, run_dir) if args.use_wandb else None
    run_utils.save_config(run_dir, config)

    remaining = config["total_timesteps"] - model.num_timesteps
    video = video_recorder(config, run_dir, venv, wandb_run) if wandb_run is not None else None
    evaluation = (
        EvalCallback(
            eval_env,
            run_dir,
            config["eval_freq"],
            config["n_eval_episodes"],
            config["seed"] + run_utils.EVAL_SEED_OFFSET,
            video,
        )
        if config["eval_freq"] or video
        else None
    )
    stop = StopOnSignal()
    callbacks: list[BaseCallback] = [
        stop,
        EpisodeMetricsCallback(),
        CheckpointCallback(run_dir, config["checkpoint_freq"], config["keep_checkpoints"]),
    ]
    if evaluation is not None:
        callbacks.append(evaluation)
    if not args.no_progress:
        callbacks.append(ProgressBarCallback(config["total_timesteps"], evaluation))
    print(
        f"training {config['algo']} ({config['policy']}) on {config['env']} "
        f"for {config['total_timesteps']:,} steps with {config['n_envs']} {config['vec_env']} envs",
        f"-> {run_dir}",
        flush=True,
    )
    interrupted = False
    try:  # Ctrl-C or SIGTERM (a scheduler's kill) ends training at the next step; see StopOnSignal
        if remaining > 0:
            model.learn(remaining, callback=CallbackList(callbacks), reset_num_timesteps=checkpoint is None)
        interrupted = stop.requested
    except KeyboardInterrupt:  # a second Ctrl-C, or one before training started
        interrupted = True
    except ValueError as err:  # SB3's distribution refuses non-finite action means: training diverged
        if finite_weights(model):
            raise
        raise run_utils.RunError(
            f"training diverged at step {model.num_timesteps:,}: the policy's weights are no longer finite "
            f"({str(err).splitlines()[0]}). The checkpoints and best_model.zip from before are kept; "
            "a lower learning_rate may help"
        ) from None
    finally:
        if interrupted:
            print(f"\ninterrupted at step {model.num_timesteps:,}; saving", file=sys.stderr)
        # Ctrl-C (or an error) still leaves a usable model, its normalizer and a checkpoint; a diverged
        # model is not usable, and saving it would push a good checkpoint out
        if finite_weights(model):
            run_utils.save_model_and_normalizer(
                model, venv, run_dir / run_utils.MODEL_FILE, run_dir / run_utils.NORMALIZER_FILE
            )
            run_utils.save_checkpoint(model, venv, run_dir, config["keep_checkpoints"])
        venv.close()
        eval_env.close()
    summary = evaluation.last if evaluation is not None else None
    if wandb_run is not None:
        log_wandb_artifact(wandb_run, config, run_dir, summary)
        wandb_run.finish()
    print(f"saved {run_utils.MODEL_FILE} and {run_utils.NORMALIZER_FILE} at step {model.num_timesteps:,}")
    if interrupted:
        print(f"resume with: python train_sb3.py --resume {run_dir}")
    elif summary is not None:
        print(
            f"last evaluation: success {summary['success_rate']:.0%}, return {summary['mean_reward']:.1f}, "
            f"episode length {summary['mean_episode_length']:.0f} over {summary['n_episodes']} episodes"
        )
    return run_dir


if __name__ == "__main__":
    main()
