"""What the sensory policies cost: forward time per step, and RecurrentPPO training throughput.

    python bench/policy_speed.py            # ~3 min
    python bench/policy_speed.py --quick    # ~30 s, rough

1. Forward cost per step (``policy.predict``, deterministic, torch with 1 thread) of every policy in
   ``policies.POLICIES`` on MuscleArmReach-v0 observations (the reflex controller, which needs legs,
   on MyoLegsWalk-v0's), at batch 1 and 16, min/median/max over repeats. Recurrent policies carry
   their state.
2. RecurrentPPO training fps (env steps per second, 4 DummyVecEnv envs) of ``sensory_lstm`` and of
   sb3-contrib's stock ``MultiInputLstmPolicy`` (``lstm``), alternated in the same process; the
   ratio is stock fps / sensory fps per repeat. Two settings: train_sb3.py's defaults for the env
   (n_steps 1024, batch 512, 10 epochs, sb3-contrib's 256 units), what users run; and a small one
   (n_steps 128, batch 128, 1 epoch, 64 units) where per-step Python overhead dominates, the worst
   case for a policy that must step its loop. ``--quick`` runs only the small one.

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
from muscle_train.training import load_hyperparams, split_hyperparams
from policies import POLICIES, policy_spec

ENV = "MuscleArmReach-v0"
ENV_OF = {"reflex": "MyoLegsWalk-v0"}  # where a policy cannot run on ENV


def policy_label(name: str) -> str:
    """A policy's name in the tables, with its env where that is not ENV."""
    return f"{name} ({ENV_OF[name]})" if name in ENV_OF else name


def build(name: str, env, **overrides):
    spec = policy_spec(name, **overrides)
    return spec.algorithm(
        spec.policy,
        env,
        policy_kwargs=spec.kwargs_for(env),
        seed=0,
        device="cpu",
        n_steps=128,
        batch_size=128,
        n_epochs=1,
    )


def forward_cost(name: str, batch: int, repeats: int, steps: int) -> list[float]:
    venv = make_vec_env(ENV_OF.get(name, ENV), n_envs=batch)
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


SMALL = {"n_steps": 128, "batch_size": 128, "n_epochs": 1, "lstm_hidden_size": 64}


def training_fps(name: str, timesteps: int, settings: dict, n_envs: int = 4) -> float:
    settings = dict(settings)
    hidden = {"lstm_hidden_size": settings.pop("lstm_hidden_size")} if "lstm_hidden_size" in settings else {}
    spec = policy_spec(name, **hidden, **settings.pop("policy_kwargs", {}))
    model = spec.algorithm(
        spec.policy,
        make_vec_env(ENV, n_envs=n_envs),
        policy_kwargs=spec.policy_kwargs,
        seed=0,
        device="cpu",
        **settings,
    )
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
        print(f"| {policy_label(name)} | {cells[0]} | {cells[1]} |")

    training = {"small": (SMALL, 1024 if args.quick else 4096, 1 if args.quick else 3, 4)}
    if not args.quick:  # the settings users train with (hyperparams.yml), their number of envs too
        run, kwargs = split_hyperparams(load_hyperparams("recurrent_ppo", ENV))
        training["default"] = (kwargs, 8192, 2, run["n_envs"])
    fps: dict[str, dict[str, list[float]]] = {}
    for setting, (settings, timesteps, repeats, n_envs) in training.items():
        fps[setting] = {"lstm": [], "sensory_lstm": []}
        for _ in range(repeats):
            for name in fps[setting]:
                fps[setting][name].append(training_fps(name, timesteps, settings, n_envs))
        ratios = [a / b for a, b in zip(fps[setting]["lstm"], fps[setting]["sensory_lstm"], strict=True)]
        fps[setting]["slowdown"] = ratios
        median = {name: statistics.median(fps[setting][name]) for name in ("lstm", "sensory_lstm")}
        print(
            f"RecurrentPPO training fps, {setting} settings: stock lstm {median['lstm']:.0f}, "
            f"sensory_lstm {median['sensory_lstm']:.0f}; slowdown min/median/max "
            f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f} (goal <= 1.5)"
        )
    save_results("policy_speed", args.quick, {"forward_us": forward, "training_fps": fps})


if __name__ == "__main__":
    main()
