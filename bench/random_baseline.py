"""Baselines for the standing envs: how long the body stays up without a trained policy.

    python bench/random_baseline.py            # 20 episodes per id and policy
    python bench/random_baseline.py --quick    # 3

Policies: uniform random excitations in [0, 1]; zero excitation; and the documented constant
holding activation (``LegsPlant.holding_activation``, open loop). Reports mean +- std of episode
length (control steps of 10 ms; 1000 is the limit) and of return. Writes
bench/results/random_baseline.json.
"""

from __future__ import annotations

import argparse
from functools import partial

import gymnasium as gym
import numpy as np
from results_io import save_results

import muscle_envs  # noqa: F401  (registers the ids)

IDS = ("MyoLegsStand-v0", "MyoLegs26Stand-v0")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    episodes = 3 if args.quick else args.episodes
    rows = []
    for env_id in IDS:
        env = gym.make(env_id)
        shape = env.action_space.shape
        policies = {
            "random": partial(np.random.default_rng(0).uniform, 0.0, 1.0, shape),
            "zero": partial(np.zeros, shape),
        }
        if env_id == "MyoLegsStand-v0":
            policies["holding activation"] = partial(np.copy, env.unwrapped.plant.holding_activation())
        for name, policy in policies.items():
            lengths, returns = [], []
            for episode in range(episodes):
                env.reset(seed=episode)
                total, steps, done = 0.0, 0, False
                while not done:
                    _, reward, terminated, truncated, _ = env.step(policy())
                    total, steps, done = total + reward, steps + 1, terminated or truncated
                lengths.append(steps)
                returns.append(total)
            rows.append(
                {
                    "env_id": env_id,
                    "policy": name,
                    "episodes": episodes,
                    "length_mean": float(np.mean(lengths)),
                    "length_std": float(np.std(lengths)),
                    "return_mean": float(np.mean(returns)),
                    "return_std": float(np.std(returns)),
                }
            )
    print("| env | policy | episode length (steps) | return |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['env_id']} | {r['policy']} | {r['length_mean']:.1f} +- {r['length_std']:.1f} | "
            f"{r['return_mean']:.1f} +- {r['return_std']:.1f} |"
        )
    save_results("random_baseline", args.quick, rows)


if __name__ == "__main__":
    main()
