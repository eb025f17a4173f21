"""What does a standing policy's exploration noise do for the body? Several policies stand with
sampled actions and not with their mean alone (bench/RESULTS.md: ``legs_bounded`` 70% vs 0%,
``legs_std_decay_lin`` 84% vs 20%). This runs a trained PPO policy's Gaussian in ways that separate
the candidate explanations:

    mean          the mean alone (what ``evaluate.py`` runs by default)
    sampled       mean + std * noise drawn every step, clipped (training's actions)
    half_std      the same with half the std
    held_noise    noise drawn once per episode and held: the same average offsets, no variation in time
    clipped_mean  E[clip(mean + std * noise)] at each step, in closed form: the average excitation
                  the env receives under the noise (clipping raises a muscle whose mean is near its
                  lower end), without the noise
    mean_offset   the mean plus a constant ``--offset`` (policy action units; 0.04 is +0.02 of every
                  muscle's excitation): no noise, but the higher activation that noise brings, as
                  MuJoCo's muscles activate 4x faster (10 ms) than they relax (40 ms), so an
                  excitation varying about its mean holds the activation above it

    python bench/legs_noise.py RUN_DIR [RUN_DIR ...] [--episodes 50] [--offset 0.04] [--modes mean ...]

Prints and writes bench/results/legs_noise.json: success, mean time standing and effort (mean
activation^2) per mode (the modes run replace theirs in the run's entry, the others stay).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.distributions import Normal

from muscle_train import evaluation, rollouts

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "legs_noise.json"
SEED = 12345
N_ENVS = 8
MODES = ("mean", "sampled", "half_std", "held_noise", "clipped_mean", "mean_offset")


class NoisyGaussian:
    """A PPO model's Gaussian policy run in one of ``MODES``; SB3's ``predict`` interface."""

    def __init__(self, model: Any, mode: str, n_envs: int, seed: int, offset: float = 0.0):
        self.model, self.mode, self.offset = model, mode, offset
        self.rng = np.random.default_rng(seed)
        self.held = self.rng.standard_normal((n_envs, model.action_space.shape[0]))

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        with torch.no_grad():
            gaussian = self.model.policy.get_distribution(
                self.model.policy.obs_to_tensor(obs)[0]
            ).distribution
        mean, std = gaussian.mean.numpy(), gaussian.stddev.numpy()
        if episode_start is not None and episode_start.any():
            self.held[episode_start] = self.rng.standard_normal(self.held[episode_start].shape)
        if self.mode == "mean":
            action = mean
        elif self.mode == "sampled":
            action = mean + std * self.rng.standard_normal(mean.shape)
        elif self.mode == "half_std":
            action = mean + 0.5 * std * self.rng.standard_normal(mean.shape)
        elif self.mode == "held_noise":
            action = mean + std * self.held
        elif self.mode == "mean_offset":
            action = mean + self.offset
        else:
            action = clipped_mean(mean, std)
        return np.clip(action, -1.0, 1.0), state


def clipped_mean(mean: np.ndarray, std: np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """E[clip(X, low, high)] for X ~ N(mean, std^2)."""
    unit = Normal(0.0, 1.0)
    a, b = (torch.as_tensor((bound - mean) / std) for bound in (low, high))
    cdf_a, cdf_b = unit.cdf(a), unit.cdf(b)
    pdf_a, pdf_b = unit.log_prob(a).exp(), unit.log_prob(b).exp()
    m, s = torch.as_tensor(mean), torch.as_tensor(std)
    return (low * cdf_a + high * (1 - cdf_b) + m * (cdf_b - cdf_a) + s * (pdf_a - pdf_b)).numpy()


def measure(run_dir: Path, episodes: int, offset: float, modes: list[str]) -> dict[str, dict[str, float]]:
    venv, model = evaluation.build(evaluation.run_source(run_dir), N_ENVS, SEED)
    results = {}
    for mode in modes:
        venv.seed(SEED)  # the same episodes for every mode
        policy = NoisyGaussian(model, mode, N_ENVS, SEED, offset)
        summary = rollouts.summarize(rollouts.run_episodes(policy, venv, episodes))
        results[mode] = {
            "success_rate": summary["success_rate"],
            "stand_duration": summary.get("task/stand_duration", float("nan")),
            "effort": summary.get("task/effort", float("nan")),
        }
        print(
            f"{run_dir.name} {mode:>12}: {results[mode]['success_rate']:.0%}, "
            f"{results[mode]['stand_duration']:.2f} s, effort {results[mode]['effort']:.3f}"
        )
    venv.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="PPO run directories (or shipped baselines)")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--offset", type=float, default=0.04, help="mean_offset's (action units)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args()
    for run_dir in args.runs:
        result = measure(run_dir, args.episodes, args.offset, args.modes)
        recorded = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}  # (read again: runs of
        entry = recorded.setdefault(str(run_dir), {})  # this script side by side each add theirs)
        if entry.get("episodes", args.episodes) != args.episodes:
            entry.clear()  # (modes compared on different episodes: start the entry afresh)
        entry.update(episodes=args.episodes, **result)
        if "mean_offset" in args.modes:
            entry["offset"] = args.offset
        RESULTS.write_text(json.dumps(recorded, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
