"""Evaluate a train_sb3.py run: success rate, return, episode length, final distance.

    python evaluate.py RUN_DIR [--episodes 100] [--stochastic] [--json results.json]

Rebuilds the env from the run's config.yml, loads ``final_model.zip`` and the saved VecNormalize
statistics (frozen: ``training=False``, rewards reported unnormalized).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

import run_utils
from policies import policy_spec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="a train_sb3.py run directory")
    parser.add_argument("--episodes", type=int, default=100, help="episodes to run")
    parser.add_argument("--stochastic", action="store_true", help="sample actions instead of the mean")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the evaluation episodes")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def evaluate(run_dir: Path, episodes: int, deterministic: bool = True, seed: int = 12345) -> dict:
    config = run_utils.load_config(run_dir)
    model_path, norm_path = run_dir / run_utils.MODEL_FILE, run_dir / run_utils.NORMALIZER_FILE
    for path in (model_path, norm_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: did the training run finish or save?")
    action_range = tuple(config["action_range"]) if config.get("action_range") else None
    venv = DummyVecEnv([lambda: run_utils.make_env(config["env"], config["env_kwargs"], action_range)])
    venv = VecNormalize.load(str(norm_path), venv)
    venv.training, venv.norm_reward = False, False
    venv.seed(seed)
    model = policy_spec(config["policy"]).algorithm.load(model_path, device="cpu")

    returns, lengths, successes, distances = [], [], [], []
    obs = venv.reset()
    state, episode_start = None, np.ones(1, dtype=bool)  # recurrent policies carry a state
    episode_return, episode_length = 0.0, 0
    while len(returns) < episodes:
        action, state = model.predict(
            obs, state=state, episode_start=episode_start, deterministic=deterministic
        )
        obs, reward, done, infos = venv.step(action)
        episode_start = done
        episode_return += float(reward[0])
        episode_length += 1
        if done[0]:
            returns.append(episode_return)
            lengths.append(episode_length)
            successes.append(bool(infos[0].get("is_success", False)))
            distances.append(float(infos[0].get("distance", math.nan)))
            episode_return, episode_length = 0.0, 0
    venv.close()
    return {
        "env": config["env"],
        "n_episodes": episodes,
        "success_rate": float(np.mean(successes)),
        "mean_reward": float(np.mean(returns)),
        "std_reward": float(np.std(returns)),
        "mean_episode_length": float(np.mean(lengths)),
        "mean_final_distance": float(np.mean(distances)),
        "deterministic": deterministic,
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    results = evaluate(args.run_dir, args.episodes, deterministic=not args.stochastic, seed=args.seed)
    print(f"{results['env']}: {results['n_episodes']} episodes")
    print(f"  success rate        {results['success_rate']:.1%}")
    print(f"  mean return         {results['mean_reward']:.1f} +- {results['std_reward']:.1f}")
    print(f"  mean episode length {results['mean_episode_length']:.0f} steps")
    print(f"  mean final distance {results['mean_final_distance'] * 100:.1f} cm")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
