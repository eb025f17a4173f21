#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the test suite on every core (pytest-xdist, -n auto), leaving
# out the tests marked slow. Extra arguments go to pytest:
#   bash scripts/run_tests.sh                        # tests/, not the slow ones
#   bash scripts/run_tests.sh -m ""                  # every test, slow ones included
#   bash scripts/run_tests.sh -m slow                # only the slow ones (any -m replaces the default)
#   bash scripts/run_tests.sh tests/test_plant.py -k muscle -n 0   # some tests, in one process
#   bash scripts/run_tests.sh tests/test_training.py::test_name      # one test (slow or not)
# PYTHON picks the interpreter (default python3); WANDB_MODE defaults to disabled.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WANDB_MODE=${WANDB_MODE:-disabled}  # tests never need a network

defaults=()
own_marks=false own_paths=false xdist=true
for arg in "$@"; do
  case $arg in
    -m | -m?*) own_marks=true ;;  # -m EXPR or -mEXPR
    no:xdist) xdist=false ;;      # -p no:xdist: no -n option either
  esac
  if [ -n "$arg" ] && [ -e "${arg%%::*}" ]; then  # a file, folder or test id to run
    own_paths=true
    [ "$arg" = "${arg%%::*}" ] || own_marks=true  # a test named by its id runs even when slow
  fi
done
$own_paths || defaults+=(tests)
$xdist && defaults+=(-n auto)  # a later -n N of yours wins
$own_marks || defaults+=(-m "not slow")
exec "${PYTHON:-python3}" -m pytest "${defaults[@]}" "$@"
