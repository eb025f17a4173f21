"""Analyses of trained runs (muscle_analysis through ``evaluate.py RUN --analysis``), collected for
bench/RESULTS.md.

    python bench/analysis.py arm_ppo=logs/analysis/arm_ppo arm_sensory_lstm=logs/analysis/arm_sensory_lstm
    python bench/analysis.py student=logs/bench/multitask_distill_... --env_kwargs test=true --episodes 64

Each NAME=RUN_DIR is analysed into logs/bench/analysis/NAME/ (its recording, analysis.json, figures);
the analysis.json goes into bench/results/analysis.json under NAME (replaced when rerun, with the
command and run), and the figures (all, or those named with --figures) into bench/figures/analysis/NAME/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "analysis.json"
FIGURES = ROOT / "bench" / "figures" / "analysis"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN_DIR", help="runs to analyse, each under a name")
    parser.add_argument("--episodes", type=int, default=32, help="episodes recorded per run")
    parser.add_argument("--env_kwargs", nargs="*", default=[], metavar="KEY=VALUE", help="env options")
    parser.add_argument(
        "--figures",
        nargs="*",
        default=None,
        metavar="NAME",
        help="the figures to keep (default: all), e.g. kinematics",
    )
    args = parser.parse_args()
    runs = {}
    for item in args.runs:
        name, sep, run_dir = item.partition("=")
        if not sep or not name or not Path(run_dir).is_dir():
            parser.error(f"{item!r}: give NAME=RUN_DIR with an existing run directory")
        runs[name] = Path(run_dir).resolve()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for name, run_dir in runs.items():
        out = ROOT / "logs" / "bench" / "analysis" / name
        shutil.rmtree(out, ignore_errors=True)
        extra = ["--env_kwargs", *args.env_kwargs] if args.env_kwargs else []
        command = [str(run_dir), "--episodes", "1", "--analysis", str(out)]
        command += ["--analysis_episodes", str(args.episodes), *extra]
        subprocess.run([sys.executable, "-m", "muscle_train", "evaluate", *command], cwd=ROOT, check=True)
        analysis = json.loads((out / "analysis.json").read_text())
        shown = " ".join(["python evaluate.py", *command]).replace(str(ROOT) + "/", "")
        results[name] = {"run_dir": os.path.relpath(run_dir, ROOT), "command": shown, **analysis}
        figures = FIGURES / name
        shutil.rmtree(figures, ignore_errors=True)
        figures.mkdir(parents=True)
        for figure in analysis["figures"]:
            if args.figures is None or figure.removesuffix(".png") in args.figures:
                shutil.copy(out / figure, figures / figure)
        RESULTS.write_text(json.dumps(results, indent=1))
        print(f"{name}: {', '.join(analysis['figures'])} -> {figures.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
