"""Why the arm's physics step is 2 ms: accuracy against cost, timestep by timestep.

    python bench/timestep.py            # 8 movements per timestep (~1 min)
    python bench/timestep.py --quick    # 2 movements

Drives each arm model for 1 s with random excitations held for 10 ms (the control step; squared
uniform values, so movements are fast and hit the joint limits) at several physics timesteps, and
compares the hand path with a 0.125 ms reference run on the same excitations. Reports the largest
hand-position error (mm) over the movements and the cost (wall-clock us per simulated 10 ms).
Writes bench/results/timestep.json and bench/figures/timestep.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import mujoco
import numpy as np
from results_io import save_results

from muscle_envs.calibration import compile_calibrated
from muscle_envs.resources import asset_path

HERE = Path(__file__).resolve().parent
TIMESTEPS = [0.004, 0.002, 0.001, 0.0005]
REFERENCE = 0.000125
CONTROL_DT = 0.01


def hand_path(model: mujoco.MjModel, timestep: float, excitations: np.ndarray) -> tuple[np.ndarray, float]:
    """Hand (x, z) after each control step, and wall-clock seconds per control step."""
    model.opt.timestep = timestep
    data = mujoco.MjData(model)
    data.qpos[:] = (-0.5, 0.8)
    mujoco.mj_forward(model, data)
    substeps = int(round(CONTROL_DT / timestep))
    hand = model.site("hand").id
    path = np.empty((len(excitations), 2))
    start = time.perf_counter()
    for k, u in enumerate(excitations):
        data.ctrl[:] = u
        mujoco.mj_step(model, data, nstep=substeps)
        path[k] = data.site_xpos[hand][[0, 2]]
    return path, (time.perf_counter() - start) / len(excitations)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    movements = 2 if args.quick else 8
    results = {}
    for name in ("arm4", "arm6"):
        model = compile_calibrated(asset_path(name))
        rng = np.random.default_rng(0)
        runs = [rng.uniform(0, 1, (100, model.nu)) ** 2 for _ in range(movements)]
        reference = [hand_path(model, REFERENCE, u)[0] for u in runs]
        rows = []
        for dt in TIMESTEPS:
            errors, costs = [], []
            for u, ref in zip(runs, reference, strict=True):
                path, cost = hand_path(model, dt, u)
                errors.append(np.max(np.linalg.norm(path - ref, axis=1)) * 1000)
                costs.append(cost * 1e6)
            rows.append(
                {
                    "timestep_ms": dt * 1000,
                    "max_error_mm": max(errors),
                    "median_error_mm": float(np.median(errors)),
                    "us_per_control_step": float(np.median(costs)),
                }
            )
        results[name] = rows

    print("| model | timestep (ms) | hand error, median / max (mm) | cost per 10 ms (us) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        for r in rows:
            print(
                f"| {name} | {r['timestep_ms']:g} | {r['median_error_mm']:.1f} / {r['max_error_mm']:.1f} | "
                f"{r['us_per_control_step']:.0f} |"
            )
    save_results("timestep", args.quick, results)
    suffix = "_quick" if args.quick else ""

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, rows in results.items():
        ax.plot(
            [r["timestep_ms"] for r in rows], [r["max_error_mm"] for r in rows], "o-", label=f"{name}, max"
        )
        ax.plot(
            [r["timestep_ms"] for r in rows],
            [r["median_error_mm"] for r in rows],
            "x--",
            label=f"{name}, median",
        )
    ax.axhline(30, color="grey", lw=0.8, ls=":")
    ax.text(0.5, 32, "reach radius (30 mm)", color="grey", fontsize=8)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="physics timestep (ms)",
        ylabel="hand error after 1 s (mm)",
        title=f"vs {REFERENCE * 1000:g} ms reference, random excitation",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    (HERE / "figures").mkdir(exist_ok=True)
    fig.savefig(HERE / "figures" / f"timestep{suffix}.png", dpi=120)
    print(f"wrote bench/figures/timestep{suffix}.png")


if __name__ == "__main__":
    main()
