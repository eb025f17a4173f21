"""The start posture and path scale of MuscleArmMultiTask-v0: the largest one factor for seed 004's
paths (0.25 m) that keeps every point of every task, in all 32 test directions, ``--margin`` rad
inside both joints' limits, and the posture that allows it (a grid search, then a finer one).

usage: python scripts/fit_multitask_posture.py [--margin 0.1]
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import muscle_envs  # noqa: F401  (registers the ids)
from muscle_envs.arm_multitask import FULL_TIMES, HALF_TIMES, TASKS


def fits(env, shapes: list[np.ndarray], posture: tuple[float, float], scale: float, margin: float) -> bool:
    """Whether every point of ``shapes`` (relative to the start, scale 1) is reachable ``margin``
    inside the joint limits from ``posture`` at ``scale``."""
    plant = env.plant
    if not plant.within_joint_range(*posture, margin):
        return False
    start = np.asarray(plant.forward_kinematics(*posture))
    for points in shapes:
        world = start + scale * points
        if any(plant.inverse_kinematics(x, z, margin) is None for x, z in world):
            return False
    return True


def largest_scale(
    env, shapes: list[np.ndarray], posture: tuple[float, float], margin: float, low: float
) -> float:
    """The largest scale that :func:`fits` (bisection), or 0 if not even ``low`` does."""
    low = max(low, 0.05)
    if not fits(env, shapes, posture, low, margin):
        return 0.0
    high = 1.0
    for _ in range(20):
        middle = (low + high) / 2
        low, high = (middle, high) if fits(env, shapes, posture, middle, margin) else (low, middle)
    return low


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--margin", type=float, default=0.1, help="distance from the joint limits, rad")
    args = parser.parse_args()
    env = gym.make("MuscleArmMultiTask-v0", test=True, path_scale=1.0).unwrapped
    shapes = []  # every task's points relative to the start at scale 1, all 32 directions
    for task in TASKS:
        steps = (FULL_TIMES if task.full else HALF_TIMES)[0]
        for direction in range(32):
            shapes.append(env.path(task.name, direction, steps) - np.asarray(env.start_hand))
    best = (0.0, (0.0, 0.0))
    for shoulder in np.linspace(-1.2, 1.2, 25):
        for elbow in np.linspace(0.3, 2.3, 21):
            scale = largest_scale(env, shapes, (shoulder, elbow), args.margin, best[0])
            best = max(best, (scale, (float(shoulder), float(elbow))))
    shoulder0, elbow0 = best[1]
    for shoulder in np.linspace(shoulder0 - 0.1, shoulder0 + 0.1, 11):
        for elbow in np.linspace(elbow0 - 0.1, elbow0 + 0.1, 11):
            scale = largest_scale(env, shapes, (shoulder, elbow), args.margin, best[0])
            best = max(best, (scale, (float(shoulder), float(elbow))))
    scale, (shoulder, elbow) = best
    print(f"largest path_scale {scale:.3f} (R = {0.25 * scale:.4f} m)")
    print(f"at start_posture ({shoulder:.3f}, {elbow:.3f}) rad")


if __name__ == "__main__":
    main()
