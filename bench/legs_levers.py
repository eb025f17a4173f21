"""The legs' training levers side by side: the periodic evaluations (10 episodes) of each lever's run,
mean stand length and success against env steps, stopped runs included (their curve so far).

    python bench/legs_levers.py          # the latest run of each legs setting under logs/bench/
    python bench/legs_levers.py --plot   # redraw from bench/results/legs_levers.json

The curves are kept in bench/results/legs_levers.json (a run's directory is not kept in the
repository); the figure is bench/figures/legs_levers.png. ``legs`` (today's defaults) comes from
bench/results/learning.json. Each run is ``python bench/learning.py SETTING`` (see there).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from muscle_train import rundir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "legs_levers.json"
FIGURE = ROOT / "bench" / "figures" / "legs_levers.png"
LEVERS = {  # setting -> what it changes from the defaults
    "legs": "defaults (action mean at excitation 0.5)",
    "legs_lin": "learning rate decaying linearly",
    "legs_holding": "action mean at the holding excitation",
    "legs_holding_lin": "holding, learning rate decaying",
    "legs_holding_kl": "holding, decaying, KL target 0.05",
    "legs_fast": "16 envs, batch 2048, 5 epochs, decaying",
    "legs_std2": "exploration noise std e^-2, decaying",
}


def collect() -> dict[str, dict]:
    """Each lever's latest run (seed 0): its curve, and whether it reached its last step."""
    curves: dict[str, dict] = {}
    recorded = json.loads((ROOT / "bench" / "results" / "learning.json").read_text())
    if "legs" in recorded:
        curves["legs"] = {"curve": recorded["legs"]["curve"], "run_dir": recorded["legs"]["run_dir"]}
    for setting in LEVERS:
        runs = sorted((ROOT / "logs" / "bench").glob(f"{setting}_seed0_2*"))
        if not runs:
            continue
        rows = rundir.read_csv(runs[-1] / rundir.EVALUATIONS_FILE)
        keep = ("step", "success_rate", "mean_episode_length")
        curves[setting] = {
            "curve": [{key: float(row[key]) for key in keep} for row in rows],
            "run_dir": str(runs[-1].relative_to(ROOT)),
            "finished": (runs[-1] / "evaluation_final.json").is_file(),
        }
    return curves


def plot(curves: dict[str, dict]) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for i, (setting, entry) in enumerate(curves.items()):
        steps = [row["step"] / 1e6 for row in entry["curve"]]
        label = f"{setting}: {LEVERS.get(setting, '')}" + (
            "" if entry.get("finished", True) else " (stopped)"
        )
        axes[0].plot(
            steps, [row["mean_episode_length"] / 100 for row in entry["curve"]], "o-", ms=3, color=f"C{i}"
        )
        axes[1].plot(
            steps,
            [100 * row["success_rate"] for row in entry["curve"]],
            "o-",
            ms=3,
            color=f"C{i}",
            label=label,
        )
    axes[0].set(
        xlabel="env steps (millions)", ylabel="mean time standing (s; 10 = the whole episode)", ylim=(0, 10.5)
    )
    axes[1].set(xlabel="env steps (millions)", ylabel="stood the full 10 s (%)", ylim=(-2, 102))
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(
        "MyoLegsStand-v0, PPO: periodic evaluations (10 episodes) of each lever, seed 0", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(FIGURE, dpi=120)
    print(f"wrote {FIGURE}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plot", action="store_true", help="only redraw from the recorded curves")
    args = parser.parse_args()
    if not args.plot:
        RESULTS.write_text(json.dumps(collect(), indent=2))
    plot(json.loads(RESULTS.read_text()))


if __name__ == "__main__":
    main()
