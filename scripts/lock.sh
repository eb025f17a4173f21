#!/usr/bin/env bash
# Refresh the lock: requirements/constraints.txt pins every package (dependencies of dependencies
# too) that `pip install torch==2.13.0 && pip install -e ".[train,sweep,test]"` installs on CPython 3.11,
# torch being the CPU build; scripts/setup.sh installs through it. Also refreshes
# requirements/tools.txt, the pinned tools (pip, pip-tools, build) that make the lock and the wheel.
#
#   bash scripts/lock.sh                           # re-resolve after a change to setup.cfg; pins that
#                                                  #   still fit are kept, so the diff stays small
#   bash scripts/lock.sh --upgrade                 # the newest versions of everything
#   bash scripts/lock.sh --upgrade-package numpy   # the newest numpy only (other pip-compile options
#                                                  #   are passed on the same way)
#
# Inputs: setup.cfg (install_requires, extras train, sweep and test) and requirements/torch-cpu.in (the torch
# pin). pip-compile (pip-tools) resolves them in a throwaway virtual environment; nothing is installed
# into your environment. PYTHON picks the interpreter (default python3); it must be 3.11, the version
# the lock is for. pip must see the CPU wheel of torch 2.13.0 (PyPI's Linux wheel is the CUDA build:
# add PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu); the script refuses to write a lock
# that holds nvidia-*, triton or CUDA packages, or the project itself.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOCK=requirements/constraints.txt
TOOLS=requirements/tools.txt

if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "lock: $PY is Python $("$PY" -c 'import platform; print(platform.python_version())'); the lock is made" \
       "with 3.11 (PYTHON=python3.11 bash scripts/lock.sh)" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp/venv"
tool_py="$tmp/venv/bin/python"
echo "lock: installing the tools into a throwaway virtual environment"
if [ -f "$TOOLS" ]; then
  "$tool_py" -m pip install -q -r "$TOOLS"
else  # first run: unpinned
  "$tool_py" -m pip install -q -r requirements/tools.in
fi

compile() {  # compile OUTPUT INPUT... [OPTIONS]: pip-compile into a copy of OUTPUT (its pins are kept
  local out=$1               # where they still fit, unless --upgrade), then the caller moves it in place
  shift
  rm -f "$tmp/out.txt"
  if [ -f "$out" ]; then cp "$out" "$tmp/out.txt"; fi
  CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh" "$tool_py" -m piptools compile -q --strip-extras \
    --allow-unsafe --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
    --output-file "$tmp/out.txt" "$@"
}

upgrade_tools=()
for arg in "$@"; do
  if [ "$arg" = --upgrade ] || [ "$arg" = -U ]; then upgrade_tools=(--upgrade); fi
done
echo "lock: resolving $TOOLS"
compile "$TOOLS" requirements/tools.in ${upgrade_tools[@]+"${upgrade_tools[@]}"}
{
  echo "# The tools scripts/lock.sh makes the lock with (pip-tools) and scripts/ci_wheel.sh builds with"
  echo "# (build), pinned; each installs them into a throwaway virtual environment. Made by scripts/lock.sh."
  cat "$tmp/out.txt"
} > "$TOOLS"

echo "lock: resolving $LOCK (setup.cfg [train,sweep,test] + requirements/torch-cpu.in)"
compile "$LOCK" setup.cfg requirements/torch-cpu.in --extra train --extra sweep --extra test "$@"
# Pin torch as setup.cfg users install it: torch==2.13.0 matches both the CPU wheel's own version
# (2.13.0+cpu) and any other build of 2.13.0 that a user chose.
sed -i -E 's/^(torch==[^+[:space:]]+)\+[[:alnum:].]+/\1/' "$tmp/out.txt"

if bad=$(grep -iE '^(nvidia-|triton|cuda-|torch==.*\+cu|muscle[-_.]?envs)' "$tmp/out.txt"); then
  echo "lock: refusing to write $LOCK: it would pin $(tr "\n" " " <<<"$bad")" >&2
  echo "lock: (pip must find the CPU build of torch first: see the top of scripts/lock.sh)" >&2
  exit 1
fi
{
  cat <<'EOF'
# Lock of muscle_envs' dependencies for CPython 3.11 on Linux x86_64: every package that
#     pip install torch==2.13.0 && pip install -e ".[train,sweep,test]"
# installs, at the version it installs (the project itself excluded). torch is the CPU build, so there
# are no nvidia-*, triton or CUDA packages. scripts/setup.sh installs through it:
#     pip install -c requirements/constraints.txt -e ".[train,sweep,test]"
# Made by scripts/lock.sh: pip-compile (pip-tools, pinned in requirements/tools.txt) from setup.cfg's
# install_requires + extras train, sweep and test, and requirements/torch-cpu.in, with --strip-extras
# --allow-unsafe. Do not edit by hand; refresh it with
#     bash scripts/lock.sh                          # after a change to setup.cfg (keeps pins that fit)
#     bash scripts/lock.sh --upgrade                # newest versions of everything
#     bash scripts/lock.sh --upgrade-package numpy  # newest numpy only
# then run the tests (bash scripts/run_tests.sh in a fresh virtual environment, or .ci/run).
#
EOF
  cat "$tmp/out.txt"
} > "$LOCK"
echo "lock: wrote $LOCK ($(grep -cE '^[a-zA-Z0-9]' "$LOCK") packages) and $TOOLS"
