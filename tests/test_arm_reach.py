"""MuscleArmReach-v0 / MuscleArm6Reach-v1: API contract, task logic, determinism, errors."""

import ast
import dataclasses
import math
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import muscle_envs
from muscle_envs import observations as keys
from muscle_envs.arm_reach import ArmReachConfig, MuscleArmReachEnv, ReachTask
from muscle_envs.lanes import EpisodeState, OneLane

IDS = ["MuscleArmReach-v0", "MuscleArm6Reach-v1"]
PER_STEP_KEYS = (
    keys.VISION,
    keys.MUSCLE_LENGTH,
    keys.MUSCLE_VELOCITY,
    keys.MUSCLE_FORCE,
    keys.HOLD_REMAINING,
)


def rollout(env, seed, n_steps, actions_seed=0):
    """Observations, rewards and infos of ``n_steps`` random-excitation steps (resetting at episode ends)."""
    rng = np.random.default_rng(actions_seed)
    obs, _ = env.reset(seed=seed)
    trace = [(obs, 0.0, {})]
    for _ in range(n_steps):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(0, 1, env.action_space.shape))
        trace.append((obs, reward, info))
        if terminated or truncated:
            obs, _ = env.reset()
    return trace


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {
            "target_encoding": "place_cells",
            "muscle_activation": True,
            "sensory_noise": 0.01,
            "proprioceptive_delay": 2,
        },
    ],
)
def test_gymnasium_and_sb3_env_checkers_pass(env_id, options):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checkers report problems (obs outside space, ...) as warnings
        # ... except this advice, which Gymnasium's own MuJoCo envs draw too: velocities and noisy
        # signals have no honest finite bound.
        warnings.filterwarnings("ignore", message=r".*Box observation space m\w+ value is -?infinity")
        gym_check_env(gym.make(env_id, **options).unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(env_id, **options), warn=True)


def test_registration_is_idempotent_and_sets_a_time_limit():
    muscle_envs.register_envs()
    muscle_envs.register_envs()
    for env_id in IDS:
        assert gym.spec(env_id).max_episode_steps == 200
    assert gym.make("MuscleArm6Reach-v1").unwrapped.plant.n_muscles == 6


def test_step_before_reset_is_an_error():
    env = gym.make("MuscleArmReach-v0")
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(4))


def test_documented_defaults_match_the_config():
    """The Arguments table of the class docstring (the env's manual) states the real defaults."""
    arguments = MuscleArmReachEnv.__doc__.split("## Arguments")[1].split("## ")[0]
    rows = re.findall(r"^\s*\| `(\w+)`\s*\| ([^|]+?)\s*\|", arguments, flags=re.M)
    documented = {name: ast.literal_eval(default) for name, default in rows}
    actual = {f.name: f.default for f in dataclasses.fields(ArmReachConfig)}
    assert documented == actual


@pytest.mark.parametrize("env_id", IDS)
def test_reward_is_the_sum_of_its_terms(env_id):
    env = gym.make(env_id, effort_weight=0.5)
    seen = set()
    for _, reward, info in rollout(env, seed=0, n_steps=300)[1:]:
        terms = {k: v for k, v in info.items() if k.startswith("reward_")}
        assert set(terms) == {
            "reward_distance",
            "reward_reach",
            "reward_hold",
            "reward_success",
            "reward_effort",
        }
        assert reward == pytest.approx(sum(terms.values()), abs=1e-12)
        seen.update(k for k, v in terms.items() if v != 0)
    assert {"reward_distance", "reward_effort"} <= seen


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_and_actions_give_an_identical_trajectory(env_id):
    a = rollout(gym.make(env_id, motor_noise=0.05, sensory_noise=0.01), seed=3, n_steps=250)
    b = rollout(gym.make(env_id, motor_noise=0.05, sensory_noise=0.01), seed=3, n_steps=250)
    for (obs_a, r_a, _), (obs_b, r_b, _) in zip(a, b, strict=True):
        assert r_a == r_b
        for key in obs_a:
            assert np.array_equal(obs_a[key], obs_b[key]), key


def test_start_state_and_target_are_randomized():
    env = gym.make("MuscleArmReach-v0")
    starts, targets = set(), set()
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        starts.add(tuple(np.round(env.unwrapped.joint_angles(), 6)))
        targets.add(tuple(np.round(obs[keys.TARGET], 6)))
        x, z = obs[keys.TARGET]
        assert 0.1 <= x <= 0.6 and 0.3 <= z <= 0.7
        marker = env.unwrapped.plant.data.geom("target").xpos  # what a rendered frame shows
        assert marker[[0, 2]] == pytest.approx((x, z))
        assert np.linalg.norm(obs[keys.VISION] - obs[keys.TARGET]) >= 0.1
    assert len(starts) == 10 and len(targets) == 10


def test_no_observation_element_is_constant():
    """Per-step entries vary within an episode; the target and its place code vary across episodes."""
    env = gym.make("MuscleArmReach-v0", target_encoding="place_cells", muscle_activation=True)
    rng = np.random.default_rng(0)
    episodes = []
    for seed in range(4):
        obs, _ = env.reset(seed=seed)
        steps = [obs]
        for _ in range(60):
            obs, *_ = env.step(rng.uniform(0, 1, env.action_space.shape))
            steps.append(obs)
        episodes.append(steps)
    for key in episodes[0][0]:
        if key in (keys.TARGET, keys.TARGET_PLACE_CELLS, keys.HOLD_REMAINING):
            values = np.array([steps[0][key] for steps in episodes])
        else:
            values = np.array([o[key] for o in episodes[0]])
        assert np.all(np.ptp(values, axis=0) > 0), key


def test_observations_are_fresh_arrays():
    env = gym.make("MuscleArmReach-v0", target_encoding="place_cells")
    first, _ = env.reset(seed=0)
    kept = {k: v.copy() for k, v in first.items()}
    second, *_ = env.step(env.action_space.sample())
    for key in first:
        assert not np.shares_memory(first[key], second[key]), key
        assert np.array_equal(first[key], kept[key]), key


def test_observation_units():
    """Muscle entries are normalized by each muscle's L0 and Fmax; vision is the hand, in metres."""
    env = gym.make("MuscleArm6Reach-v1")
    obs, _ = env.reset(seed=0)
    plant = env.unwrapped.plant
    for _ in range(20):
        obs, *_ = env.step(np.full(6, 0.4))
    np.testing.assert_allclose(obs[keys.MUSCLE_LENGTH], plant.muscle_length(), rtol=1e-12)
    np.testing.assert_allclose(obs[keys.MUSCLE_VELOCITY], plant.muscle_velocity(), rtol=1e-12)
    np.testing.assert_allclose(obs[keys.MUSCLE_FORCE], plant.muscle_force(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(obs[keys.VISION], plant.hand_xz())
    assert np.all((obs[keys.MUSCLE_LENGTH] > 0.4) & (obs[keys.MUSCLE_LENGTH] < 1.7))
    assert np.all(obs[keys.MUSCLE_FORCE] > 0.0) and np.all(obs[keys.MUSCLE_FORCE] < 1.5)


def test_still_arm_with_the_target_at_its_hand_succeeds():
    """The hold is achievable: at a passive equilibrium (arm hanging), zero excitation keeps the hand on
    a target placed there, and the episode ends in success after the hold time."""
    env = gym.make("MuscleArmReach-v0")
    env.reset(seed=0, options={"joint_angles": (-1.45, 0.1)})
    model = env.unwrapped.plant.model
    damping = model.dof_damping.copy()
    model.dof_damping[:] = 5 * damping  # settle quickly where passive muscle forces balance gravity
    for _ in range(1000):
        env.step(np.zeros(4))
        if np.all(np.abs(env.unwrapped.plant.joint_velocities()) < 1e-4):
            break
    model.dof_damping[:] = damping
    rest = env.unwrapped.joint_angles()
    target = env.unwrapped.plant.forward_kinematics(*rest)
    obs, _ = env.reset(seed=1, options={"joint_angles": rest, "target": target, "hold_duration": 0.5})
    assert obs[keys.HOLD_REMAINING][0] == pytest.approx(0.5)
    for step in range(1, 60):
        obs, reward, terminated, truncated, info = env.step(np.zeros(4))
        if terminated:
            break
    assert terminated and not truncated and info["is_success"]
    assert step == 50  # 0.5 s of holding at 10 ms per step
    assert info["reward_success"] == 100.0 and obs[keys.HOLD_REMAINING][0] == 0.0
    metrics = env.unwrapped.episode_metrics()
    assert metrics["reach_time"] == pytest.approx(0.01)  # reached on the first step
    assert metrics["final_distance"] == info["distance"] < 0.03 and metrics["effort"] == 0.0


def test_time_limit_truncates():
    env = gym.make("MuscleArmReach-v0")
    env.reset(seed=0)
    for step in range(1, 201):
        _, _, terminated, truncated, info = env.step(np.zeros(4))
        assert not terminated and not info["is_success"]
    assert truncated and step == 200
    metrics = env.unwrapped.episode_metrics()
    assert np.isnan(metrics["reach_time"]) and metrics["final_distance"] == info["distance"] > 0.03


def discounted(rewards, gamma=0.99):
    return sum(r * gamma**t for t, r in enumerate(rewards))


def task_lanes() -> OneLane:
    """One env's lanes with the reach task's variables and no physics."""
    return OneLane(None, EpisodeState.one(ReachTask.fields), np.random.default_rng)


def task_returns(**options):
    """(succeed, linger) returns of two hand-distance sequences through the task logic, 200 steps at
    10 ms: reach after 20 steps and hold 0.5 s to success; or reach, then drift to 4.5 cm one step
    before every hold would complete, over and over until the time limit."""
    cfg = ArmReachConfig(**options)
    approach = list(np.linspace(0.3, 0.05, 20))
    results = []
    for linger in (False, True):
        task, lanes, rewards = ReachTask(cfg, dt=0.01), task_lanes(), []
        task.reset(lanes.episode, hold_steps=50)
        distances = approach + ([0.02] * 49 + [0.045]) * 4 if linger else approach + [0.02] * 50
        for d in distances[:200]:
            reward, _, success = task.update(lanes, d, 0.0)
            rewards.append(reward)
            if success:
                break
        assert success != linger
        results.append(rewards)
    return [discounted(r) for r in results], [sum(r) for r in results]


def test_completing_the_hold_out_earns_lingering():
    (succeed, linger), (succeed_sum, linger_sum) = task_returns()
    assert succeed > linger and succeed_sum > linger_sum


def test_seed_001_weighting_rewards_lingering():
    """Why the default differs from seed 001: paying the reach bonus every step makes lingering
    worth more than finishing, discounted or not."""
    (succeed, linger), (succeed_sum, linger_sum) = task_returns(reach_bonus_every_step=True)
    assert linger > succeed and linger_sum > succeed_sum


def test_reach_bonus_is_paid_once_by_default():
    task, lanes = ReachTask(ArmReachConfig(), dt=0.01), task_lanes()
    task.reset(lanes.episode, hold_steps=1000)
    reach = ReachTask.terms.index("reward_reach")
    paid = [task.update(lanes, d, 0.0)[1][reach] for d in [0.02, 0.05, 0.02, 0.05, 0.02]]
    assert paid == [5.0, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_raises_and_leaves_the_state_alone(bad):
    env = gym.make("MuscleArmReach-v0")
    env.reset(seed=0)
    env.step(np.full(4, 0.5))
    data = env.unwrapped.plant.data
    before = (data.time, data.qpos.copy(), data.qvel.copy(), data.act.copy(), data.ctrl.copy())
    action = np.array([0.1, bad, 0.3, 0.2], dtype=np.float32)
    with pytest.raises(ValueError, match=r"NaN or inf for muscle\(s\) \['deltoid'\]"):
        env.step(action)
    after = (data.time, data.qpos, data.qvel, data.act, data.ctrl)
    for x, y in zip(before, after, strict=True):
        assert np.array_equal(x, y)


def test_wrong_action_shape_raises():
    env = gym.make("MuscleArmReach-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(6,\); expected \(4,\)"):
        env.step(np.zeros(6))


def test_out_of_range_excitation_is_clipped():
    """2.0 acts as 1.0 and -1.0 as 0.0: the trajectories are identical."""
    a, b = gym.make("MuscleArmReach-v0"), gym.make("MuscleArmReach-v0")
    a.reset(seed=4)
    b.reset(seed=4)
    for _ in range(30):
        obs_a, *_ = a.step(np.array([2.0, -1.0, 5.0, -0.5]))
        obs_b, *_ = b.step(np.array([1.0, 0.0, 1.0, 0.0]))
    assert np.array_equal(obs_a[keys.MUSCLE_LENGTH], obs_b[keys.MUSCLE_LENGTH])


def test_unknown_or_invalid_options_are_errors():
    with pytest.raises(TypeError, match="no option"):
        gym.make("MuscleArmReach-v0", reach_treshold=0.05)
    with pytest.raises(ValueError, match="target_encoding"):
        gym.make("MuscleArmReach-v0", target_encoding="grid")
    with pytest.raises(ValueError, match="hold_threshold"):
        gym.make("MuscleArmReach-v0", reach_threshold=0.05, hold_threshold=0.04)
    with pytest.raises(FileNotFoundError, match="available"):
        gym.make("MuscleArmReach-v0", model="arm5")
    env = gym.make("MuscleArmReach-v0")
    with pytest.raises(ValueError, match="out of the arm's reach"):
        env.reset(seed=0, options={"target": (2.0, 0.5)})


def test_options_shape_the_observation():
    env = gym.make(
        "MuscleArmReach-v0",
        vision=False,
        muscle_activation=True,
        target_encoding="place_cells",
        place_cell_grid=[4, 5],
    )
    obs, _ = env.reset(seed=0)
    assert keys.VISION not in obs
    assert obs[keys.MUSCLE_ACTIVATION].shape == (4,)
    cells = obs[keys.TARGET_PLACE_CELLS]
    assert cells.shape == (20,) and np.all((cells >= 0) & (cells <= 1))
    centres = env.unwrapped.place_cell_centres
    nearest = np.argmin(np.linalg.norm(centres - obs[keys.TARGET], axis=1))
    assert np.argmax(cells) == nearest


def test_flatten_observation_works_for_mlp_policies():
    from stable_baselines3 import PPO

    env = gym.wrappers.FlattenObservation(gym.make("MuscleArmReach-v0"))
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape == (4 * 3 + 2 + 1 + 2,)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0)
    action, _ = model.predict(obs, deterministic=True)
    env.step(action)


def test_sensory_delay_shows_the_past():
    """With delays of 3 (muscles) and 5 (vision) steps, a delayed env shows what an undelayed twin
    showed 3 and 5 steps earlier; the physics is the same."""
    now, late = (
        gym.make("MuscleArmReach-v0"),
        gym.make("MuscleArmReach-v0", proprioceptive_delay=3, visual_delay=5),
    )
    history = [now.reset(seed=2)[0]]
    delayed = [late.reset(seed=2)[0]]
    rng = np.random.default_rng(0)
    for _ in range(12):
        u = rng.uniform(0, 1, 4)
        history.append(now.step(u)[0])
        delayed.append(late.step(u)[0])
    for t in range(len(history)):
        assert np.array_equal(delayed[t][keys.MUSCLE_LENGTH], history[max(t - 3, 0)][keys.MUSCLE_LENGTH])
        assert np.array_equal(delayed[t][keys.VISION], history[max(t - 5, 0)][keys.VISION])
        assert delayed[t][keys.HOLD_REMAINING] == history[t][keys.HOLD_REMAINING]


def test_sensory_noise_changes_observations_not_physics():
    clean, noisy = gym.make("MuscleArmReach-v0"), gym.make("MuscleArmReach-v0", sensory_noise=0.05)
    clean.reset(seed=1)
    noisy.reset(seed=1)
    for _ in range(10):
        obs_c, *_ = clean.step(np.full(4, 0.3))
        obs_n, *_ = noisy.step(np.full(4, 0.3))
    assert np.array_equal(clean.unwrapped.plant.data.qpos, noisy.unwrapped.plant.data.qpos)
    diff = obs_n[keys.MUSCLE_LENGTH] - obs_c[keys.MUSCLE_LENGTH]
    assert np.all(diff != 0) and np.all(np.abs(diff) < 0.25)
    assert np.array_equal(obs_n[keys.TARGET], obs_c[keys.TARGET])


def test_motor_noise_perturbs_the_movement():
    clean, noisy = gym.make("MuscleArmReach-v0"), gym.make("MuscleArmReach-v0", motor_noise=0.2)
    clean.reset(seed=1)
    noisy.reset(seed=1)
    for _ in range(10):
        clean.step(np.full(4, 0.3))
        noisy.step(np.full(4, 0.3))
    assert not np.array_equal(clean.unwrapped.plant.data.qpos, noisy.unwrapped.plant.data.qpos)


def test_rgb_array_rendering_shows_the_arm():
    env = gym.make("MuscleArmReach-v0", render_mode="rgb_array", render_size=(160, 120))
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
    assert frame.std() > 10  # not blank
    for _ in range(20):
        env.step(np.array([1.0, 0.0, 1.0, 0.0]))
    assert np.abs(env.render().astype(int) - frame).mean() > 0.5  # the arm moved on screen
    env.close()


def test_unknown_render_mode_is_an_error():
    with pytest.raises(ValueError, match="render_mode"):
        MuscleArmReachEnv(render_mode="rgb")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target": (0.3, 0.5), "hold_duration": math.nan}, "hold_duration must be a finite positive"),
        ({"hold_duration": math.inf}, "hold_duration must be a finite positive"),
        ({"hold_duration": -0.1}, "hold_duration must be a finite positive"),
        ({"joint_angles": (math.nan, math.nan)}, "joint_angles must be two finite numbers"),
        ({"joint_angles": (0.0, 3.0)}, "joint_angles (0.0, 3.0) is outside the joint range"),
        ({"target": (0.3, 0.5, 0.1)}, "target must be two finite numbers"),
        ({"target": "far"}, "target must be two finite numbers"),
        ({"target": (2.0, 0.5)}, "out of the arm's reach"),
        ({"speed": 1}, "unknown reset option(s) ['speed']"),
    ],
)
def test_a_bad_reset_option_changes_nothing_and_leaves_the_env_needing_a_reset(options, message):
    env = gym.make("MuscleArmReach-v0")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    plant = env.unwrapped.plant
    state = (plant.data.qpos.copy(), plant.data.qvel.copy(), env.unwrapped.target)
    with pytest.raises(ValueError) as caught:
        env.reset(seed=1, options=options)
    assert message in str(caught.value)
    assert np.array_equal(plant.data.qpos, state[0]) and np.array_equal(plant.data.qvel, state[1])
    assert env.unwrapped.target == state[2]  # the reward's target did not move either
    with pytest.raises(gym.error.ResetNeeded):
        env.step(env.action_space.sample())
    env.reset(seed=1)  # a good reset makes it usable again
    env.step(env.action_space.sample())
