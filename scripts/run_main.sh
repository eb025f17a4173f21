#!/usr/bin/env bash
# Set up (scripts/setup.sh), train PPO on MuscleArmReach-v0 with the defaults, and evaluate the run.
# Extra arguments go to train_sb3.py (e.g. --total_timesteps 2000000 --n_envs 16).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=${PYTHON:-python3}
run_dir="logs/MuscleArmReach-v0/quickstart_$(date +%Y%m%d-%H%M%S)"
"$PY" train_sb3.py --run_dir "$run_dir" "$@"
"$PY" evaluate.py "$run_dir" --episodes 100 --json "$run_dir/evaluation.json"
