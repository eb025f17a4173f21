"""Make a shipped baseline (muscle_train/baselines/NAME/) from a trained run directory.

    python scripts/export_pretrained.py logs/bench/arm_... MuscleArmReach-v0 \
        --reproduce "python bench/learning.py arm"
    python scripts/export_pretrained.py RUN MuscleArmReach-v0-sensory_lstm --load best --reproduce "..."

Copies the run's config.yml, the chosen model (as final_model.zip, without its optimizer's moments)
and its normalizer's JSON statistics (no pickles), evaluates it on --episodes deterministic episodes
(evaluate.py's default seed), and writes baseline.json with the success rate, the command that
reproduces the run, and where it came from. tests/test_pretrained.py holds every shipped baseline to
its recorded success.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import zipfile
from pathlib import Path

import torch

from muscle_train import evaluation, rundir
from muscle_train.config import plain
from muscle_train.pretrained import BASELINE_FILE, PRETRAINED


def without_optimizer_state(source: Path, target: Path) -> None:
    """Copy an SB3 model file, its optimizer's moments dropped (two thirds of an Adam-trained model's
    size; they matter only to continue training, which starts a transfer or a fine-tune afresh). Read
    with ``weights_only``: no pickled code runs."""
    with zipfile.ZipFile(source) as inside, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in inside.infolist():
            data = inside.read(item.filename)
            if item.filename == "policy.optimizer.pth":
                state = torch.load(io.BytesIO(data), weights_only=True)
                state["state"] = {}
                buffer = io.BytesIO()
                torch.save(state, buffer)
                data = buffer.getvalue()
            out.writestr(item.filename, data)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name", help="the baseline's name (an env id, optionally with -VARIANT)")
    parser.add_argument("--load", choices=["final", "best"], default="final")
    parser.add_argument("--reproduce", required=True, help="the command that trains this run")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    config = rundir.load_config(args.run_dir)
    model, normalizer = rundir.run_files(args.run_dir, args.load, config)
    out = PRETRAINED / args.name
    tmp = PRETRAINED / f".tmp-{args.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy(args.run_dir / rundir.CONFIG_FILE, tmp / rundir.CONFIG_FILE)
    without_optimizer_state(model, tmp / rundir.MODEL_FILE)
    if normalizer is not None:
        shutil.copy(rundir.statistics_path(normalizer), rundir.statistics_path(tmp / rundir.NORMALIZER_FILE))
    results = evaluation.evaluate(evaluation.run_source(tmp), args.episodes)
    record = {
        "name": args.name,
        "env": config.env,
        "algo": config.algo,
        "policy": config.policy,
        "success_rate": results["success_rate"],
        "n_episodes": results["n_episodes"],
        "seed": results["seed"],
        "reproduce": args.reproduce,
        "model": args.load,
        "total_timesteps": config.total_timesteps,
        "evaluation": {k: v for k, v in results.items() if "/" in k or k.startswith("mean")},
    }
    (tmp / BASELINE_FILE).write_text(json.dumps(plain(record), indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e3
    print(
        f"{out}: success {results['success_rate']:.0%} over {results['n_episodes']} episodes, {size:.0f} kB"
    )


if __name__ == "__main__":
    main()
