#!/usr/bin/env bash
# CI check "wheel": build the sdist and, from it, the wheel (python -m build); check that the sdist holds
# the MJCF assets and muscle_train/hyperparams.yml; then install the wheel (not editable, versions from
# the lock) into a fresh virtual environment and use it from a folder that is not the clone:
#   - the wheel alone (the envs, no torch): gym.make and a step work, torch is not installed;
#   - with torch==2.13.0 and [train]: import muscle_envs imports no torch; muscle-train --help;
#     a tiny PPO run and a tiny RecurrentPPO run (--algo recurrent_ppo --policy lstm) train and
#     muscle-evaluate evaluates each; python -m muscle_train evaluate works too. hyperparams.yml comes
#     from the package data (the folder has none).
#   bash scripts/ci_wheel.sh           # PYTHON picks the interpreter that makes the venvs (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ci_lib.sh
ci_begin wheel
LOCK=$PWD/requirements/constraints.txt

# Build in a throwaway environment of its own (the tools pinned by requirements/tools.txt).
"${PYTHON:-python3}" -m venv "$tmp/build-venv"
"$tmp/build-venv/bin/python" -m pip install -q -r requirements/tools.txt
"$tmp/build-venv/bin/python" -m build -q --outdir "$tmp/dist" .  # the sdist, then the wheel from it
sdist=$(echo "$tmp"/dist/*.tar.gz)
wheel=$(echo "$tmp"/dist/*.whl)
echo "ci: built $(basename "$sdist") and $(basename "$wheel")"
"$py" - "$sdist" "$wheel" assets/*.xml <<'EOF'
import sys
import tarfile
import zipfile
from pathlib import Path

sdist, wheel, *assets = sys.argv[1:]
in_sdist = {name.split("/", 1)[1] for name in tarfile.open(sdist).getnames() if "/" in name}
in_wheel = set(zipfile.ZipFile(wheel).namelist())
expected = {
    "sdist": (in_sdist, [*assets, "muscle_train/hyperparams.yml"]),
    "wheel": (in_wheel, [f"muscle_envs/assets/{Path(a).name}" for a in assets] + ["muscle_train/hyperparams.yml"]),
}
for kind, (names, wanted) in expected.items():
    missing = [name for name in wanted if name not in names]
    assert not missing, f"the {kind} lacks {missing}"
    print(f"ci: the {kind} holds the {len(assets)} MJCF assets and muscle_train/hyperparams.yml")
EOF

mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"  # not the clone: only the installed package can be imported

# The wheel alone: the envs, without torch.
pip install -q -c "$LOCK" "$wheel"
MUJOCO_GL=egl python - <<'EOF'
import importlib.util
import sys

import gymnasium as gym

import muscle_envs

assert muscle_envs.__file__.startswith(sys.prefix), f"muscle_envs from {muscle_envs.__file__}, not installed"
assert importlib.util.find_spec("torch") is None, "the wheel without extras installed torch"
for env_id in muscle_envs.ENV_IDS:
    env = gym.make(env_id)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()
print(f"ci: the wheel without extras makes and steps {', '.join(muscle_envs.ENV_IDS)}; no torch installed")
EOF

# With [train]: the CPU build of torch first, as setup.sh does.
pip install -q -c "$LOCK" torch==2.13.0
pip install -q -c "$LOCK" "${wheel}[train]"
ci_versions
python -c 'import sys, muscle_envs; assert "torch" not in sys.modules, "import muscle_envs imported torch"'
muscle-train --help >/dev/null
hyperparams=$(muscle-train --show_hyperparams)
[[ $hyperparams == "$venv"/* ]] || { echo "ci: muscle-train reads $hyperparams, not the package's" >&2; exit 1; }
echo "ci: muscle-train reads the shipped $hyperparams"
ci_tiny_hyperparams tiny.yml
tiny=(--total_timesteps 1024 --n_envs 2 --no_progress --hyperparams tiny.yml)
muscle-train --run_dir run_ppo "${tiny[@]}"
muscle-train --algo recurrent_ppo --policy lstm --run_dir run_lstm "${tiny[@]}"
muscle-evaluate run_ppo --episodes 2
muscle-evaluate run_lstm --episodes 2
python -m muscle_train evaluate run_ppo --episodes 1
ci_pass
