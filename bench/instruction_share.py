"""Physics share by instruction count (valgrind/callgrind): deterministic where wall-clock time is not.

    python bench/instruction_share.py                 # every registered id, 2000 steps (~2 min)
    python bench/instruction_share.py --steps 500     # quicker
    python bench/instruction_share.py --env MyoLegsStand-v0

Counts the instructions of N ``env.step()`` calls on ``gym.make(id)`` and of N x ``frame_skip`` raw
``mj_step`` calls on the same model and controls, each in its own process, minus a baseline process
that builds the env and steps 0 times. share = raw / env; overhead = env - raw instructions per step.
The counts repeat to within a percent or two whatever else the machine does, so this is the figure
to compare code changes by; wall-clock share (bench/env_speed.py) is lower, because interpreted
Python retires fewer instructions per cycle than MuJoCo's C. Needs valgrind (Debian: valgrind).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import muscle_envs

CHILD = """
import sys
import gymnasium as gym
import mujoco
import numpy as np
import muscle_envs
mode, n, env_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
env = gym.make(env_id)
env.reset(seed=0)
plant = env.unwrapped.plant
actions = np.random.default_rng(0).uniform(0, 1, (4096, *env.action_space.shape)).astype(np.float32)
for k in range(n):
    if mode == "env":
        _, _, terminated, truncated, _ = env.step(actions[k % 4096])
        if terminated or truncated:
            env.reset()
    else:
        plant.data.ctrl[:] = actions[k % 4096]
        for _ in range(plant.frame_skip):
            mujoco.mj_step(plant.model, plant.data)
        if k % 200 == 199:
            env.reset()
"""


def instructions(mode: str, steps: int, env_id: str) -> int:
    result = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            CHILD,
            mode,
            str(steps),
            env_id,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True,
    )
    return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--env", nargs="*", default=list(muscle_envs.ENV_IDS), help="env ids (default: all)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    print("| env | instructions per env step | per raw physics step | overhead | share |")
    print("|---|---|---|---|---|")
    for env_id in args.env:
        jobs = [("env", 0, env_id), ("env", args.steps, env_id), ("raw", args.steps, env_id)]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            base, env, raw = pool.map(lambda job: instructions(*job), jobs)
        per_env, per_raw = (env - base) / args.steps, (raw - base) / args.steps
        print(
            f"| {env_id} | {per_env:,.0f} | {per_raw:,.0f} | {per_env - per_raw:,.0f} | "
            f"{per_raw / per_env:.3f} |"
        )


if __name__ == "__main__":
    main()
