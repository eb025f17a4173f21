"""Prioritized experience replay for SAC and TD3, and the replay buffer's file."""

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from stable_baselines3 import SAC as SB3_SAC
from stable_baselines3 import TD3 as SB3_TD3
from stable_baselines3.common.buffers import ReplayBuffer

from muscle_train import replay, rundir

ROOT = Path(__file__).resolve().parents[1]
BOX = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
DICT = gym.spaces.Dict({"a": gym.spaces.Box(-1.0, 1.0, (2,)), "b": gym.spaces.Box(-1.0, 1.0, (1,))})
ACTIONS = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def filled(buffer_class, space, n=8, n_envs=1, **kwargs):
    """A buffer of ``n`` steps whose observations and rewards encode (step, env): 10 step + env."""
    buffer = buffer_class(n * n_envs, space, ACTIONS, device="cpu", n_envs=n_envs, **kwargs)  # SB3: per env
    for step in range(n):
        code = np.array([10.0 * step + env for env in range(n_envs)], dtype=np.float32)
        if isinstance(space, gym.spaces.Dict):
            obs = {"a": np.repeat(code[:, None], 2, 1), "b": code[:, None]}
        else:
            obs = np.repeat(code[:, None], 3, 1)
        buffer.add(obs, obs, np.zeros((n_envs, 2)), code, np.zeros(n_envs), [{} for _ in range(n_envs)])
    return buffer


def test_sum_tree_finds_leaves_in_proportion_to_their_values():
    tree = replay.SumTree(5)
    tree.update(np.arange(5), np.array([1.0, 0.0, 3.0, 4.0, 2.0]))
    assert tree.total == 10.0
    prefix = np.random.default_rng(0).uniform(0, tree.total, 100_000)
    counts = np.bincount(tree.find(prefix), minlength=tree.size)
    np.testing.assert_allclose(counts[:5] / 100_000, [0.1, 0.0, 0.3, 0.4, 0.2], atol=0.005)
    assert counts[5:].sum() == 0  # unused leaves never drawn
    tree.update(np.array([2, 2]), np.array([5.0, 0.5]))  # a leaf given twice keeps its last value
    assert tree.total == pytest.approx(7.5)


@pytest.mark.parametrize("space", [BOX, DICT], ids=["box", "dict"])
def test_sampling_follows_priorities_with_importance_weights(space):
    np.random.seed(0)  # noqa: NPY002 (the buffers draw from NumPy's global state, as SB3's)
    buffer_class = replay.replay_buffer_class("prioritized", space)
    buffer = filled(buffer_class, space, n=4, n_envs=2, alpha=0.5, beta=0.4)
    assert buffer.tree.values(np.arange(8)).tolist() == [1.0] * 8  # new transitions: the top priority
    buffer.sample(8)
    td_errors = np.array([0.0, 1.0, 3.0, 8.0, 0.0, 0.0, 15.0, 0.0])
    buffer.sampled = np.arange(8)
    buffer.update_priorities(td_errors)
    expected = (np.abs(td_errors) + buffer.epsilon) ** 0.5
    expected /= expected.sum()
    counts = np.zeros(8)
    for _ in range(2000):
        samples = buffer.sample(16)
        observations = (
            samples.observations["b"] if isinstance(space, gym.spaces.Dict) else samples.observations[:, :1]
        )
        codes = observations.numpy().ravel()
        steps, envs = buffer.sampled // 2, buffer.sampled % 2
        np.testing.assert_array_equal(codes, 10 * steps + envs)  # the transitions of those leaves
        np.testing.assert_array_equal(samples.rewards.numpy().ravel(), 10 * steps + envs)
        counts += np.bincount(buffer.sampled, minlength=8)
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.01)
    weights = (8 * expected[buffer.sampled]) ** -0.4
    np.testing.assert_allclose(buffer.weights.numpy().ravel(), weights / weights.max(), rtol=1e-6)
    assert buffer.max_priority == pytest.approx(15.0 + buffer.epsilon)
    obs = (
        {"a": np.zeros((2, 2)), "b": np.zeros((2, 1))}
        if isinstance(space, gym.spaces.Dict)
        else np.zeros((2, 3))
    )
    leaves = buffer.pos * 2 + np.arange(2)  # (the buffer is full: the oldest step is replaced)
    buffer.add(obs, obs, np.zeros((2, 2)), np.zeros(2), np.zeros(2), [{}, {}])
    np.testing.assert_allclose(buffer.tree.values(leaves), buffer.max_priority**0.5)  # the top priority
    buffer.anneal(0.0)
    assert buffer.beta == 1.0


def test_the_replay_file_round_trips_transitions_and_priorities(tmp_path):
    buffer = filled(replay.PrioritizedDictReplayBuffer, DICT, n=6, n_envs=2)
    buffer.sampled = np.arange(4)
    buffer.update_priorities(np.array([1.0, 2.0, 3.0, 4.0]))
    path = tmp_path / "replay.npz"
    replay.save_replay(buffer, path)
    again = replay.PrioritizedDictReplayBuffer(12, DICT, ACTIONS, device="cpu", n_envs=2)
    replay.load_replay(again, path)
    np.testing.assert_array_equal(again.observations["a"], buffer.observations["a"])
    np.testing.assert_array_equal(again.rewards, buffer.rewards)
    np.testing.assert_array_equal(again.tree.tree, buffer.tree.tree)
    assert (again.pos, again.full, again.max_priority) == (buffer.pos, buffer.full, buffer.max_priority)
    plain = ReplayBuffer(12, BOX, ACTIONS, device="cpu", n_envs=2)
    with pytest.raises(ValueError, match="does not hold this run's replay buffer"):
        replay.load_replay(plain, path)


@pytest.mark.parametrize(
    ("ours", "theirs"), [(replay.SAC, SB3_SAC), (replay.TD3, SB3_TD3)], ids=["sac", "td3"]
)
def test_without_prioritization_training_is_sb3s(ours, theirs):
    """The same seed and settings give the same weights as SB3's own class, update for update."""

    def weights(algorithm):
        model = algorithm("MlpPolicy", "Pendulum-v1", learning_starts=50, batch_size=32, seed=3, device="cpu")
        model.learn(300)
        return torch.cat([p.detach().ravel() for p in model.policy.parameters()])

    torch.testing.assert_close(weights(ours), weights(theirs), rtol=0, atol=0)


def test_prioritized_sac_run_saves_resumes_with_its_buffer_and_evaluates(tmp_path):
    settings = {
        "learning_starts": 100,
        "buffer_size": 2000,
        "batch_size": 32,
        "eval_freq": 0,
        "n_eval_episodes": 2,
        "checkpoint_freq": 300,
        "replay_buffer_class": "prioritized",
        "replay_buffer_kwargs": {"alpha": 0.6, "beta": 0.4},
        "action_noise": {"kind": "normal", "sigma": 0.2},
    }
    (tmp_path / "per.yml").write_text(yaml.safe_dump(settings))
    run_dir = tmp_path / "run"
    env = {**os.environ, "WANDB_MODE": "disabled"}

    def cli(*args):
        result = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    cli(
        "train_sb3.py",
        "--algo",
        "sac",
        "--total_timesteps",
        "300",
        "--hyperparams",
        str(tmp_path / "per.yml"),
        "--run_dir",
        str(run_dir),
        "--no_progress",
    )
    (checkpoint,) = rundir.checkpoints(run_dir)
    saved = dict(np.load(checkpoint / replay.REPLAY_FILE))
    assert int(saved["pos"]) == 300 and saved["priority_tree"][1] > 0
    out = cli("train_sb3.py", "--resume", str(run_dir), "--total_timesteps", "600", "--no_progress")
    assert "restored the replay buffer (300 transitions)" in out
    latest = dict(np.load(rundir.checkpoints(run_dir)[-1] / replay.REPLAY_FILE))
    assert int(latest["pos"]) == 600  # continued the same buffer
    np.testing.assert_array_equal(latest["rewards"][:300], saved["rewards"][:300])
    cli("evaluate.py", str(run_dir), "--episodes", "2")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"replay_buffer_class": "fancy"}, "replay_buffer_class must be one of ['prioritized']"),
        ({"action_noise": {"kind": "pink"}}, "action_noise needs kind: one of"),
        ({"action_noise": {"kind": "normal", "sigma": 0.1, "theta": 0.2}}, "action_noise"),
    ],
)
def test_bad_replay_and_noise_settings_are_named(tmp_path, settings, message):
    from muscle_train import training
    from muscle_train.config import RunError

    path = tmp_path / "settings.yml"
    path.write_text(yaml.safe_dump(settings))
    with pytest.raises(RunError, match=message.replace("[", r"\[").replace("]", r"\]")):
        training.new_run_config(training.RunRequest(algo="sac", hyperparams_file=path))
