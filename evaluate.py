"""Evaluate a trained policy: success rate, return, episode length and the task's own metrics.

    python evaluate.py RUN_DIR                         # the run's final model and normalizer
    python evaluate.py RUN_DIR --load best --episodes 200 --json results.json
    python evaluate.py RUN_DIR --video reach.mp4 --plots figures/
    python evaluate.py --model_path m.zip --env_normalize_path vec_normalize.pkl --env MuscleArmReach-v0

With RUN_DIR, the env is rebuilt from the run's config.yml exactly as training built it. Runs of
every train_sb3.py method load alike: SB3 algorithms, distilled students (RecurrentPPO models with
their own normalizer) and CMA-ES searches (models without a normalizer). In the
explicit form a config.yml beside the model is used if there is one; otherwise ``--env`` (and
``--env_kwargs``) say which env. The saved VecNormalize statistics are frozen (``training=False``)
and rewards are reported unnormalized; recurrent policies carry their state through each episode.
The policy's [-1, 1] actions are mapped onto the env's [0, 1] excitations (RescaleAction), as in
training.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

import run_utils

EVAL_ENVS = 10  # episodes run side by side (one process); results depend only on --seed


@dataclass(frozen=True)
class Source:
    """What to evaluate: the env (id, options, action range) and the files."""

    env: str
    env_kwargs: dict[str, Any]
    action_range: tuple[float, float] | None
    model_path: Path
    normalizer_path: Path | None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, nargs="?", help="a train_sb3.py run directory")
    parser.add_argument(
        "--load", choices=["final", "best"], default="final", help="which model of RUN_DIR (default final)"
    )
    parser.add_argument("--model_path", type=Path, default=None, help="explicit form: an SB3 model .zip")
    parser.add_argument("--env_normalize_path", type=Path, default=None, help="its VecNormalize .pkl")
    parser.add_argument("--env", default=None, help="env id, if no config.yml sits beside the model")
    parser.add_argument("--env_kwargs", nargs="*", default=[], metavar="KEY=VALUE", help="env options")
    parser.add_argument("--episodes", type=int, default=100, help="episodes to run")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--deterministic",
        dest="deterministic",
        action="store_true",
        default=True,
        help="mean action (default)",
    )
    mode.add_argument("--stochastic", dest="deterministic", action="store_false", help="sample actions")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the evaluation episodes")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--video", type=Path, default=None, metavar="OUT.mp4", help="render episodes to a video"
    )
    parser.add_argument("--video_episodes", type=int, default=3, help="episodes in the video")
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR", help="write analysis figures here")
    parser.add_argument("--plot_episodes", type=int, default=8, help="episodes in the figures")
    return parser.parse_args(argv)


def resolve_source(args: argparse.Namespace) -> Source:
    """The env and files to evaluate, from RUN_DIR or the explicit options."""
    if args.run_dir is not None and args.model_path is not None:
        raise run_utils.RunError("give either RUN_DIR or --model_path, not both")
    if args.run_dir is not None:
        config = run_utils.load_config(args.run_dir)
        model_path, normalizer_path = run_utils.run_files(args.run_dir, args.load, config)
    elif args.model_path is not None:
        model_path, normalizer_path = args.model_path, args.env_normalize_path
        beside = model_path.parent / run_utils.CONFIG_FILE
        config = run_utils.load_config(model_path.parent) if beside.is_file() else {}
        if not config and args.env is None:
            raise run_utils.RunError(
                f"no {run_utils.CONFIG_FILE} beside {model_path}: say which env with --env ID"
            )
    else:
        raise run_utils.RunError("give a RUN_DIR, or --model_path (with --env_normalize_path and --env)")
    env_id = args.env or config["env"]
    run_utils.check_env_id(env_id)
    env_kwargs = {**config.get("env_kwargs", {}), **run_utils.parse_env_kwargs(args.env_kwargs)}
    run_utils.check_env_options(env_id, env_kwargs)
    action_range = config.get("action_range", run_utils.POLICY_ACTION_RANGE)
    return Source(
        env_id, env_kwargs, tuple(action_range) if action_range else None, model_path, normalizer_path
    )


def build(
    source: Source, n_envs: int, seed: int, render_mode: str | None = None
) -> tuple[VecEnv, BaseAlgorithm]:
    """The evaluation envs (frozen normalizer) and the model, each checked against the other."""
    factory = lambda: run_utils.make_env(source.env, source.env_kwargs, source.action_range, render_mode)  # noqa: E731
    venv: VecEnv = DummyVecEnv([factory] * n_envs)
    if source.normalizer_path is not None:
        venv = run_utils.load_normalizer(source.normalizer_path, venv)
    venv.seed(seed)
    return venv, run_utils.load_model(source.model_path, venv)


def evaluate(source: Source, episodes: int, deterministic: bool = True, seed: int = 12345) -> dict[str, Any]:
    venv, model = build(source, min(EVAL_ENVS, episodes), seed)
    try:
        records = run_utils.run_episodes(model, venv, episodes, deterministic)
    finally:
        venv.close()
    return {
        "env": source.env,
        "model": str(source.model_path),
        "deterministic": deterministic,
        "seed": seed,
        **run_utils.summarize(records),
    }


def print_table(results: dict[str, Any]) -> None:
    mode = "deterministic" if results["deterministic"] else "stochastic"
    table = Table(title=f"{results['env']}: {results['n_episodes']} episodes, {mode} actions")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("success rate", f"{results['success_rate']:.1%}")
    table.add_row("return", f"{results['mean_reward']:.2f} ± {results['std_reward']:.2f}")
    table.add_row("episode length (steps)", f"{results['mean_episode_length']:.1f}")
    for key, value in results.items():
        if "/" in key:
            table.add_row(key, "n/a" if value is None else f"{value:.4g}")
    Console().print(table)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(1)
    try:
        if args.episodes < 1:
            raise run_utils.RunError("--episodes must be >= 1")
        source = resolve_source(args)
        results = evaluate(source, args.episodes, args.deterministic, args.seed)
        print_table(results)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(run_utils.plain(results), indent=2))
        if args.video:
            venv, model = build(source, 1, args.seed, render_mode="rgb_array")
            try:
                run_utils.record_video(model, venv, args.video, args.video_episodes, args.deterministic)
            finally:
                venv.close()
            print(f"video: {args.video}")
        if args.plots:
            import eval_plots  # matplotlib only when figures are wanted

            venv, model = build(source, 1, args.seed)
            try:
                written = eval_plots.write_all(
                    model, venv, args.plots, args.plot_episodes, args.deterministic
                )
            finally:
                venv.close()
            print("figures: " + ", ".join(str(path) for path in written))
    except run_utils.RunError as err:
        print(f"evaluate.py: error: {err}", file=sys.stderr)
        sys.exit(2)  # like argparse's usage errors
    return results


if __name__ == "__main__":
    main()
