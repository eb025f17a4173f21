"""Learning benchmarks: train with train_sb3.py's defaults, evaluate, and plot the learning curves.

    python bench/learning.py arm                 # PPO-MLP on MuscleArmReach-v0 (goal: >= 95% in <= 10 min)
    python bench/learning.py arm_proprioception  # the same with vision=False
    python bench/learning.py arm_sensory_lstm    # RecurrentPPO, sensory_lstm (goal: >= 90% in <= 45 min)
    python bench/learning.py legs                # PPO on MyoLegsStand-v0 (goal: >= 80% stand, <= 3M steps)
    python bench/learning.py --plot              # only redraw the figure from the recorded runs
    python bench/learning.py arm --quick         # a few thousand steps: checks the pipeline (CI)

Each setting runs ``train_sb3.py`` as a user would (its run directory goes under logs/bench/), times
it, then runs ``evaluate.py RUN --episodes 100`` (deterministic). Results: bench/results/learning.json
(one entry per setting, replaced when it is rerun; the final and the best model are each
evaluated); the curves (periodic evaluations, success rate
against env steps and against wall-clock minutes): bench/figures/learning_curves.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository root, for run_utils.py
import run_utils  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FIGURES = ROOT / "bench" / "figures"
SETTINGS: dict[str, dict] = {
    "arm": {"args": ["--env", "MuscleArmReach-v0"], "goal": "success >= 95% in <= 10 min"},
    "arm_proprioception": {
        "args": ["--env", "MuscleArmReach-v0", "--env_kwargs", "vision=false"],
        "goal": "reported beside arm",
    },
    "arm_sensory_lstm": {
        "args": ["--env", "MuscleArmReach-v0", "--algo", "recurrent_ppo", "--policy", "sensory_lstm"],
        "goal": "success >= 90% in <= 45 min",
    },
    "legs": {"args": ["--env", "MyoLegsStand-v0"], "goal": ">= 80% stand 1000 steps after <= 3M steps"},
}


def run(name: str, quick: bool) -> dict:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = ROOT / "logs" / "bench" / f"{name}{'_quick' if quick else ''}_{stamp}"
    args = [*SETTINGS[name]["args"], "--run_dir", str(run_dir), "--no_progress"]
    if quick:
        quick_file = run_dir.parent / "quick_hyperparams.yml"
        quick_file.parent.mkdir(parents=True, exist_ok=True)
        quick_file.write_text("n_steps: 256\nbatch_size: 256\neval_freq: 1024\nn_eval_episodes: 2\n")
        args += ["--total_timesteps", "2048", "--n_envs", "2", "--hyperparams", str(quick_file)]
    start = time.monotonic()
    subprocess.run([sys.executable, "train_sb3.py", *args], cwd=ROOT, check=True)
    train_seconds = time.monotonic() - start
    evaluation, best = (evaluate(run_dir, which, quick) for which in ("final", "best"))
    return {
        "setting": name,
        "goal": SETTINGS[name]["goal"],
        "command": "python train_sb3.py " + " ".join(SETTINGS[name]["args"]),
        "run_dir": str(run_dir.relative_to(ROOT)),
        "train_minutes": round(train_seconds / 60, 2),
        "evaluation": evaluation,
        "best_evaluation": best,
        "curve": read_curve(run_dir),
    }


def evaluate(run_dir: Path, which: str, quick: bool) -> dict:
    """evaluate.py on the run's final or best model (the best periodic evaluation's checkpoint)."""
    out = run_dir / f"evaluation_{which}.json"
    episodes = "4" if quick else "100"
    command = [
        sys.executable,
        "evaluate.py",
        str(run_dir),
        "--load",
        which,
        "--episodes",
        episodes,
        "--json",
        str(out),
    ]
    subprocess.run(command, cwd=ROOT, check=True)
    return json.loads(out.read_text())


def read_curve(run_dir: Path) -> list[dict]:
    keep = ("step", "wall_time_s", "success_rate", "mean_reward", "mean_episode_length")
    rows = run_utils.read_csv(run_dir / run_utils.EVALUATIONS_FILE)
    return [{key: float(row[key]) for key in keep} for row in rows]


def plot(entries: dict[str, dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2 + 0.25 * len(entries)))
    for i, (name, entry) in enumerate(entries.items()):
        curve = entry["curve"]
        if not curve:
            continue
        steps = [row["step"] / 1e6 for row in curve]
        minutes = [row["wall_time_s"] / 60 for row in curve]
        success = [100 * row["success_rate"] for row in curve]
        final = 100 * entry["evaluation"]["success_rate"]
        best = entry.get("best_evaluation")
        label = f"{name}: final {final:.0f}%"
        label += f", best model {100 * best['success_rate']:.0f}%" if best else ""
        label += f" of 100 episodes ({entry['train_minutes']:.0f} min)"
        axes[0].plot(steps, success, "o-", color=f"C{i}", ms=3, label=label)
        axes[1].plot(minutes, success, "o-", color=f"C{i}", ms=3)
    axes[0].set(xlabel="env steps (millions)", ylabel="evaluation success (%)", ylim=(-2, 102))
    axes[1].set(xlabel="wall-clock minutes of training (2 cores)", ylim=(-2, 102))
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.suptitle("periodic deterministic evaluations during training (train_sb3.py defaults)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05 * (len(entries) + 1) / 2, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def load(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.is_file() else {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("settings", nargs="*", help=f"what to train: {', '.join(SETTINGS)} (default arm)")
    parser.add_argument("--quick", action="store_true", help="a tiny budget, to check the pipeline")
    parser.add_argument("--plot", action="store_true", help="only redraw the figure")
    args = parser.parse_args()
    unknown = sorted(set(args.settings) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown setting(s) {unknown}; known: {sorted(SETTINGS)}")
    suffix = "_quick" if args.quick else ""
    results_path = RESULTS / f"learning{suffix}.json"
    for name in [] if args.plot else args.settings or ["arm"]:
        entry = run(name, args.quick)
        entries = load(results_path)  # again: another setting may have finished in the meantime
        entries[name] = entry
        results_path.parent.mkdir(exist_ok=True)
        results_path.write_text(json.dumps(entries, indent=2))
        evaluation = entries[name]["evaluation"]
        print(
            f"{name}: {evaluation['success_rate']:.0%} success over {evaluation['n_episodes']} episodes, "
            f"{entries[name]['train_minutes']:.1f} min of training"
        )
    plot(load(results_path), FIGURES / f"learning_curves{suffix}.png")


if __name__ == "__main__":
    main()
