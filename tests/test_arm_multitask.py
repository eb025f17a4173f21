"""MuscleArmMultiTask-v0 (seed 004's delayed multi-task movements): paths, epochs, cues, start
posture, reward and metrics, checkers, determinism."""

import ast
import dataclasses
import json
import math
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import muscle_envs  # noqa: F401  (registers the ids)
from muscle_envs import observations as keys
from muscle_envs.arm_multitask import (
    BACKWARD_MOTIFS,
    COMPOSITE_NAMES,
    FORWARD_MOTIFS,
    FULL_TIMES,
    HALF_TIMES,
    TASK_NAMES,
    TASKS,
    ArmMultiTaskConfig,
    MuscleArmMultiTaskEnv,
)

ENV_ID = "MuscleArmMultiTask-v0"
COMPOSABLE_ID = "MuscleArmComposable-v0"
GAINS = (300.0, 4.0)  # N m / rad, N m s / rad: a joint PD stiff enough to track, stable at 2 ms steps


@pytest.fixture(scope="module")
def test_env():
    """The env in test mode (32 directions)."""
    return gym.make(ENV_ID, test=True).unwrapped


def rotation(angle):
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


def test_paths_match_their_definitions_in_every_direction(test_env):
    """End points, radii, lengths and timing of every task at every test direction."""
    radius = 0.25 * test_env.config.path_scale
    start = np.array(test_env.start_hand)
    for direction, angle in enumerate(test_env.direction_angles):
        forward = rotation(angle) @ np.array([1.0, 0.0])  # the path's +x
        sideways = rotation(angle) @ np.array([0.0, 1.0])
        far = start + radius * forward
        for task in TASKS:
            steps = FULL_TIMES[1] if task.full else HALF_TIMES[1]
            path = test_env.path(task.name, direction, steps)
            assert path.shape == (steps, 2)
            np.testing.assert_allclose(path[0], start, atol=1e-12, err_msg=task.name)
            local = (path - start) @ np.stack([forward, sideways], axis=1)  # back along +x, +y
            if task.full:  # out to the far point at the middle, back to the start
                np.testing.assert_allclose(path[-1], start, atol=1e-12, err_msg=task.name)
                middle = path[steps // 2] if "Circle" not in task.name else path[(steps - 1) // 2]
                np.testing.assert_allclose(middle, far, atol=radius * 0.02, err_msg=task.name)
            else:
                np.testing.assert_allclose(path[-1], far, atol=1e-12, err_msg=task.name)
            if "Reach" in task.name:
                np.testing.assert_allclose(local[:, 1], 0.0, atol=1e-12)
            if "Circle" in task.name:  # on the circle of radius R/2 through start and far point
                centre_distance = np.linalg.norm(local - [radius / 2, 0.0], axis=1)
                np.testing.assert_allclose(centre_distance, radius / 2, rtol=1e-12, err_msg=task.name)
                side = np.sign(local[1:-1, 1][np.abs(local[1:-1, 1]) > 1e-9][0])
                assert side == (1 if task.name.endswith("Clk") and "CClk" not in task.name else -1)
            if "Sinusoid" in task.name or "Figure8" in task.name:
                assert np.max(np.abs(local[:, 1])) == pytest.approx(radius / 2, rel=1e-3)
                first = np.sign(local[steps // 8, 1])
                assert first == (-1 if task.name.endswith("Inv") else 1), task.name


def test_reaches_and_circles_advance_at_constant_speed(test_env):
    for name in ("HalfReach", "FullReach", "HalfCircleClk", "FullCircleCClk"):
        full = "Full" in name
        steps = 200 if full else 100
        path = test_env.path(name, 3, steps)
        segments = np.linalg.norm(np.diff(path[: steps // 2] if full else path, axis=0), axis=1)
        np.testing.assert_allclose(segments, segments[0], rtol=1e-9, err_msg=name)


@pytest.mark.parametrize("env_id", [ENV_ID, COMPOSABLE_ID])
def test_every_path_stays_inside_the_joint_range_from_the_start_posture(env_id):
    """The default start posture and path scale keep every point of every task, in all 32
    directions, at the slowest (densest) speed, 0.1 rad inside both joints' limits."""
    env = gym.make(env_id, test=True).unwrapped
    for task in env.catalog:
        steps = FULL_TIMES[-1] if task.full else HALF_TIMES[-1]
        for direction in range(32):
            for x, z in env.path(task.name, direction, steps):
                assert env.plant.inverse_kinematics(x, z, margin=0.1) is not None, (task.name, direction)


def test_composable_tasks_are_seed_004s_motifs_out_and_back():
    """Seed 004's ComposableEnv: 20 tasks, a half task's path out then another full task's return,
    in the order of its rule input; each half T/2 points."""
    pairs = [
        (out, back)
        for i, out in enumerate(FORWARD_MOTIFS)
        for j, back in enumerate(BACKWARD_MOTIFS)
        if i != j
    ]
    assert COMPOSITE_NAMES == tuple(f"{out}+{back}" for out, back in pairs)
    assert COMPOSITE_NAMES.index("Sinusoid+FullReach") == 12  # seed 004: product index 15, 3 pairs skipped
    single = gym.make(ENV_ID, test=True).unwrapped
    env = gym.make(COMPOSABLE_ID, test=True).unwrapped
    radius, start = 0.25 * env.config.path_scale, np.array(env.start_hand)
    steps, half = 200, 100
    for direction in (0, 5, 17):
        far = start + radius * (rotation(env.direction_angles[direction]) @ [1.0, 0.0])
        for out, back in pairs:
            path = env.path(f"{out}+{back}", direction, steps)
            np.testing.assert_array_equal(path[:half], single.path(out, direction, half))
            np.testing.assert_allclose(path[half], far, atol=1e-12)
            np.testing.assert_allclose(path[-1], start, atol=1e-12)
            if "Circle" not in back:  # the full task's own return, point for point
                np.testing.assert_allclose(
                    path[half:], single.path(back, direction, steps)[half:], atol=1e-12
                )
            else:  # half of the circle of radius R/2 through start and far point, on the task's side
                local = (path[half:] - start) @ rotation(env.direction_angles[direction])
                np.testing.assert_allclose(np.linalg.norm(local - [radius / 2, 0.0], axis=1), radius / 2)
                assert np.all(local[1:-1, 1] * (-1 if "CClk" not in back else 1) > 0), back


def test_composable_rule_speed_and_target():
    env = gym.make(COMPOSABLE_ID)
    assert env.observation_space[keys.RULE].shape == (20,)
    name = "HalfCircleCClk+Figure8"
    obs, info = env.reset(seed=0, options={"task": name, "speed": 0, "delay": 25, "direction": 3})
    assert info["task"] == name and info["movement_steps"] == 100
    assert obs[keys.RULE].argmax() == COMPOSITE_NAMES.index(name) and obs[keys.RULE].sum() == 1
    for _ in range(25):
        obs, *_ = env.step(np.zeros(6))
    assert obs[keys.SPEED][0] == pytest.approx(1 - 100 / 300)
    np.testing.assert_allclose(obs[keys.TARGET], env.unwrapped.path(name, 3, 100)[50])
    assert env.unwrapped.task == name and env.unwrapped.episode_metrics()["task"] == COMPOSITE_NAMES.index(
        name
    )
    with pytest.raises(ValueError, match="unknown task"):
        gym.make(COMPOSABLE_ID, tasks=["FullReach"])  # a full task is not a composite


def test_seed_004_scale_does_not_fit_the_arm(test_env):
    """Why path_scale < 1: at seed 004's size some path leaves the joint range."""
    env = gym.make(ENV_ID, test=True, path_scale=1.0).unwrapped
    points = [env.path(t.name, d, 150) for t in TASKS[:5] for d in range(32)]
    assert any(env.plant.inverse_kinematics(x, z) is None for path in points for x, z in path)


@pytest.mark.parametrize("task", [0, 5, 8])
@pytest.mark.parametrize("speed, delay", [(0, 25), (2, 75)])
def test_epochs_cues_and_rule(task, speed, delay):
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=1, options={"task": task, "speed": speed, "delay": delay, "direction": 2})
    steps = (FULL_TIMES if TASKS[task].full else HALF_TIMES)[speed]
    assert info["task"] == TASK_NAMES[task] and info["movement_steps"] == steps
    rule = np.zeros(10)
    rule[task] = 1.0
    length, t = 0, 0
    seen = []
    while True:
        np.testing.assert_array_equal(obs[keys.RULE], rule)
        seen.append((t, obs[keys.SPEED][0], obs[keys.GO_CUE][0], obs[keys.TARGET].copy()))
        obs, _, terminated, truncated, _ = env.step(np.zeros(6))
        t += 1
        length += 1
        assert not truncated
        if terminated:
            break
    assert length == 25 + delay + steps + 25
    denominator = 300 if TASKS[task].full else 150
    target = env.unwrapped.path(task, 2, steps)[steps // 2 if TASKS[task].full else -1]
    for t, speed_signal, go, shown in seen:
        assert speed_signal == (0.0 if t < 25 else pytest.approx(1 - steps / denominator))
        assert go == (1.0 if t >= 25 + delay else 0.0)
        np.testing.assert_allclose(shown, np.zeros(2) if t < 25 else target, atol=1e-12)


def follow(env, seed, options, track: bool):
    """An episode with no muscle drive where the test moves the joints itself (joint torques by PD
    on the inverse kinematics of ``desired_position``) if ``track``, else leaves the arm still."""
    plant = env.unwrapped.plant
    obs, _ = env.reset(seed=seed, options=options)
    dofs = plant._dof_adr
    while True:
        if track:
            goal = plant.inverse_kinematics(*obs[keys.DESIRED_POSITION])
            q, qd = plant.joint_angles(), plant.joint_velocities()
            plant.data.qfrc_applied[dofs] = GAINS[0] * (np.asarray(goal) - q) - GAINS[1] * qd
            plant.applied_forces_changed()
        obs, _, terminated, _, info = env.step(np.zeros(6))
        if terminated:
            return env.unwrapped.episode_metrics(), info


@pytest.mark.parametrize("task", ["HalfCircleCClk", "Figure8"])
def test_following_the_desired_position_scores_better_than_keeping_still(task):
    env = gym.make(ENV_ID, privileged=True)
    options = {"task": task, "direction": 1, "speed": 2, "delay": 25}
    tracked, info = follow(env, 0, options, track=True)
    still, _ = follow(env, 0, options, track=False)
    assert tracked["position_error_cm"] < 1.0 < 5.0 < still["position_error_cm"]  # cm
    assert tracked["premature_movement_cm"] < 1.0 and info["is_success"]
    assert tracked["task"] == TASK_NAMES.index(task)


def test_gravity_only_in_the_vertical_plane():
    horizontal = gym.make(ENV_ID).unwrapped
    vertical = gym.make(ENV_ID, plane="vertical").unwrapped
    assert np.all(horizontal.plant.model.opt.gravity == 0.0)
    assert vertical.plant.model.opt.gravity[2] < 0
    hands = []
    for env in (horizontal, vertical):
        env.reset(seed=0, options={"task": 0})
        for _ in range(20):
            obs, *_ = env.step(np.zeros(6))
        hands.append(obs[keys.VISION])
    assert hands[1][1] < hands[0][1] - 0.01  # the limp arm sags under gravity only when vertical


def test_privileged_keys_only_when_asked():
    assert keys.DESIRED_POSITION not in gym.make(ENV_ID).observation_space.spaces
    space = gym.make(ENV_ID, privileged=True).observation_space.spaces
    assert {keys.DESIRED_POSITION, keys.DESIRED_VELOCITY} <= set(space)


def test_reward_is_the_sum_of_its_terms_and_episodes_are_deterministic():
    def run(seed):
        env = gym.make(ENV_ID)
        env.reset(seed=seed)
        rng, out = np.random.default_rng(0), []
        for _ in range(150):
            obs, reward, terminated, _, info = env.step(rng.uniform(0, 1, 6).astype(np.float32))
            assert reward == pytest.approx(info["reward_position"] + info["reward_activation"], abs=1e-12)
            out.append((obs[keys.VISION].copy(), reward))
            if terminated:
                env.reset()
        return out

    first, again, other = run(3), run(3), run(4)
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(first, again, strict=True))
    assert any(a[1] != b[1] for a, b in zip(first, other, strict=True))  # other tasks: other paths


@pytest.mark.parametrize(
    "options, message",
    [
        ({"task": "Spiral"}, "not one of"),
        ({"task": 10}, "rule index"),
        ({"direction": 8}, "direction must be an index 0..7"),
        ({"speed": 3}, "speed must be an index"),
        ({"delay": -1}, "delay"),
        ({"colour": 1}, "unknown reset option"),
    ],
)
def test_bad_reset_options_are_refused_before_anything_changes(options, message):
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.reset(options=options)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(6))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="unknown task"):
        gym.make(ENV_ID, tasks=["HalfReach", "Spiral"])
    with pytest.raises(ValueError, match="plane"):
        gym.make(ENV_ID, plane="diagonal")
    with pytest.raises(ValueError, match="speeds"):
        gym.make(ENV_ID, speeds=[3])


@pytest.mark.parametrize("env_id", [ENV_ID, COMPOSABLE_ID])
def test_gymnasium_and_sb3_env_checkers_pass(env_id):
    for options in ({}, {"privileged": True, "muscle_force": True, "plane": "vertical"}):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.filterwarnings("ignore", message=r".*Box observation space m\w+ value is -?infinity")
            gym_check_env(gym.make(env_id, **options).unwrapped, skip_render_check=True)
        sb3_check_env(gym.make(env_id, **options), warn=True)


def test_documented_defaults_match_the_config():
    arguments = MuscleArmMultiTaskEnv.__doc__.split("## Arguments")[1].split("## ")[0]
    rows = re.findall(r"^\s*\| `(\w+)`\s*\| ([^|]+?)\s*\|", arguments, flags=re.M)
    documented = {name: default for name, default in rows}
    assert documented.pop("tasks") == "all ten"
    actual = {f.name: f.default for f in dataclasses.fields(ArmMultiTaskConfig)}
    assert actual.pop("tasks") == TASK_NAMES
    assert {name: ast.literal_eval(value) for name, value in documented.items()} == actual


@pytest.mark.parametrize("policy", ["gru", "mlp"])
def test_transfer_trains_only_the_rule_input_weights(tmp_path, policy):
    """Seed 004's transfer: learning a held-out task from a trained run changes, of the actor, only
    the weights from the rule input; the critic learns; the normalizer stays the source's."""
    from test_training import run, tiny_hyperparams, train_args

    from muscle_train import rundir
    from policies.transfer import CRITIC_PREFIXES, input_columns

    source_dir, transfer_dir = tmp_path / "source", tmp_path / "transfer"
    hyperparams = tiny_hyperparams(tmp_path, n_steps=64, batch_size=64, eval_freq=0, policy_kwargs={})
    env = ["--env", ENV_ID, "--env_kwargs", "tasks=[HalfReach,HalfCircleClk]", "delays=[0]", "speeds=[0]"]
    result = run(*train_args(source_dir, hyperparams, *env, "--policy", policy, steps=256))
    assert result.returncode == 0, result.stderr
    args = ["train_sb3.py", "--transfer", str(source_dir), "--env_kwargs", "tasks=[Figure8]"]
    result = run(*args, "--total_timesteps", "512", "--run_dir", str(transfer_dir), "--no_progress")
    assert result.returncode == 0, result.stderr
    # resumed from its checkpoint, a transfer run stays one (the frozen weights stay frozen)
    result = run("train_sb3.py", "--resume", str(transfer_dir), "--total_timesteps", "768", "--no_progress")
    assert result.returncode == 0, result.stderr
    config = rundir.load_config(transfer_dir)
    assert config.transfer == str(source_dir) and config.env_kwargs["tasks"] == ["Figure8"]
    algorithm = rundir.ALGORITHMS[config.algo]
    before, after = (
        algorithm.load(d / rundir.MODEL_FILE, device="cpu").policy for d in (source_dir, transfer_dir)
    )
    weight, columns = input_columns(after, keys.RULE)
    name = next(n for n, p in after.named_parameters() if p is weight)
    learned = dict(after.named_parameters())
    critic_changed = False
    for key, value in before.named_parameters():
        if key.startswith(CRITIC_PREFIXES):
            critic_changed |= not torch.equal(value, learned[key])
        elif key == name:
            others = np.ones(value.shape[1], dtype=bool)
            others[columns] = False
            assert torch.equal(value[:, others], learned[key][:, others]), "only the rule's columns change"
            assert not torch.equal(value[:, columns], learned[key][:, columns]), "the rule's columns learn"
        else:
            assert torch.equal(value, learned[key]), f"{key} is frozen"
    assert critic_changed
    statistics = [json.loads((d / "vec_normalize.json").read_text()) for d in (source_dir, transfer_dir)]
    assert statistics[0]["obs_rms"] == statistics[1]["obs_rms"], "the normalizer is frozen"


def test_bad_transfer_requests_are_refused_in_one_line(tmp_path):
    from test_training import run

    result = run("train_sb3.py", "--transfer", str(tmp_path), "--policy", "gru")
    assert result.returncode == 2 and "drop --policy" in result.stderr, result.stderr
    result = run("train_sb3.py", "--transfer", str(tmp_path / "nothing"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
