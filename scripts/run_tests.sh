#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE=${WANDB_MODE:-disabled}  # tests never need a network
exec "${PYTHON:-python3}" -m pytest tests "$@"
