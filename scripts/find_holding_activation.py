"""Find a constant muscle activation that holds the MyoLeg's standing pose for 0.5 s.

    python scripts/find_holding_activation.py   # ~1 min; writes muscle_envs/data/<model>_holding_...json

The standing body is an inverted pendulum: zero activation collapses it and a uniform one tips it
over. Muscles are grouped by function (the coordinate each one acts on most, and the direction), and
a cross-entropy search (fixed seed: reproducible) tunes one activation level per group to keep the
pelvis height within 2 cm and its tilt small, with both feet loaded, at 0.25 s and 0.5 s after a
start from the standing pose. The result is open-loop and short-lived by nature; it is a documented
starting point (tests/test_legs_stand.py checks it), not a controller.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mujoco
import numpy as np

from muscle_envs.plants.legs import HOLDING_ACTIVATION_FILE, LegsPlant


def functional_groups(plant: LegsPlant) -> list[list[int]]:
    """Muscles grouped by (coordinate they act on most, sign of that action) at the standing pose."""
    model, data = plant.model, plant.data
    plant.set_state(plant.standing_qpos)
    moment = np.zeros((model.nu, model.nv))
    mujoco.mju_sparse2dense(
        moment, data.actuator_moment, data.moment_rownnz, data.moment_rowadr, data.moment_colind
    )
    arms = -moment[plant.muscle_ids][:, [model.joint(j).dofadr[0] for j in plant.coordinates]]
    dominant = np.argmax(np.abs(arms), axis=1)
    groups: dict[tuple[int, float], list[int]] = {}
    for muscle, coordinate in enumerate(dominant):
        groups.setdefault((int(coordinate), float(np.sign(arms[muscle, coordinate]))), []).append(muscle)
    return [groups[key] for key in sorted(groups)]


def drift(plant: LegsPlant, activation: np.ndarray) -> float:
    """Worst of (height change / 2 cm + tilt / 0.05 rad + 10 if a foot is unloaded) at 0.25 and 0.5 s."""
    plant.set_state(plant.standing_qpos, activation=activation)
    start, worst = plant.pelvis_height(), 0.0
    for step in range(1, 51):
        plant.step(activation)
        if step in (25, 50):
            unloaded = float(np.any(plant.foot_load() < 0.1))
            worst = max(
                worst, abs(plant.pelvis_height() - start) / 0.02 + plant.pelvis_tilt() / 0.05 + 10 * unloaded
            )
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="myolegs")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--population", type=int, default=32)
    args = parser.parse_args()
    plant = LegsPlant(args.model)
    groups = functional_groups(plant)

    def activation_of(levels: np.ndarray) -> np.ndarray:
        activation = np.zeros(plant.n_muscles)
        for level, members in zip(levels, groups, strict=True):
            activation[members] = level
        return activation

    rng = np.random.default_rng(0)
    mean, std = np.full(len(groups), 0.15), np.full(len(groups), 0.1)
    for iteration in range(args.iterations):
        samples = np.clip(rng.normal(mean, std, (args.population, len(groups))), 0.0, 1.0)
        scores = np.array([drift(plant, activation_of(s)) for s in samples])
        elite = samples[np.argsort(scores)[: args.population // 4]]
        mean, std = elite.mean(axis=0), elite.std(axis=0) + 0.01
        print(f"iteration {iteration}: best {scores.min():.2f}, median {np.median(scores):.2f}", flush=True)
    activation = activation_of(mean)
    print(f"final drift score {drift(plant, activation):.2f}")
    path = Path(HOLDING_ACTIVATION_FILE.format(model=args.model))
    path.write_text(
        json.dumps(dict(zip(plant.muscle_names, np.round(activation, 4).tolist(), strict=True)), indent=1)
        + "\n"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
