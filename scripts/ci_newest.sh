#!/usr/bin/env bash
# CI check "newest-versions": the newest dependencies that setup.cfg allows, without the lock, in a
# fresh virtual environment: torch==2.13.0 (the CPU build) first, then `pip install ".[train,sweep,test]"`.
# Importing muscle_envs must not import torch; every registered id passes Gymnasium's and SB3's
# check_env; a tiny PPO run trains (muscle-train) and evaluates (muscle-evaluate); a two-trial Optuna
# study runs, tracked by MLflow. A failure ends with
# one line naming the versions that were installed.
#   bash scripts/ci_newest.sh          # PYTHON picks the interpreter that makes the venv (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ci_lib.sh
ci_begin newest-versions

pip install -q torch==2.13.0  # the CPU build; plain "torch" would pull CUDA
pip install -q ".[train,sweep,test]"
ci_versions

cd "$tmp"  # the installed package, not the clone's sources
MUJOCO_GL=egl python - <<'EOF'
import sys
import warnings

import muscle_envs

heavy = [name for name in ("torch", "stable_baselines3") if name in sys.modules]
assert not heavy, f"import muscle_envs imported {heavy}"
assert muscle_envs.__file__.startswith(sys.prefix), f"muscle_envs from {muscle_envs.__file__}, not installed"

import gymnasium as gym
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

# SB3's check_env recommends a symmetric [-1, 1] action space; [0, 1] excitations are deliberate.
warnings.filterwarnings("ignore", "We recommend you to use a symmetric and normalized Box action space")
for env_id in muscle_envs.ENV_IDS:
    gym_check_env(gym.make(env_id).unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(env_id), warn=True)
    print(f"ci: check_env (Gymnasium, SB3): {env_id} ok")
EOF

ci_tiny_hyperparams "$tmp/tiny.yml"
muscle-train --total_timesteps 1024 --n_envs 2 --run_dir "$tmp/run" --no_progress --hyperparams "$tmp/tiny.yml"
muscle-evaluate "$tmp/run" --episodes 2
# The newest Optuna and MLflow: a two-trial study on the embedded SQLite storage, tracked by MLflow
muscle-train --optimize --n_trials 2 --total_timesteps 1024 --n_envs 2 --no_progress \
  --hyperparams "$tmp/tiny.yml" --mlflow --study_name ci
test -s logs/studies/ci/best_hyperparams.yml && test -s logs/mlflow.db
ci_pass
