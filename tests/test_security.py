"""Loading a run runs no code from its files unless the user trusts them (--trust)."""

import base64
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from test_training import run, tiny_hyperparams, train_args

import muscle_envs  # noqa: F401  (registers the ids)
from muscle_train import rundir

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "tests" / "fixtures" / "legacy_runs"


class Marker:
    """Unpickling this creates a file: what a malicious pickle could do instead."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("fresh")
    run_dir = tmp / "run"
    result = run(*train_args(run_dir, tiny_hyperparams(tmp, eval_freq=0), "--vec_env", "dummy", steps=512))
    assert result.returncode == 0, result.stderr
    return run_dir


def evaluate(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "evaluate.py", str(run_dir), "--episodes", "2", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WANDB_MODE": "disabled"},
    )


def rewrite_data(model: Path, change) -> None:
    """Apply ``change`` to the JSON "data" entry of an SB3 model file, in place."""
    with zipfile.ZipFile(model) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(entries["data"])
    change(data)
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(model, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)


def pickled_entry(obj) -> dict:
    return {":type:": "<class 'object'>", ":serialized:": base64.b64encode(pickle.dumps(obj)).decode()}


def test_a_crafted_normalizer_pickle_runs_only_with_trust(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(LEGACY / "ppo_mlp", run_dir)  # a run of 0.1.0: its normalizer is a pickle alone
    marker = tmp_path / "pwned"
    (run_dir / "vec_normalize.pkl").write_bytes(pickle.dumps(Marker(marker)))
    refused = evaluate(run_dir)
    assert refused.returncode == 2 and "--trust" in refused.stderr and "is a pickle" in refused.stderr
    assert not marker.exists()
    trusted = evaluate(run_dir, "--trust")  # the user said so: the pickle runs (and is then refused)
    assert marker.exists() and trusted.returncode == 2 and "not VecNormalize statistics" in trusted.stderr


def test_a_crafted_entry_in_the_model_file_is_never_unpickled(fresh_run, tmp_path):
    clean = evaluate(fresh_run, "--json", str(tmp_path / "clean.json"))
    assert clean.returncode == 0, clean.stderr
    run_dir = tmp_path / "run"
    shutil.copytree(fresh_run, run_dir)
    marker = tmp_path / "pwned"
    entry = pickled_entry(Marker(marker))
    rewrite_data(run_dir / "final_model.zip", lambda data: data.update(_last_obs=entry, policy_class=entry))
    crafted = evaluate(run_dir, "--json", str(tmp_path / "crafted.json"))
    assert crafted.returncode == 0, crafted.stderr
    assert not marker.exists()  # the entries were rebuilt from config.yml and the env, not unpickled
    results = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("clean", "crafted")]
    assert {k: v for k, v in results[0].items() if k != "model"} == {
        k: v for k, v in results[1].items() if k != "model"
    }

    rewrite_data(run_dir / "final_model.zip", lambda data: data.update(surprise=entry))
    unknown = evaluate(run_dir)
    assert unknown.returncode == 2 and "['surprise'] as pickled Python objects" in unknown.stderr
    assert "--trust" in unknown.stderr and not marker.exists()


def test_resuming_a_cmaes_search_needs_trust_and_changes_nothing_without(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = {
        "env": "MuscleArmReach-v0",
        "algo": "cmaes",
        "policy": "sensory_rnn",
        "n_eval_episodes": 2,
        "normalize": False,
        "hyperparams": {"generations": 2, "popsize": 2, "fitness_episodes": 1},
        "command": "train_sb3.py --algo cmaes",
    }
    (run_dir / "config.yml").write_text(yaml.safe_dump(config))
    marker = tmp_path / "pwned"
    (run_dir / "cmaes_state.pkl").write_bytes(pickle.dumps(Marker(marker)))
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    result = subprocess.run(
        [sys.executable, "train_sb3.py", "--resume", str(run_dir), "--no_progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WANDB_MODE": "disabled"},
    )
    assert result.returncode == 2 and "cmaes_state.pkl is a pickle" in result.stderr
    assert "--trust" in result.stderr and not marker.exists()
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


@pytest.mark.parametrize("env_id", ["CartPole-v1", "MuscleArmReach-v0"])  # Box and Dict observations
def test_normalizer_statistics_round_trip_exactly_through_json(tmp_path, env_id):
    venv = DummyVecEnv([lambda: gym.make(env_id)] * 2)
    normalizer = VecNormalize(venv, gamma=0.95, clip_obs=5.0)
    normalizer.reset()
    for _ in range(20):
        normalizer.step(np.array([normalizer.action_space.sample() for _ in range(2)]))
    path = tmp_path / "vec_normalize.pkl"
    rundir.statistics_path(path).write_text(json.dumps(rundir.normalizer_statistics(normalizer)))
    again = rundir.load_normalizer(path, DummyVecEnv([lambda: venv.envs[0]]), training=False)
    assert (again.gamma, again.clip_obs, again.norm_obs_keys) == (0.95, 5.0, normalizer.norm_obs_keys)
    obs = normalizer.get_original_obs()
    obs = {k: v[:1] for k, v in obs.items()} if isinstance(obs, dict) else obs[:1]
    expected, loaded = normalizer.normalize_obs(obs), again.normalize_obs(obs)
    for key in expected if isinstance(expected, dict) else [None]:
        a = expected[key] if key else expected
        b = loaded[key] if key else loaded
        np.testing.assert_array_equal(a, b)
    assert again.ret_rms.var == normalizer.ret_rms.var and again.ret_rms.count == normalizer.ret_rms.count


def test_a_full_disk_leaves_the_previous_files_and_no_temporaries(fresh_run, tmp_path, monkeypatch):
    import errno

    from stable_baselines3 import PPO

    from muscle_train.envs import make_vec_env

    run_dir = tmp_path / "run"
    shutil.copytree(fresh_run, run_dir)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    model = PPO.load(run_dir / "final_model.zip")
    venv = VecNormalize(make_vec_env("MuscleArmReach-v0", {}, 1, "dummy", 0))

    def full_disk(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a model")  # then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PPO, "save", full_disk)
    with pytest.raises(rundir.RunError, match="could not write .*final_model.zip: No space left on device"):
        rundir.save_model_and_normalizer(
            model, venv, run_dir / "final_model.zip", run_dir / "vec_normalize.pkl"
        )
    with pytest.raises(rundir.RunError, match="No space left on device"):
        rundir.save_checkpoint(model, venv, run_dir, keep=2)
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before  # nothing half written
    assert not list(run_dir.rglob(".tmp-*"))
    venv.close()


def test_a_run_directory_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    result = run(*train_args(blocker / "run", tiny_hyperparams(tmp_path)))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "cannot make the run directory" in lines[0], (
        result.stderr
    )
    assert "leaked shared_memory" not in result.stderr  # released by us, not by Python's resource tracker
