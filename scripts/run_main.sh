#!/usr/bin/env bash
# Set up (scripts/setup.sh), train PPO on MuscleArmReach-v0 with the defaults, and evaluate the run.
# Extra arguments go to the trainer (muscle-train, e.g. --total_timesteps 2000000 --n_envs 16).
# PYTHON picks the interpreter (default python3); RUN_DIR the run directory (default
# logs/MuscleArmReach-v0/quickstart_<date>-<time>).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=${PYTHON:-python3}
run_dir=${RUN_DIR:-"logs/MuscleArmReach-v0/quickstart_$(date +%Y%m%d-%H%M%S)"}
# python -m muscle_train train / evaluate: muscle-train / muscle-evaluate of this very interpreter.
"$PY" -m muscle_train train --run_dir "$run_dir" "$@"
"$PY" -m muscle_train evaluate "$run_dir" --episodes 100 --json "$run_dir/evaluation.json"
