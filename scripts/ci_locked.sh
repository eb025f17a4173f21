#!/usr/bin/env bash
# CI check "locked": the README's set-up paths as a new user runs them, in a fresh virtual environment
# with the versions of the lock (scripts/setup.sh: torch==2.13.0, then
# pip install -c requirements/constraints.txt -e ".[train,sweep,test]"):
#   bash scripts/run_tests.sh -q          the test suite without the slow tests, on every core, with a
#                                         throwaway PostgreSQL cluster on a loopback port for the sweeps
#   bash scripts/run_tests.sh -q -m slow  the slow tests
#   bash scripts/run_main.sh ...          the main job, on a tiny budget
#   examples/*.py                         each example, MUSCLE_EXAMPLES_QUICK=1
# then the benchmarks in their quick mode (that they run; no speed is asserted).
#   bash scripts/ci_locked.sh          # PYTHON picks the interpreter that makes the venv (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ci_lib.sh
ci_begin locked
export PYTHON=$py  # what setup.sh, run_tests.sh and run_main.sh install into and run

bash scripts/setup.sh
ci_versions
"$py" -m pip check

ci_postgres_start  # the sweep tests' real database (tests/test_sweeps.py)
bash scripts/run_tests.sh -q
rc=0
bash scripts/run_tests.sh -q -m slow || rc=$?
if [ "$rc" = 5 ]; then  # pytest: no test collected
  echo "ci: no test is marked slow"
elif [ "$rc" != 0 ]; then
  exit "$rc"
fi

ci_tiny_hyperparams "$tmp/tiny.yml"
RUN_DIR="$tmp/quickstart" bash scripts/run_main.sh --total_timesteps 1024 --n_envs 2 --no_progress \
  --hyperparams "$tmp/tiny.yml"

for example in examples/*.py; do  # the examples top to bottom, on tiny budgets (they never rot)
  echo "ci: $example"
  MUSCLE_EXAMPLES_QUICK=1 MUSCLE_EXAMPLES_OUT="$tmp/examples" "$py" "$example"
done

"$py" bench/env_speed.py --quick
"$py" bench/timestep.py --quick
"$py" bench/random_baseline.py --quick
"$py" bench/policy_speed.py --quick
"$py" bench/learning.py arm arm_distill_dagger arm_cmaes --quick
"$py" bench/run.py --quick
ci_pass
