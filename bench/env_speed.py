"""How much of env.step() is physics: the project's speed protocol, for every registered id.

    python bench/env_speed.py            # 30 repeats of 1000 steps per env id (~1 min)
    python bench/env_speed.py --quick    # 3 repeats of 300 steps (CI keeps it working)

For each id it alternates, in one process, chunks of ``env.step()`` on ``gym.make(id)`` (random
excitations, resetting at episode ends) with chunks of ``frame_skip`` raw ``mj_step`` calls on the
same model and the same kind of controls (shared/tools/physics_share.py's protocol, in shorter
interleaved chunks so that load on a shared machine hits both alike). Per repeat:
share = raw time / env time. Reports min/median/max of the share; the share of the fastest chunks
(fastest raw / fastest env: noise only ever slows a chunk down, so this is the least disturbed
figure); the Python overhead per step (median env - median raw, us); and simulated seconds per
wall-clock second. Writes bench/results/env_speed.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import mujoco
import numpy as np
from results_io import save_results

import muscle_envs


def chunk_timers(env_id: str, steps: int) -> tuple[gym.Env, Callable[[], float], Callable[[], float]]:
    """``(env, env_chunk, raw_chunk)``: each chunk times ``steps`` control steps and returns seconds per
    step, of ``env.step()`` on ``gym.make(env_id)`` (random excitations, resetting at episode ends),
    or of ``frame_skip`` raw ``mj_step`` calls on a scratch MjData of the same model with the same kind
    of controls, restarted from the env's current state every 200 steps."""
    env = gym.make(env_id)
    plant = env.unwrapped.plant
    model, data, frame_skip = plant.model, plant.data, plant.frame_skip
    rng = np.random.default_rng(0)
    actions = rng.uniform(0, 1, size=(4096, *env.action_space.shape)).astype(np.float32)
    scratch = mujoco.MjData(model)
    env.reset(seed=0)

    def env_chunk() -> float:
        start = time.perf_counter()
        for k in range(steps):
            _, _, terminated, truncated, _ = env.step(actions[k % 4096])
            if terminated or truncated:
                env.reset()
        return (time.perf_counter() - start) / steps

    def raw_chunk() -> float:
        scratch.qpos[:], scratch.qvel[:], scratch.act[:] = data.qpos, data.qvel, data.act
        start = time.perf_counter()
        for k in range(steps):
            scratch.ctrl[:] = actions[k % 4096]
            for _ in range(frame_skip):
                mujoco.mj_step(model, scratch)
            if k % 200 == 199:  # stay in the states the env visits
                scratch.qpos[:], scratch.qvel[:] = data.qpos, data.qvel
        return (time.perf_counter() - start) / steps

    return env, env_chunk, raw_chunk


def measure(env_id: str, repeats: int, steps: int) -> dict:
    env, env_chunk, raw_chunk = chunk_timers(env_id, steps)
    plant = env.unwrapped.plant
    env_chunk(), raw_chunk()  # warm up
    env_times, raw_times = [], []
    for _ in range(repeats):
        env_times.append(env_chunk())
        raw_times.append(raw_chunk())
    shares = sorted(r / e for r, e in zip(raw_times, env_times, strict=True))
    env_median, raw_median = statistics.median(env_times), statistics.median(raw_times)
    return {
        "env_id": env_id,
        "n_muscles": plant.n_muscles,
        "frame_skip": plant.frame_skip,
        "share_min": shares[0],
        "share_median": statistics.median(shares),
        "share_max": shares[-1],
        "share_fastest": min(raw_times) / min(env_times),
        "env_step_us": env_median * 1e6,
        "raw_physics_us": raw_median * 1e6,
        "overhead_us": (env_median - raw_median) * 1e6,
        "sim_seconds_per_wall_second": plant.dt / env_median,
        "repeats": repeats,
        "steps_per_repeat": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few short repeats (checks the script runs)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    repeats, steps = (3, 300) if args.quick else (args.repeats, args.steps)

    rows = [measure(env_id, repeats, steps) for env_id in muscle_envs.ENV_IDS]
    print(
        "| env | muscles | physics share min / median / max | fastest chunks | env step (us) "
        "| raw physics (us) | overhead (us) | sim s per wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['env_id']} | {r['n_muscles']} | {r['share_min']:.2f} / {r['share_median']:.2f} / "
            f"{r['share_max']:.2f} | {r['share_fastest']:.2f} | {r['env_step_us']:.1f} | "
            f"{r['raw_physics_us']:.1f} | {r['overhead_us']:.1f} | {r['sim_seconds_per_wall_second']:.0f} |"
        )
    machine = {
        "python": platform.python_version(),
        "mujoco": mujoco.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    save_results("env_speed", args.quick, {"machine": machine, "results": rows})


if __name__ == "__main__":
    main()
