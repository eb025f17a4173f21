"""MyoLegsWalk-v0 / MyoLegs26Walk-v0: ground reaction forces, gait events and metrics, the rewards."""

import ast
import dataclasses
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import muscle_envs  # noqa: F401  (registers the ids)
from muscle_analysis.gait import cycles, gait_events
from muscle_envs import observations as keys
from muscle_envs.energetics import Umberger2003
from muscle_envs.legs_walk import LegsWalkConfig, MyoLegsWalkEnv, gait_summary

IDS = ["MyoLegsWalk-v0", "MyoLegs26Walk-v0"]


def walk_env(**options) -> MyoLegsWalkEnv:
    return gym.make("MyoLegsWalk-v0", **options).unwrapped


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_and_sb3_env_checkers_pass(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=r".*Box observation space m\w+ value is -?infinity")
        gym_check_env(gym.make(env_id).unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(env_id), warn=True)


def test_documented_defaults_match_the_config():
    arguments = MyoLegsWalkEnv.__doc__.split("## Arguments")[1].split("## ")[0]
    rows = re.findall(r"^\s*\| `(\w+)`\s*\| ([^|]+?)\s*\|", arguments, flags=re.M)
    documented = {name: ast.literal_eval(default) for name, default in rows}
    assert documented == {f.name: f.default for f in dataclasses.fields(LegsWalkConfig)}


def test_a_body_standing_still_carries_one_body_weight_on_its_feet():
    """The ground reaction forces, summed over both feet, hold the body up: ~1 body weight upward and
    little sideways, with the holding activation at rest on the flat floor."""
    env = walk_env(joint_noise=0.0)
    env.reset(seed=0)
    hold = env.holding_excitation()
    for _ in range(40):
        obs, *_ = env.step(hold)
    grf = obs[keys.GROUND_REACTION_FORCE].reshape(2, 3)
    total = grf.sum(0)
    assert total[2] == pytest.approx(1.0, abs=0.05), grf
    assert np.all(grf[:, 2] > 0.2)  # both feet loaded
    assert np.hypot(total[0], total[1]) < 0.05
    # the vertical force is the foot's load that the touch sensors report (MyoLegsStand-v0's)
    np.testing.assert_allclose(grf[:, 2], obs[keys.FOOT_CONTACT], atol=0.02)


@pytest.mark.parametrize("env_id", IDS)
def test_reward_is_the_sum_of_its_terms_and_the_run_is_deterministic(env_id):
    def run(seed):
        env = gym.make(env_id, start="stride")
        env.reset(seed=seed)
        rng, trace = np.random.default_rng(1), []
        for _ in range(60):
            obs, reward, terminated, truncated, info = env.step(rng.uniform(0, 1, env.action_space.shape))
            terms = [info[name] for name in env.unwrapped.reward_terms]
            assert reward == pytest.approx(sum(terms), abs=1e-12)
            trace.append((reward, obs[keys.GROUND_REACTION_FORCE].copy()))
            if terminated or truncated:
                break
        return trace, env.unwrapped.episode_metrics()

    (first, metrics), (second, again) = run(3), run(3)
    assert len(first) == len(second)
    for (r1, g1), (r2, g2) in zip(first, second, strict=True):
        assert r1 == r2
        np.testing.assert_array_equal(g1, g2)
    assert metrics == pytest.approx(again, nan_ok=True)


def test_gait_events_from_a_scripted_contact_sequence():
    force = np.array([0.5, 0.5, 0.0, 0.0, 0.02, 0.3, 1.1, 0.9, 0.04, 0.0, 0.6, 0.6])
    events = gait_events(force, threshold=0.05)
    np.testing.assert_array_equal(events.strikes, [5, 10])
    np.testing.assert_array_equal(events.toe_offs, [2, 8])
    # a cycle from strike to strike, resampled onto 0..100%: its ends are the strikes' values
    over = cycles(np.arange(12.0), events.strikes, points=11)
    assert over.shape == (1, 11, 1)
    np.testing.assert_allclose(over[0, :, 0], np.linspace(5, 10, 11))


def test_gait_summary_of_a_synthetic_walk():
    """Two feet striking every 1.1 s, 1.3 m apart, loaded 60% of each cycle."""
    summary = gait_summary(
        strikes=np.array([5, 5]),
        first_strike=np.array([0.5, 1.05]),
        last_strike=np.array([4.9, 5.45]),  # 4 strides of 1.1 s
        first_position=np.array([0.2, 0.85]),
        last_position=np.array([5.4, 6.05]),  # 4 strides of 1.3 m
        stance_at_last=np.array([0.6 * 4.4, 0.5 * 4.4]),
    )
    assert summary["steps"] == 10
    assert summary["cadence"] == pytest.approx(120 / 1.1)
    assert summary["stride_length"] == pytest.approx(1.3)
    assert summary["stance_fraction"] == pytest.approx(0.55)
    assert summary["symmetry_index"] == pytest.approx(100 * 0.1 / 0.55)
    few = gait_summary(np.array([1, 0]), *(np.zeros(2) for _ in range(5)))
    assert few["steps"] == 1 and np.isnan(few["cadence"]) and np.isnan(few["stance_fraction"])
    one_foot = gait_summary(
        np.array([3, 1]),
        *(np.array([0.0, 1.0]), np.array([2.0, 1.0])),
        *(np.zeros(2),) * 2,
        np.array([1.2, 0.0]),
    )
    assert one_foot["cadence"] == pytest.approx(120.0) and one_foot["stance_fraction"] == pytest.approx(0.6)
    assert np.isnan(one_foot["symmetry_index"])


def test_online_gait_tracking_agrees_with_the_recorded_forces_and_the_work_with_the_muscles():
    """The env's strike count equals gait_events on its own recorded vertical forces, and its positive
    work equals the sum of max(0, tension x shortening speed) dt over MuJoCo's actuator arrays."""
    env = walk_env(start="stride")
    obs, _ = env.reset(seed=5)
    rng = np.random.default_rng(2)
    forces, work, plant = [obs[keys.GROUND_REACTION_FORCE]], 0.0, env.plant
    muscles = plant._index
    for _ in range(200):
        obs, _, terminated, truncated, _ = env.step(rng.uniform(0, 0.6, env.action_space.shape))
        forces.append(obs[keys.GROUND_REACTION_FORCE])
        power = plant.data.actuator_force[muscles] * plant.data.actuator_velocity[muscles]  # both < 0
        work += np.maximum(power, 0.0).sum() * env.dt
        if terminated or truncated:
            break
    forces = np.array(forces)
    metrics = env.episode_metrics()
    strikes = sum(len(gait_events(forces[:, 3 * side + 2], 0.05).strikes) for side in (0, 1))
    assert strikes >= 2 and metrics["steps"] == strikes
    assert metrics["positive_work"] == pytest.approx(work, rel=1e-9)
    if metrics["distance"] >= 0.05:
        assert metrics["cost_of_transport"] == pytest.approx(work / (plant.body_weight * metrics["distance"]))


def lift_and_drop(env, hold, forward: float) -> tuple[float, float]:
    """Lift the right foot (knee bent, the body as it was), let it hang two steps, then put the body
    back standing, ``forward`` m further on (m, -y), and step: (footstep reward, strikes added)."""
    plant = env.plant
    qpos = plant.standing_qpos.copy()
    qpos[plant.model.joint("knee_angle_r").qposadr[0]] = 1.2
    plant.set_state(qpos, activation=hold)
    for _ in range(2):
        _, _, _, _, info = env.step(hold)
    assert env.lanes.episode.loaded[0] == 0  # the right foot is off the ground
    before = env.episode_metrics()["steps"]
    qpos = plant.standing_qpos.copy()
    qpos[plant.root_qpos + 1] -= forward
    plant.set_state(qpos, activation=hold)
    _, _, _, _, info = env.step(hold)
    return info["reward_footstep"], env.episode_metrics()["steps"] - before


def test_dropping_a_leg_in_place_earns_nothing_and_progress_does():
    """Seed 002's exploit: a foot lifted and put down where it was is a heel strike but no progress,
    so the footstep term pays nothing, again and again; put down 0.3 m on, it pays 0.3 x weight."""
    env = walk_env(joint_noise=0.0, footstep_weight=2.0)
    env.reset(seed=0)
    hold = env.holding_excitation()
    paid = [lift_and_drop(env, hold, forward=0.0) for _ in range(3)]
    assert all(strikes == 1 for _, strikes in paid)  # each drop is a heel strike ...
    assert sum(reward for reward, _ in paid) < 0.02  # ... that earns (next to) nothing
    reward, strikes = lift_and_drop(env, hold, forward=0.3)
    assert strikes == 1 and reward == pytest.approx(2.0 * 0.3, abs=0.02)


def test_walking_the_full_episode_fast_enough_is_success():
    """Truncation after episode_steps with success only at ``success_speed`` or faster: the body is
    carried forward by resetting its pelvis each step (a test device, not physics)."""
    for speed, expected in ((1.0, True), (0.3, False)):
        env = walk_env(episode_steps=20, success_speed=0.8, fall_tilt=3.0, fall_height=0.01)
        env.reset(seed=0)
        hold = env.holding_excitation()
        start = env.plant.data.qpos[env.plant.root_qpos + 1]
        for step in range(1, 21):
            qpos, qvel = env.plant.data.qpos.copy(), env.plant.data.qvel.copy()
            qpos[env.plant.root_qpos + 1] = start - speed * step * env.dt
            env.plant.set_state(qpos, qvel, activation=hold)
            _, _, terminated, truncated, info = env.step(hold)
        assert truncated and not terminated and info["is_success"] is expected
        assert env.episode_metrics()["speed"] == pytest.approx(speed, abs=0.05)


def test_the_energy_model_uses_mujocos_own_muscle_curves():
    """The vectorized force-length and passive curves are MuJoCo's (mju_muscleGain, mju_muscleBias),
    for every MyoLeg muscle over the whole length range."""
    import mujoco

    plant = walk_env().plant
    model = Umberger2003(plant)
    for k, i in enumerate(plant.muscle_ids):
        lengths = np.linspace(0.2, 2.2, 45)
        gain, bias = [], []
        for x in lengths:
            actuator_length = plant.tendon_slack_length[k] + x * plant.optimal_fiber_length[k]
            args = (plant.model.actuator_lengthrange[i].copy(), float(plant.model.actuator_acc0[i]))
            gain.append(
                -mujoco.mju_muscleGain(
                    actuator_length, 0.0, *args, plant.model.actuator_gainprm[i, :9].copy()
                )
            )
            bias.append(
                -mujoco.mju_muscleBias(actuator_length, *args, plant.model.actuator_biasprm[i, :9].copy())
            )
        column = np.repeat(lengths[:, None], plant.n_muscles, 1)
        np.testing.assert_allclose(
            model.active_force_length(column)[:, k], np.array(gain) / model.peak_force[k], atol=1e-12
        )
        np.testing.assert_allclose(
            model.passive_force(column)[:, k], np.array(bias) / model.peak_force[k], atol=1e-12
        )


def test_umberger_heat_rates_at_known_states():
    """Umberger et al. (2003), half slow-twitch fibres, per kg of muscle: 1 W/kg at rest (the floor),
    1.5 x (64 + 25) when fully active and isometric at the optimal length, plus the shortening heat
    and the contractile element's work when shortening at 1 optimal length per second, plus the
    lengthening heat (less the work done on it) when lengthening."""
    plant = walk_env().plant
    model = Umberger2003(plant)
    ones, zeros = np.ones(plant.n_muscles), np.zeros(plant.n_muscles)
    mass, work = model.mass, model.peak_force * model.optimal_length  # W per (peak force x L0/s)
    np.testing.assert_allclose(model.power(zeros, zeros, ones, zeros, zeros), mass * 1.0)
    active = 1.5 * (128 * 0.5 + 25)
    np.testing.assert_allclose(model.power(ones, ones, ones, zeros, ones), mass * active)
    shortening = 1.5 * (100 / 4.8 * 0.5 + 153 / 12 * 0.5)
    np.testing.assert_allclose(
        model.power(ones, ones, ones, -ones, ones), mass * (active + shortening) + work
    )
    lengthening = 1.5 * 4 * 100 / 4.8
    np.testing.assert_allclose(
        model.power(ones, ones, ones, ones, ones), mass * (active + lengthening) - work
    )
    # excitation below activation: their mean drives the heat (A = 0.5 here)
    half = np.full(plant.n_muscles, 0.5)
    np.testing.assert_allclose(model.power(zeros, ones, ones, zeros, half), mass * active * 0.5**0.6)
    # excitations beyond [0, 1] count as MuJoCo applies them: clamped
    np.testing.assert_array_equal(
        model.power(2 * ones, ones, ones, zeros, ones), model.power(ones, ones, ones, zeros, ones)
    )
    np.testing.assert_array_equal(
        model.power(-ones, zeros, ones, zeros, zeros), model.power(zeros, zeros, ones, zeros, zeros)
    )
    assert 15 < mass.sum() < 25  # kg of leg muscle, from the peak forces


def test_walking_env_metabolic_energy_of_idle_muscles_is_the_floor_rate():
    """Zero excitation from zero activation: no active force, no work, only the 1 W/kg floor of every
    muscle, so the episode's metabolic energy is exactly muscle mass x 1 W/kg x its time."""
    env = walk_env()
    env.reset(seed=0)
    for _ in range(10):
        env.step(np.zeros(env.action_space.shape))
    expected = Umberger2003(env.plant).mass.sum() * 1.0 * 10 * env.dt
    assert env.episode_metrics()["metabolic_energy"] == pytest.approx(expected, rel=1e-9)
