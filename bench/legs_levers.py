"""The legs' training levers side by side: the periodic evaluations (10 episodes) of each lever's run,
mean stand length and success against env steps, stopped runs included (their curve so far).

    python bench/legs_levers.py          # the latest run of each legs setting under logs/bench/
                                         # (the others keep their recorded curves)
    python bench/legs_levers.py --plot   # redraw from bench/results/legs_levers.json

Each finished PPO run's final model is also measured for saturation: how much of its action mean
lies outside the action range [-1, 1], where the env clips it (``saturation``); the shipped standing
baseline (a run of the defaults) stands in for ``legs``.

The curves are kept in bench/results/legs_levers.json (a run's directory is not kept in the
repository); the figure is bench/figures/legs_levers.png. ``legs`` (today's defaults) comes from
bench/results/learning.json. Each run is ``python bench/learning.py SETTING`` (see there).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from muscle_train import evaluation, rundir  # noqa: E402
from muscle_train.pretrained import baseline_dir  # noqa: E402

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
    "legs_mb256": "minibatches of 256 (4x the gradient steps)",
    "legs_seed003": "seed 003's update: 2048 x 8 samples, minibatches of 64 (16x)",
    "legs_seed003_adv": "seed 003's advanced: 16 envs x 2048, minibatches of 128, rate 1e-4",
    "legs_sde": "state-dependent exploration (gSDE), resampled every 4 steps",
    "legs_obs": "seed 003's observation: joints, pelvis, feet, activations (123 of 363)",
    "legs_sac": "SAC, 8 envs, a gradient step per 4 env steps",
    "legs_bounded": "the action mean kept in [-1, 1] (tanh)",
}


def collect() -> dict[str, dict]:
    """Each lever's latest run (seed 0): its curve, and whether it reached its last step. A lever
    with no run under logs/bench/ (run in another checkout) keeps its recorded curve."""
    curves: dict[str, dict] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    recorded = json.loads((ROOT / "bench" / "results" / "learning.json").read_text())
    if "legs" in recorded:
        curves["legs"] = {"curve": recorded["legs"]["curve"], "run_dir": recorded["legs"]["run_dir"]}
        curves["legs"]["saturation"] = saturation(baseline_dir("MyoLegsStand-v0"))
    for setting in LEVERS:
        runs = sorted((ROOT / "logs" / "bench").glob(f"{setting}_seed0_2*"))
        if not runs:
            continue
        rows = rundir.read_csv(runs[-1] / rundir.EVALUATIONS_FILE)
        keep = ("step", "success_rate", "mean_episode_length")
        finished = (runs[-1] / "evaluation_final.json").is_file()
        curves[setting] = {
            "curve": [{key: float(row[key]) for key in keep} for row in rows],
            "run_dir": str(runs[-1].relative_to(ROOT)),
            "finished": finished,
            "updates": update_sizes(runs[-1]),
            "saturation": saturation(runs[-1]) if finished else None,
        }
    return curves


SATURATION_ENVS, SATURATION_STEPS, SATURATION_SEED = 4, 250, 12345


def saturation(run_dir: Path) -> dict[str, float] | None:
    """How much of a PPO model's action mean lies outside the action range [-1, 1] (a muscle the env
    then saturates, whatever the mean does next), over 4 episodes' first 250 steps with sampled
    actions as in training: the fraction of (step, muscle) means outside, the fraction of muscles
    whose mean |mean| is above 1, and the largest |mean|. None for other algorithms."""
    config = rundir.load_config(run_dir)
    if config.algo != "ppo":
        return None
    venv, model = evaluation.build(evaluation.run_source(run_dir), SATURATION_ENVS, SATURATION_SEED)
    space, obs, means = venv.action_space, venv.reset(), []
    for _ in range(SATURATION_STEPS):
        with torch.no_grad():
            distribution = model.policy.get_distribution(model.policy.obs_to_tensor(obs)[0])
        means.append(distribution.distribution.mean.numpy())
        action = distribution.get_actions().numpy()  # sampled, clipped as predict() clips them
        obs, *_ = venv.step(np.clip(action, space.low, space.high))
    venv.close()
    size = np.abs(np.concatenate(means))  # (steps x envs, muscles)
    return {
        "outside": float((size > 1).mean()),
        "muscles_outside": float((size.mean(axis=0) > 1).mean()),
        "largest": float(size.max()),
    }


def update_sizes(run_dir: Path) -> dict[str, list[float]]:
    """PPO's approx. KL and clip fraction per update (TensorBoard's record): min, median, max."""
    sizes: dict[str, list[float]] = {}
    for log in sorted((run_dir / rundir.TENSORBOARD_DIR).iterdir()):  # one folder per (resumed) leg
        events = EventAccumulator(str(log))
        events.Reload()
        for tag in ("train/approx_kl", "train/clip_fraction"):
            if tag in events.Tags()["scalars"]:
                sizes.setdefault(tag, []).extend(event.value for event in events.Scalars(tag))
    return {tag.split("/")[1]: [float(f(v)) for f in (np.min, np.median, np.max)] for tag, v in sizes.items()}


def plot(curves: dict[str, dict]) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    for i, (setting, entry) in enumerate(curves.items()):
        steps = [row["step"] / 1e6 for row in entry["curve"]]
        stopped = not entry.get("finished", True)
        label = f"{setting}: {LEVERS.get(setting, '')}" + (" (stopped)" if stopped else "")
        style = {"marker": "o", "ms": 3, "color": plt.cm.tab20(i % 20), "ls": "--" if stopped else "-"}
        axes[0].plot(steps, [row["mean_episode_length"] / 100 for row in entry["curve"]], **style)
        axes[1].plot(steps, [100 * row["success_rate"] for row in entry["curve"]], label=label, **style)
    axes[0].set(
        xlabel="env steps (millions)", ylabel="mean time standing (s; 10 = the whole episode)", ylim=(0, 10.5)
    )
    axes[1].set(xlabel="env steps (millions)", ylabel="stood the full 10 s (%)", ylim=(-2, 102))
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.legend(fontsize=7.5, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(
        "MyoLegsStand-v0, PPO: periodic evaluations (10 episodes) of each lever, seed 0", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.05 + 0.025 * ((len(curves) + 1) // 2), 1, 1))
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
