#!/usr/bin/env bash
# Install everything muscle_envs needs into the current Python environment, at the versions of the lock
# (requirements/constraints.txt, made by scripts/lock.sh). Safe to re-run.
# Use a virtual environment first if you want one; PYTHON picks the interpreter (default python3).
# TORCH_SPEC overrides the torch that is installed first (default torch==2.13.0, the CPU build); a torch
# that is already importable is kept. With any other torch than the lock's, the lock pins everything
# but torch.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOCK=requirements/constraints.txt

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

# The lock without its torch line, for a torch other than the lock's (TORCH_SPEC, or one installed before).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -vE '^torch==' "$LOCK" > "$tmp/constraints-but-torch.txt"
locked_torch=$(sed -nE 's/^torch==([^[:space:]]+).*/\1/p' "$LOCK")
constraints=$LOCK
[ -n "${TORCH_SPEC:-}" ] && constraints=$tmp/constraints-but-torch.txt

# The CPU build of torch first: left to resolve plain "torch", pip pulls several GB of CUDA packages.
torch_version() { "$PY" -c "from importlib.metadata import version; print(version('torch').split('+')[0])"; }
if ! torch_version >/dev/null 2>&1; then
  echo "setup: installing torch (${TORCH_SPEC:-torch==$locked_torch})"
  "$PY" -m pip install -q --root-user-action=ignore -c "$constraints" "${TORCH_SPEC:-torch==$locked_torch}"
fi
installed_torch=$(torch_version)
if [ "$installed_torch" != "$locked_torch" ]; then
  echo "setup: keeping torch $installed_torch (the lock has $locked_torch); the rest comes from the lock"
  constraints=$tmp/constraints-but-torch.txt
fi

echo "setup: installing muscle_envs and its dependencies (versions from $LOCK)"
"$PY" -m pip install -q --root-user-action=ignore -c "$constraints" -e ".[train,sweep,test]"
