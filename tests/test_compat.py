"""Run directories written by earlier releases still load, and retired env ids are refused clearly."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from muscle_train import evaluation, rundir
from muscle_train.config import RunConfig, RunError

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "tests" / "fixtures" / "legacy_runs"


@pytest.mark.parametrize("run", ["ppo_mlp", "rppo_sensory_lstm"])
def test_runs_of_release_0_1_evaluate_as_they_did(run):
    """config.yml's keys, the pickled class paths of the model (policies.*) and of the normalizer
    (muscle_envs.vector.FastVecNormalize) still resolve, and the evaluation is the same (episodes,
    successes; returns to float32 precision)."""
    expected = json.loads((LEGACY / run / "expected_evaluation.json").read_text())
    with pytest.raises(RunError, match="is a pickle .* pass --trust"):  # they hold pickles only
        evaluation.evaluate(evaluation.run_source(LEGACY / run), 1)
    results = evaluation.evaluate(evaluation.run_source(LEGACY / run, trust=True), 3, seed=7)
    for key in ("success_rate", "mean_episode_length"):
        assert results[key] == expected[key], key
    # The same to float32 precision, not to the bit: torch's CPU matmuls go through MKL, whose kernels
    # (and so their last bits) depend on the processor (MKL_CBWR moves them by ~5e-8 here).
    for key in ("mean_reward", "std_reward", "task/final_distance"):
        assert results[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key


def test_config_round_trips_through_config_yml(tmp_path):
    written = rundir.load_config(LEGACY / "ppo_mlp")
    assert isinstance(written, RunConfig) and written.action_range == (-1.0, 1.0)
    saved = rundir.save_config(tmp_path, written, command="again")
    assert rundir.load_config(tmp_path) == saved
    assert saved.resumed == ("again",) and saved.command == written.command  # a resumption is appended
    legacy = yaml.safe_load((LEGACY / "ppo_mlp" / "config.yml").read_text())
    assert set(legacy) <= set(yaml.safe_load((tmp_path / "config.yml").read_text()))


def test_unknown_and_missing_settings_are_named(tmp_path):
    legacy = yaml.safe_load((LEGACY / "ppo_mlp" / "config.yml").read_text())
    (tmp_path / "config.yml").write_text(yaml.safe_dump({**legacy, "learning_rte": 1}))
    with pytest.raises(RunError, match="unknown settings \\['learning_rte'\\]"):
        rundir.load_config(tmp_path)
    (tmp_path / "config.yml").write_text(yaml.safe_dump({k: v for k, v in legacy.items() if k != "env"}))
    with pytest.raises(RunError, match="lacks the settings \\['env'\\]"):
        rundir.load_config(tmp_path)


def evaluate_with_config(tmp_path: Path, text: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """evaluate.py on a copy of the 0.1.0 PPO run whose config.yml holds ``text``: (result, stderr
    lines)."""
    run_dir = tmp_path / "run"
    shutil.copytree(LEGACY / "ppo_mlp", run_dir)
    (run_dir / "config.yml").write_text(text)
    result = subprocess.run(
        [sys.executable, "evaluate.py", str(run_dir), "--episodes", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, result.stderr.strip().splitlines()


def test_a_run_of_a_retired_env_version_is_refused_in_one_line(tmp_path):
    config = yaml.safe_load((LEGACY / "ppo_mlp" / "config.yml").read_text())
    result, lines = evaluate_with_config(tmp_path, yaml.safe_dump({**config, "env": "MuscleArm6Reach-v0"}))
    assert result.returncode == 2
    assert len(lines) == 1 and "MuscleArm6Reach-v0 no longer exists" in lines[0], result.stderr
    assert "MuscleArm6Reach-v1" in lines[0] and "Traceback" not in result.stderr


def test_a_run_of_release_0_1_resumes_from_its_checkpoint(tmp_path):
    """--resume reads the old config.yml and checkpoint layout, continues the step count and appends
    the command to config.yml (the fixture's checkpoint at step 128 was its final model; the copy
    restores it)."""
    run_dir = tmp_path / "run"
    shutil.copytree(LEGACY / "ppo_mlp", run_dir)
    checkpoint = run_dir / rundir.CHECKPOINT_DIR / "step_000000000128"
    checkpoint.mkdir(parents=True)
    shutil.copy(run_dir / rundir.MODEL_FILE, checkpoint / rundir.CHECKPOINT_MODEL)
    shutil.copy(run_dir / rundir.NORMALIZER_FILE, checkpoint / rundir.CHECKPOINT_NORMALIZER)
    result = subprocess.run(
        [
            sys.executable,
            "train_sb3.py",
            "--resume",
            str(run_dir),
            "--total_timesteps",
            "256",
            "--no_progress",
            "--trust",  # its files are pickles
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WANDB_MODE": "disabled"},
    )
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout and "from step_000000000128 (128 steps)" in result.stdout
    assert [p.name for p in rundir.checkpoints(run_dir)] == ["step_000000000256"]  # keep_checkpoints: 1
    config = rundir.load_config(run_dir)
    assert config.total_timesteps == 256 and len(config.resumed) == 1
    assert config.hyperparams["n_steps"] == 64  # the run's own settings, not hyperparams.yml's


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "does not hold a mapping of settings"),
        ("env: [unclosed", "is not valid YAML"),
        ("algo: ppo\npolicy: mlp\n", "lacks the settings ['env']"),
    ],
)
def test_a_broken_config_yml_is_one_line(tmp_path, text, message):
    result, lines = evaluate_with_config(tmp_path, text)
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
