"""What the sensory policies cost: forward time per step, and RecurrentPPO training throughput.

    python bench/policy_speed.py            # ~3 min
    python bench/policy_speed.py --quick    # ~30 s, rough

1. Forward cost per step (``policy.predict``, deterministic, torch with 1 thread) of every policy in
   ``policies.POLICIES`` on MuscleArmReach-v0 observations, at batch 1 and 16, min/median/max over
   repeats. Recurrent policies carry their state.
2. RecurrentPPO training fps (env steps per second, 4 DummyVecEnv envs, n_steps 128, batch 128,
   64 hidden units, 1 epoch) of ``sensory_lstm`` and of sb3-contrib's stock ``MultiInputLstmPolicy``
   (``lstm``), alternated in the same process; the ratio is stock fps / sensory fps per repeat.

Writes bench/results/policy_speed.json.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from results_io import save_results
from stable_baselines3.common.env_util import make_vec_env

import muscle_envs  # noqa: F401  (registers the ids)
from policies import POLICIES, policy_spec

ENV = "MuscleArmReach-v0"


def build(name: str, env, **overrides):
    spec = policy_spec(name, **overrides)
    return spec.algorithm(
        spec.policy,
        env,
        policy_kwargs=spec.policy_kwargs,
        seed=0,
        device="cpu",
        n_steps=128,
        batch_size=128,
        n_epochs=1,
    )


def forward_cost(name: str, batch: int, repeats: int, steps: int) -> list[float]:
    venv = make_vec_env(ENV, n_envs=batch)
    model = build(name, venv, **({"lstm_hidden_size": 64} if policy_spec(name).recurrent else {}))
    obs = venv.reset()
    starts = np.ones(batch, dtype=bool)
    times = []
    for _ in range(repeats):
        state, start = None, time.perf_counter()
        for _ in range(steps):
            _, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
        times.append((time.perf_counter() - start) / steps * 1e6)
    venv.close()
    return times


def training_fps(name: str, timesteps: int) -> float:
    model = build(name, make_vec_env(ENV, n_envs=4), lstm_hidden_size=64)
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    return timesteps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeats, steps, fps_repeats, timesteps = (3, 50, 1, 1024) if args.quick else (5, 300, 3, 4096)

    forward = {}
    print("| policy | forward, batch 1 (us) min / median / max | batch 16 (us) |")
    print("|---|---|---|")
    for name in POLICIES:
        forward[name] = {batch: forward_cost(name, batch, repeats, steps) for batch in (1, 16)}
        cells = [
            " / ".join(f"{f(forward[name][b]):.0f}" for f in (min, statistics.median, max)) for b in (1, 16)
        ]
        print(f"| {name} | {cells[0]} | {cells[1]} |")

    ratios, fps = [], {"lstm": [], "sensory_lstm": []}
    for _ in range(fps_repeats):
        for name in fps:
            fps[name].append(training_fps(name, timesteps))
        ratios.append(fps["lstm"][-1] / fps["sensory_lstm"][-1])
    print(
        f"RecurrentPPO training fps: stock lstm {statistics.median(fps['lstm']):.0f}, sensory_lstm "
        f"{statistics.median(fps['sensory_lstm']):.0f}; slowdown min/median/max "
        f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f} (goal <= 1.5)"
    )
    save_results("policy_speed", args.quick, {"forward_us": forward, "training_fps": fps, "slowdown": ratios})


if __name__ == "__main__":
    main()
