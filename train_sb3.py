"""Train a policy on a muscle_envs task with Stable-Baselines3 PPO.

    python train_sb3.py                              # MuscleArmReach-v0, defaults below
    python train_sb3.py --n_envs 16 --total_timesteps 2000000
    python train_sb3.py --env MuscleArm6Reach-v0 --env_kwargs effort_weight=0.1

Writes a run directory (default ``logs/<env>/ppo_<seed>_<timestamp>/``) with ``config.yml``,
``final_model.zip``, ``vec_normalize.pkl`` and TensorBoard logs; ``python evaluate.py RUN_DIR``
evaluates it. Observations and rewards go through VecNormalize; the policy acts in [-1, 1], mapped
onto the env's [0, 1] excitations by ``gymnasium.wrappers.RescaleAction``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import gymnasium as gym
import torch
from stable_baselines3.common.vec_env import VecNormalize

import run_utils
from policies import POLICIES, policy_spec

# PPO settings per env; anything not listed is SB3's default. On MuscleArmReach-v0 these reach
# ~98% success in ~450k steps (about 4 minutes on 2 cores, 8 envs).
HYPERPARAMS = {
    "MuscleArmReach-v0": dict(
        n_steps=1024, batch_size=512, learning_rate=3e-4, gamma=0.99, policy_kwargs=dict(net_arch=[64, 64])
    ),
    "MuscleArm6Reach-v0": dict(
        n_steps=1024, batch_size=512, learning_rate=3e-4, gamma=0.99, policy_kwargs=dict(net_arch=[64, 64])
    ),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="MuscleArmReach-v0", help="registered env id")
    parser.add_argument(
        "--policy", default="mlp", choices=sorted(POLICIES), help="policy short name (policies/)"
    )
    parser.add_argument("--n_envs", type=int, default=8, help="parallel envs")
    parser.add_argument(
        "--vec_env",
        choices=["subproc", "dummy"],
        default=None,
        help="vectorization (default: subproc when n_envs > 1)",
    )
    parser.add_argument("--total_timesteps", type=int, default=500_000, help="env steps to train for")
    parser.add_argument("--seed", type=int, default=0, help="seed of the policy and the envs")
    parser.add_argument("--device", default="cpu", help="torch device of the policy")
    parser.add_argument(
        "--env_kwargs",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="env options, e.g. effort_weight=0.1 vision=false",
    )
    parser.add_argument("--run_dir", type=Path, default=None, help="output folder")
    parser.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    args = parse_args(argv)
    gym.spec(args.env)  # an unknown id fails here, with Gymnasium's suggestions, before any work
    env_kwargs = run_utils.parse_env_kwargs(args.env_kwargs)
    vec_env = args.vec_env or ("subproc" if args.n_envs > 1 else "dummy")
    hyperparams = HYPERPARAMS.get(args.env, {})
    spec = policy_spec(args.policy, **hyperparams.get("policy_kwargs", {}))
    algo = "recurrent_ppo" if spec.recurrent else "ppo"
    run_dir = args.run_dir or Path("logs") / args.env / f"{algo}_{args.seed}_{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    # The envs run in the other processes; one thread here leaves them the cores (2-core machines).
    torch.set_num_threads(1)

    venv = run_utils.make_vec_env(args.env, env_kwargs, args.n_envs, vec_env, args.seed)
    # Entries the policy models physiologically (muscle length/velocity/force) stay in their units.
    norm_obs_keys = [key for key in venv.observation_space.spaces if key not in spec.raw_observation_keys]
    venv = VecNormalize(
        venv,
        norm_obs=True,
        norm_reward=True,
        gamma=hyperparams.get("gamma", 0.99),
        norm_obs_keys=norm_obs_keys,
    )
    run_utils.save_config(
        run_dir,
        {
            "env": args.env,
            "env_kwargs": env_kwargs,
            "algo": algo,
            "policy": args.policy,
            "seed": args.seed,
            "n_envs": args.n_envs,
            "vec_env": vec_env,
            "total_timesteps": args.total_timesteps,
            "action_range": list(run_utils.POLICY_ACTION_RANGE),
            "hyperparams": hyperparams,
        },
    )
    ppo_kwargs = {k: v for k, v in hyperparams.items() if k != "policy_kwargs"}
    model = spec.algorithm(
        spec.policy,
        venv,
        policy_kwargs=spec.policy_kwargs,
        seed=args.seed,
        device=args.device,
        verbose=0,
        tensorboard_log=str(run_dir / "tb"),
        **ppo_kwargs,
    )
    print(
        f"training {algo} ({args.policy}) on {args.env} for {args.total_timesteps:,} steps with "
        f"{args.n_envs} {vec_env} envs -> {run_dir}"
    )
    try:
        model.learn(total_timesteps=args.total_timesteps, progress_bar=not args.no_progress)
    finally:  # Ctrl-C still leaves a usable model and its normalizer
        model.save(run_dir / run_utils.MODEL_FILE)
        venv.save(str(run_dir / run_utils.NORMALIZER_FILE))
        venv.close()
    print(f"saved {run_dir / run_utils.MODEL_FILE} and {run_utils.NORMALIZER_FILE}")
    return run_dir


if __name__ == "__main__":
    main()
