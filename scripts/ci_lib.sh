# shellcheck shell=bash
# Helpers of the CI checks (.ci/run, scripts/ci_*.sh); source it from the repository root.
#   ci_begin NAME   start check NAME: a temporary folder $tmp (removed at exit), a fresh virtual
#                   environment $venv made by $PYTHON (default python3) without the machine's
#                   site-packages, its interpreter $py first on PATH, and at a failed exit one line
#                   naming the installed versions
#   ci_versions     print the versions of the packages that matter, as installed in $py
#   ci_pass         print that the check passed and how long it took
#   ci_postgres_start  a throwaway PostgreSQL cluster on a loopback port (scripts/postgres.sh) for the
#                   tests, its URL in MUSCLE_TEST_POSTGRES_URL; stopped and removed at exit

# The versions that CI logs name, read from the installed metadata (nothing is imported).
CI_PACKAGES=(mujoco myo-sim gymnasium stable-baselines3 sb3-contrib torch numpy)

ci_version_list() {  # "mujoco 3.17.0, myo-sim 0.2.4, ..." (a package not installed: "-")
  "$py" - "${CI_PACKAGES[@]}" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

def installed(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"

print(", ".join(f"{name} {installed(name)}" for name in sys.argv[1:]))
EOF
}

ci_versions() {
  echo "ci: [$ci_name] python $("$py" -c 'import platform; print(platform.python_version())')," \
       "$(ci_version_list)"
}

ci_postgres_start() {  # a throwaway PostgreSQL cluster for the tests (MUSCLE_TEST_POSTGRES_URL), stopped at exit
  read -r MUSCLE_TEST_POSTGRES_URL ci_pg_dir < <(bash scripts/postgres.sh start)
  [ -n "${ci_pg_dir:-}" ] || { echo "ci: PostgreSQL did not start" >&2; return 1; }
  export MUSCLE_TEST_POSTGRES_URL
  echo "ci: PostgreSQL at $MUSCLE_TEST_POSTGRES_URL"
}

ci_on_exit() {
  local rc=$?
  if [ -n "${ci_pg_dir:-}" ]; then bash scripts/postgres.sh stop "$ci_pg_dir" || true; fi
  if [ "$rc" != 0 ]; then
    echo "ci: $ci_name check failed (exit $rc) with $( [ -x "$py" ] && ci_version_list || echo "no environment")" >&2
  fi
  cd /
  rm -rf "$tmp"
  return "$rc"
}

ci_begin() {
  ci_name=$1
  ci_start=$SECONDS
  echo "ci: ===== $ci_name check ====="
  tmp=$(mktemp -d)
  venv=$tmp/venv
  py=$venv/bin/python
  trap ci_on_exit EXIT
  "${PYTHON:-python3}" -m venv "$venv"  # no --system-site-packages: nothing of the machine's is seen
  unset PYTHONPATH PYTHONHOME
  export PATH="$venv/bin:$PATH" WANDB_MODE=${WANDB_MODE:-disabled}
  "$py" -c 'import sys; assert sys.prefix != sys.base_prefix, "not a virtual environment"'
}

ci_pass() {
  echo "ci: $ci_name check passed in $((SECONDS - ci_start)) s"
}

# A tiny training budget (muscle-train --hyperparams): two PPO updates, evaluations and checkpoints.
ci_tiny_hyperparams() {
  printf '%s\n' "n_steps: 256" "batch_size: 256" "n_epochs: 1" "eval_freq: 512" "n_eval_episodes: 2" \
    "checkpoint_freq: 512" > "$1"
}
