"""What crosses process boundaries: fresh interpreters, vectorized workers, a plain install, the CLI."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import SubprocVecEnv

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
    venv = SubprocVecEnv([lambda: gym.make("muscle_envs:MuscleArm6Reach-v1")] * 2, start_method=start_method)
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
    for name in ("muscle_envs", "policies", "muscle_train", "muscle_analysis", "assets"):
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
    assert (target / "muscle_train" / "hyperparams.yml").is_file()
    assert (target / "muscle_train" / "baselines" / "MuscleArmReach-v0" / "final_model.zip").is_file()
    assert (target / "muscle_train" / "trainers" / "sb3.py").is_file()
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


RENDER_WITHOUT_CLOSE = """
import gymnasium as gym
import muscle_envs
for env_id in ("MuscleArmReach-v0", "MyoLegs26Stand-v0"):
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.std() > 0, frame.shape
print("frames rendered")
"""  # and the script ends without env.close()


def test_a_script_that_renders_and_never_closes_exits_cleanly(tmp_path):
    """The renderers are freed at interpreter exit while the GL library is still there: no
    'Exception ignored in Renderer.__del__' on stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MUJOCO_GL")}
    result = run_python(RENDER_WITHOUT_CLOSE, cwd=tmp_path, env=env)
    assert result.returncode == 0 and "frames rendered" in result.stdout, result.stderr
    assert result.stderr == ""


def test_human_rendering_without_a_display_is_a_python_error(monkeypatch):
    """MuJoCo's viewer would end the process from C; the env refuses first, and the process lives on."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(RuntimeError, match="needs a display.*render_mode='rgb_array'"):
        gym.make("MuscleArmReach-v0", render_mode="human")
    env = gym.make("MuscleArmReach-v0", render_mode="rgb_array")  # still usable
    env.reset(seed=0)
    env.close()
