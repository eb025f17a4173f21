"""MyoLegsStand-v0 / MyoLegs26Stand-v0: the MyoLeg plant and the standing task."""

import ast
import dataclasses
import re
import warnings

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from conftest import fresh_forward
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import muscle_envs  # noqa: F401  (registers the ids)
from muscle_envs import observations as keys
from muscle_envs.legs_stand import LegsStandConfig, MyoLegsStandEnv
from muscle_envs.plants.legs import SIDES, LegsPlant, lowest_point

IDS = ["MyoLegsStand-v0", "MyoLegs26Stand-v0"]


@pytest.fixture(scope="module")
def plant():
    return LegsPlant("myolegs")


def run(env, seed, steps, action):
    obs, _ = env.reset(seed=seed)
    trace = [(obs, 0.0, False, False, {})]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(action(env))
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return trace


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("layout", ["dict", "seed003"])
def test_gymnasium_and_sb3_env_checkers_pass(env_id, layout):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=r".*Box observation space m\w+ value is -?infinity")
        gym_check_env(gym.make(env_id, obs_layout=layout).unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(env_id, obs_layout=layout), warn=True)


def test_documented_defaults_match_the_config():
    arguments = MyoLegsStandEnv.__doc__.split("## Arguments")[1].split("## ")[0]
    rows = re.findall(r"^\s*\| `(\w+)`\s*\| ([^|]+?)\s*\|", arguments, flags=re.M)
    documented = {name: ast.literal_eval(default) for name, default in rows}
    assert documented == {f.name: f.default for f in dataclasses.fields(LegsStandConfig)}


def test_standing_pose_puts_both_feet_flat_on_the_floor(plant):
    plant.set_state(plant.standing_qpos)
    model, data = plant.model, plant.data
    for side in SIDES:
        heel = lowest_point(model, data, plant._heel_geoms[side])
        toes = lowest_point(model, data, plant._toe_geoms[side])
        assert abs(heel) < 1e-6 and abs(toes) < 1e-6, (side, heel, toes)
    assert plant.pelvis_tilt() < 1e-6
    assert 0.85 < plant.standing_pelvis_height < 1.05
    assert np.all(plant.foot_load() > 0.2)  # both feet carry weight at once


def test_documented_holding_activation_keeps_the_stance_for_half_a_second(plant):
    """From the standing pose, the constant holding activation keeps both feet loaded, the pelvis
    within 2 cm of its height and tilted less than 0.05 rad after 0.5 s (zero activation: see
    test_zero_activation_falls_and_terminates)."""
    activation = plant.holding_activation()
    assert activation.shape == (80,) and np.all((activation >= 0) & (activation <= 1))
    plant.set_state(plant.standing_qpos, activation=activation)
    start = plant.pelvis_height()
    for _ in range(50):
        plant.step(activation)
    assert np.all(plant.foot_load() > 0.1)
    assert abs(plant.pelvis_height() - start) < 0.02
    assert plant.pelvis_tilt() < 0.05
    assert plant.warnings() == {}


def test_excitation_varying_about_its_mean_holds_activation_above_it(plant):
    """The manual's Action Space: activation rises 4x faster than it falls, so an excitation alternating
    0.3 +- 0.1 every control step settles at a mean activation above 0.3 (a constant 0.3 settles at
    0.3). Symmetric dynamics would give 0.3 in both cases."""
    plant.set_state(plant.standing_qpos, activation=np.full(80, 0.3))
    for _ in range(20):
        plant.step(np.full(80, 0.3))
    assert np.allclose(plant.muscle_activation(), 0.3, atol=1e-3)
    trace = []
    for k in range(100):
        plant.step(np.full(80, 0.3 + (0.1 if k % 2 else -0.1)))
        trace.append(plant.muscle_activation().copy())
    assert np.mean(trace[50:]) > 0.31


def test_reset_starts_standing_with_both_feet_in_contact():
    env = gym.make("MyoLegsStand-v0")
    heights = set()
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        assert np.all(obs[keys.FOOT_CONTACT] > env.unwrapped.config.contact_threshold)
        heights.add(round(info["pelvis_height"], 6))
        assert info["pelvis_height"] == pytest.approx(env.unwrapped.plant.standing_pelvis_height, abs=0.03)
    assert len(heights) == 5  # the start pose is randomized


@pytest.mark.parametrize("env_id", IDS)
def test_zero_activation_falls_and_terminates(env_id):
    env = gym.make(env_id)
    trace = run(env, seed=0, steps=300, action=lambda env: np.zeros(env.action_space.shape))
    *_, (obs, _, terminated, truncated, info) = trace
    assert terminated and not truncated and not info["is_success"]
    assert len(trace) < 300
    metrics = env.unwrapped.episode_metrics()
    assert metrics["stand_duration"] == pytest.approx((len(trace) - 1) * 0.01)
    heights = [step[4]["pelvis_height"] for step in trace[1:]]
    assert metrics["pelvis_height"] == pytest.approx(np.mean(heights)) and metrics["effort"] == 0.0


@pytest.mark.parametrize("env_id", IDS)
def test_reward_is_the_sum_of_its_terms(env_id):
    rng = np.random.default_rng(0)
    env = gym.make(env_id)
    for _, reward, _, _, info in run(env, 0, 200, lambda e: rng.uniform(0, 0.3, e.action_space.shape))[1:]:
        terms = {k: v for k, v in info.items() if k.startswith("reward_")}
        assert len(terms) == 6
        assert reward == pytest.approx(sum(terms.values()), abs=1e-12)


def test_same_seed_and_actions_give_an_identical_trajectory():
    def trajectory():
        rng = np.random.default_rng(1)
        env = gym.make("MyoLegsStand-v0", randomized_start=True, push_force=50.0, push_interval=(0.05, 0.1))
        return run(env, 7, 60, lambda e: rng.uniform(0, 0.4, e.action_space.shape))

    for (obs_a, r_a, *_), (obs_b, r_b, *_) in zip(trajectory(), trajectory(), strict=True):
        assert r_a == r_b
        for key in obs_a:
            assert np.array_equal(obs_a[key], obs_b[key]), key


def test_seed003_layout_has_123_entries_in_the_documented_order():
    rng_a, rng_b = np.random.default_rng(2), np.random.default_rng(2)
    flat = gym.make("MyoLegsStand-v0", obs_layout="seed003")
    full = gym.make("MyoLegsStand-v0")
    vectors = run(flat, 3, 20, lambda e: rng_a.uniform(0, 0.3, 80))
    dicts = run(full, 3, 20, lambda e: rng_b.uniform(0, 0.3, 80))
    for (v, *_), (d, *_) in zip(vectors, dicts, strict=True):
        assert v.shape == (123,)
        np.testing.assert_array_equal(v[0:14], d[keys.JOINT_POSITION])
        np.testing.assert_array_equal(v[14:28], d[keys.JOINT_VELOCITY])
        np.testing.assert_array_equal(v[28:35], d[keys.PELVIS_POSE])
        np.testing.assert_array_equal(v[35:41], d[keys.PELVIS_VELOCITY])
        np.testing.assert_array_equal(v[41:43], (d[keys.FOOT_CONTACT] > 0.05).astype(float))
        np.testing.assert_array_equal(v[43:123], d[keys.MUSCLE_ACTIVATION])


def test_observations_are_the_current_state_contact_forces_included(plant):
    """After a step, every sensor (foot touch included) equals a fresh mj_forward of the state, and
    the trajectory is bit-identical to plain mj_step."""
    model = plant.model
    plant.set_state(plant.standing_qpos)
    reference = mujoco.MjData(model)
    reference.qpos[:] = plant.data.qpos
    mujoco.mj_forward(model, reference)
    rng = np.random.default_rng(0)
    for _ in range(20):
        u = rng.uniform(0, 0.3, plant.n_muscles)
        plant.step(u)
        reference.ctrl[:] = u
        mujoco.mj_step(model, reference, nstep=plant.frame_skip)
        for name in ("qpos", "qvel", "act", "qacc_warmstart"):
            assert np.array_equal(getattr(plant.data, name), getattr(reference, name)), name
        fresh = fresh_forward(plant)
        np.testing.assert_allclose(plant.data.sensordata, fresh.sensordata, rtol=1e-9, atol=1e-9)
    assert plant.foot_load().sum() > 0.5  # the touch sensors were live


def test_a_push_between_steps_acts_from_the_next_substep(plant):
    """step() reuses the constraint forces the last step computed; a push changes them, and the
    trajectory stays bit-identical to plain mj_step with the same applied force."""
    model = plant.model
    plant.set_state(plant.standing_qpos)
    reference = mujoco.MjData(model)
    reference.qpos[:] = plant.data.qpos
    mujoco.mj_forward(model, reference)
    pelvis = model.body("pelvis").id
    for k in range(6):
        force = np.array([200.0, -100.0, 0.0]) if k in (2, 3) else np.zeros(3)
        plant.push_pelvis(force)
        reference.xfrc_applied[pelvis, :3] = force
        u = np.full(plant.n_muscles, 0.2)
        plant.step(u)
        reference.ctrl[:] = u
        mujoco.mj_step(model, reference, nstep=plant.frame_skip)
        assert np.array_equal(plant.data.qvel, reference.qvel), f"step {k}"


@pytest.mark.parametrize("env_id", IDS)
def test_thousand_steps_of_random_activation_raise_no_mujoco_warning(env_id):
    """Falls switched off, the body flails on the floor for 10 s: the simulation stays sane."""
    env = gym.make(env_id, fall_height=0.01, fall_tilt=3.2)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(1000):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(0, 1, env.action_space.shape))
        assert not info["physics_unstable"]
    assert env.unwrapped.plant.warnings() == {}
    assert all(np.all(np.isfinite(v)) for v in obs.values())


def test_instability_ends_the_episode_with_finite_observations():
    env = gym.make("MyoLegsStand-v0")
    env.reset(seed=0)
    env.unwrapped.plant.data.qvel[:] = 1e12  # what an exploding simulation looks like
    obs, reward, terminated, truncated, info = env.step(np.zeros(80))
    assert truncated and not terminated and info["physics_unstable"] and not info["is_success"]
    assert all(np.all(np.isfinite(v)) for v in obs.values()) and np.isfinite(reward)


def test_pushes_are_applied_and_recorded():
    """A 300 N push for 50 ms, starting at 50 ms, changes the pelvis's horizontal velocity by about
    F t / m = 0.2 m/s against an unpushed twin that started identically; info records the force."""
    pushed = run(
        gym.make("MyoLegsStand-v0", push_force=300.0, push_interval=(0.05, 0.05), push_duration=0.05),
        0,
        10,
        lambda env: np.full(80, 0.1),
    )
    calm = run(gym.make("MyoLegsStand-v0"), 0, 10, lambda env: np.full(80, 0.1))
    forces = [info["push_force"] for *_, info in pushed[1:]]
    assert forces == [0.0] * 5 + [300.0] * 5

    def horizontal_velocity(trace, step):
        return trace[step][0][keys.PELVIS_VELOCITY][:2]

    assert np.array_equal(horizontal_velocity(pushed, 5), horizontal_velocity(calm, 5))
    change = np.linalg.norm(horizontal_velocity(pushed, 10) - horizontal_velocity(calm, 10))
    assert 0.05 < change < 0.5

    # scaled by half (a curriculum's set_push_scale): the same push at the same time, half as strong
    def half(env):
        env.unwrapped.set_push_scale(0.5)
        return np.full(80, 0.1)

    halved = run(
        gym.make("MyoLegsStand-v0", push_force=300.0, push_interval=(0.05, 0.05), push_duration=0.05),
        0,
        10,
        half,
    )
    assert [info["push_force"] for *_, info in halved[1:]] == [0.0] * 5 + [150.0] * 5
    half_change = horizontal_velocity(halved, 10) - horizontal_velocity(calm, 10)
    assert np.linalg.norm(half_change) == pytest.approx(change / 2, rel=0.1)
    for bad in (-0.1, 1.5, float("nan"), "half"):
        with pytest.raises(ValueError, match="push scale must be a number in \\[0, 1\\]"):
            gym.make("MyoLegsStand-v0").unwrapped.set_push_scale(bad)


def test_standing_to_the_limit_truncates_with_success():
    """With falls out of reach of the thresholds, the episode runs to the 1000-step limit and ends
    truncated with success (a fall ends it without: test_zero_activation_falls_and_terminates)."""
    env = gym.make("MyoLegsStand-v0", fall_height=0.01, fall_tilt=3.2)
    env.reset(seed=0)
    for _ in range(1000):
        *_, terminated, truncated, info = env.step(np.zeros(80))
        assert not terminated and not info["is_success"] or truncated
    assert truncated and info["is_success"]
    assert env.unwrapped.episode_metrics()["stand_duration"] == pytest.approx(10.0)


def test_bad_actions_and_order_are_errors():
    env = gym.make("MyoLegsStand-v0")
    with pytest.raises(gym.error.ResetNeeded):
        env.step(np.zeros(80))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.full(80, np.nan))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(26))
    with pytest.raises(ValueError, match="obs_layout"):
        gym.make("MyoLegsStand-v0", obs_layout="flat")
