#!/usr/bin/env bash
# CI check "mujoco4": what MyoSuite 3.0 users have, MuJoCo 4.0 with myo-sim 0.2.3 (the lock has MuJoCo
# 3.17 with myo-sim 0.2.4, which requires mujoco<4), in a fresh virtual environment, the rest resolved
# around those two pins; then the plant, env and batching tests.
#   bash scripts/ci_mujoco4.sh         # PYTHON picks the interpreter that makes the venv (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ci_lib.sh
ci_begin mujoco4

printf '%s\n' "mujoco==4.0.*" "myo-sim==0.2.3" > "$tmp/pins.txt"
pip install -q torch==2.13.0  # the CPU build; plain "torch" would pull CUDA
pip install -q -c "$tmp/pins.txt" "mujoco==4.0.*" "myo-sim==0.2.3"
pip install -q -c "$tmp/pins.txt" -e ".[train,test]"
ci_versions

python -m pytest -q -n auto tests/test_plant.py tests/test_arm_reach.py tests/test_legs_stand.py tests/test_legs_walk.py \
  tests/test_vector.py
ci_pass
