"""Evaluate a trained policy: success rate, return, episode length and the task's own metrics.

    muscle-evaluate RUN_DIR                         # the run's final model and normalizer
    muscle-evaluate RUN_DIR --load best --episodes 200 --json results.json
    muscle-evaluate RUN_DIR --video reach.mp4 --plots figures/
    muscle-evaluate --pretrained MuscleArmReach-v0  # a baseline shipped with the package (--list_pretrained)
    muscle-evaluate RUN_DIR --analysis analysis/    # PCA, jPCA, subspaces, fixed points, decoding...
    muscle-evaluate --model_path m.zip --env_normalize_path vec_normalize.pkl --env MuscleArmReach-v0

(``python evaluate.py`` in the repository and ``python -m muscle_train evaluate`` take the same options.)
With RUN_DIR, the env is rebuilt from the run's config.yml exactly as training built it. Runs of
every training method load alike: SB3 algorithms, distilled students (RecurrentPPO models with
their own normalizer) and CMA-ES searches (models without a normalizer). In the explicit form a
config.yml beside the model is used if there is one; otherwise ``--env`` (and ``--env_kwargs``) say
which env. The saved VecNormalize statistics are frozen (``training=False``) and rewards are reported
unnormalized; recurrent policies carry their state through each episode. The policy's [-1, 1]
actions are mapped onto the env's [0, 1] excitations (RescaleAction), as in training. A run whose
env id no longer exists (a retired version) is refused with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from muscle_train import evaluation, pretrained
from muscle_train.cli import guarded, parse_env_kwargs
from muscle_train.config import RunError, plain


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, nargs="?", help="a training run directory")
    parser.add_argument(
        "--load",
        default="final",
        metavar="WHICH",
        help="which model of RUN_DIR: final (default), best, or a checkpoint's step count (e.g. 2250000)",
    )
    parser.add_argument(
        "--pretrained",
        default=None,
        metavar="NAME",
        help="a baseline shipped with the package (--list_pretrained)",
    )
    parser.add_argument("--list_pretrained", action="store_true", help="list the shipped baselines and exit")
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
    parser.add_argument(
        "--seed", type=int, default=evaluation.DEFAULT_SEED, help="seed of the evaluation episodes"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--video", type=Path, default=None, metavar="OUT.mp4", help="render episodes to a video"
    )
    parser.add_argument("--video_episodes", type=int, default=3, help="episodes in the video")
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR", help="write analysis figures here")
    parser.add_argument("--plot_episodes", type=int, default=8, help="episodes in the figures")
    parser.add_argument(
        "--analysis",
        type=Path,
        default=None,
        metavar="DIR",
        help="record episodes and analyse network and muscle activity (muscle_analysis) into DIR",
    )
    parser.add_argument("--analysis_episodes", type=int, default=32, help="episodes recorded for --analysis")
    parser.add_argument(
        "--trust",
        action="store_true",
        help="load files that only running their pickled code can restore (runs written before 0.2.0, a "
        "model without config.yml): only for files you trust (README, Security)",
    )
    return parser.parse_args(argv)


def source_of(args: argparse.Namespace) -> evaluation.Source:
    """The env and files to evaluate, from RUN_DIR or the explicit options."""
    env_kwargs = parse_env_kwargs(args.env_kwargs)
    if sum(x is not None for x in (args.run_dir, args.model_path, args.pretrained)) > 1:
        raise RunError("give one of RUN_DIR, --pretrained and --model_path")
    if args.pretrained is not None:
        return evaluation.run_source(pretrained.baseline_dir(args.pretrained), "final", args.env, env_kwargs)
    if args.run_dir is not None:
        return evaluation.run_source(args.run_dir, args.load, args.env, env_kwargs, args.trust)
    if args.model_path is not None:
        return evaluation.file_source(
            args.model_path, args.env_normalize_path, args.env, env_kwargs, args.trust
        )
    raise RunError("give a RUN_DIR, --pretrained NAME, or --model_path (with --env_normalize_path and --env)")


def list_pretrained() -> None:
    table = Table(title="baselines shipped with the package (--pretrained NAME)")
    for column in ("name", "env", "algo", "policy", "success", "reproduce"):
        table.add_column(column)
    for name, record in pretrained.baselines().items():
        success = f"{record['success_rate']:.0%} of {record['n_episodes']}"
        table.add_row(name, record["env"], record["algo"], record["policy"], success, record["reproduce"])
    Console().print(table)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.list_pretrained:
        list_pretrained()
        return None
    source = source_of(args)
    results = evaluation.evaluate(source, args.episodes, args.deterministic, args.seed)
    console = Console()
    console.print(evaluation.results_table(results))
    for table in evaluation.condition_tables(results):  # per task, per speed, ... where the env has them
        console.print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(plain(results), indent=2))
    if args.video:
        evaluation.write_video(source, args.video, args.video_episodes, args.deterministic, args.seed)
        print(f"video: {args.video}")
    if args.plots:
        written = evaluation.write_plots(
            source, args.plots, args.plot_episodes, args.deterministic, args.seed
        )
        print("figures: " + ", ".join(str(path) for path in written))
    if args.analysis:
        analysis = evaluation.write_analysis(
            source, args.analysis, args.analysis_episodes, args.deterministic, args.seed
        )
        print(f"analysis: {args.analysis / 'analysis.json'}; figures: {', '.join(analysis['figures'])}")
    return results


def main(argv: list[str] | None = None) -> None:
    """The console script: evaluate, or report a user error in one line (exit status 2). Returns None,
    which a console script's wrapper reads as exit status 0 (:func:`run` returns the results)."""
    args = parse_args(argv)
    torch.set_num_threads(1)
    guarded(Path(sys.argv[0]).name, lambda: run(args))


if __name__ == "__main__":
    main()
