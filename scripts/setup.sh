#!/usr/bin/env bash
# Install everything muscle_envs needs into the current Python environment. Safe to re-run.
# Use a virtual environment first if you want one; PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# Headless rendering uses MuJoCo's EGL backend, i.e. Mesa's EGL (no GPU or display needed).
if ! ldconfig -p | grep -q "libEGL_mesa.so.0"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Mesa EGL for headless rendering (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 >/dev/null
  else
    echo "setup: warning: Mesa EGL not found; rendering needs it (Debian/Ubuntu: sudo apt-get install" \
         "libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1)" >&2
  fi
fi

# The CPU build of torch first: left to resolve plain "torch", pip pulls several GB of CUDA packages.
if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "setup: installing torch (${TORCH_SPEC:-torch==2.13.0})"
  "$PY" -m pip install -q --root-user-action=ignore "${TORCH_SPEC:-torch==2.13.0}"
fi
echo "setup: installing muscle_envs and its dependencies"
"$PY" -m pip install -q --root-user-action=ignore -e ".[test]"
