"""What crosses process boundaries: fresh interpreters, vectorized workers, a plain install, the CLI."""

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import SubprocVecEnv

from policies import policy_spec

ROOT = Path(__file__).resolve().parents[1]
MAKE_AND_STEP = """
import sys
import gymnasium as gym
assert "muscle_envs" not in sys.modules
env = gym.make("muscle_envs:MuscleArmReach-v0")
obs, _ = env.reset(seed=0)
obs, reward, *_ = env.step(env.action_space.sample())
import muscle_envs
print(muscle_envs.__file__)
print(sorted(obs))
heavy = [name for name in ("torch", "stable_baselines3") if name in sys.modules]
assert not heavy, f"making an env imported {heavy}"
"""


def run_python(code: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_module_qualified_id_works_in_a_process_that_never_imported_the_package(tmp_path):
    result = run_python(MAKE_AND_STEP, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "muscle_length" in result.stdout


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_subproc_vec_env_workers_build_the_env(start_method):
    venv = SubprocVecEnv([lambda: gym.make("muscle_envs:MuscleArm6Reach-v0")] * 2, start_method=start_method)
    try:
        venv.seed(0)
        obs = venv.reset()
        assert obs["muscle_length"].shape == (2, 6)
        for _ in range(5):
            obs, reward, done, infos = venv.step(np.full((2, 6), 0.5, dtype=np.float32))
        assert reward.shape == (2,) and np.all(np.isfinite(reward))
        assert {"distance", "is_success", "reward_distance"} <= set(infos[0])
    finally:
        venv.close()


def test_plain_install_ships_the_assets(tmp_path):
    """``pip install .`` (not editable) carries the MJCF files; the env works from anywhere."""
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("muscle_envs", "policies", "assets"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    assert (target / "muscle_envs" / "data" / "myolegs_holding_activation.json").is_file()
    assert (target / "policies" / "extractors.py").is_file()
    assert {p.name for p in (target / "muscle_envs" / "assets").glob("*.xml")} >= {
        "arm_skeleton.xml",
        "arm4.xml",
        "arm6.xml",
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "MUSCLE_ENVS_CACHE_DIR": str(tmp_path / "cache")}
    result = run_python(MAKE_AND_STEP, cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(str(target))  # the installed copy, not the checkout


def run_script(*args: str) -> subprocess.CompletedProcess:
    """Run one of the repository's scripts (train_sb3.py, evaluate.py) as a user would."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("policy", ["mlp", "sensory_mlp", "sensory_lstm"])
def test_train_then_evaluate_from_the_command_line(tmp_path, policy):
    run_dir = tmp_path / "run"
    train = run_script(
        "train_sb3.py",
        "--policy",
        policy,
        "--total_timesteps",
        "2048",
        "--n_envs",
        "2",
        "--vec_env",
        "dummy",
        "--run_dir",
        str(run_dir),
        "--no_progress",
        "--env_kwargs",
        "effort_weight=0.1",
    )
    assert train.returncode == 0, train.stderr
    for name in ("config.yml", "final_model.zip", "vec_normalize.pkl"):
        assert (run_dir / name).is_file(), name
    with open(run_dir / "vec_normalize.pkl", "rb") as f:
        normalized = set(pickle.load(f).norm_obs_keys)
    raw = set(policy_spec(policy).raw_observation_keys)
    assert normalized and not normalized & raw  # physiological inputs keep their units
    out = tmp_path / "eval.json"
    evaluation = run_script("evaluate.py", str(run_dir), "--episodes", "3", "--json", str(out))
    assert evaluation.returncode == 0, evaluation.stderr
    assert "success rate" in evaluation.stdout
    results = json.loads(out.read_text())
    assert results["n_episodes"] == 3 and 0.0 <= results["success_rate"] <= 1.0
    assert results["mean_episode_length"] <= 200


def test_evaluate_names_what_is_missing(tmp_path):
    result = run_script("evaluate.py", str(tmp_path))
    assert result.returncode != 0
    assert "has no config.yml" in result.stderr


def test_unknown_env_id_is_reported_before_training(tmp_path):
    result = run_script("train_sb3.py", "--env", "MuscleArmReech-v0", "--run_dir", str(tmp_path / "r"))
    assert result.returncode != 0
    assert "MuscleArmReech" in result.stderr and not (tmp_path / "r").exists()
