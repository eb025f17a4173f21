"""BatchedVecEnv (muscle_envs.vector) and MuscleVectorEnv (muscle_envs.batch): the same episodes as
single envs (DummyVecEnv over the training wrappers; Gymnasium's SyncVectorEnv), step for step, on
any number of physics threads; usable by VecNormalize, PPO and RecurrentPPO."""

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from muscle_envs.batch import MuscleVectorEnv
from muscle_envs.vector import BatchedVecEnv, FastVecNormalize
from muscle_train import envs

# Each option set exercises a different part of the task code over lanes: short holds and a wide
# target (many successes, resets mid-run), delays + noise + place cells + activation (ring buffer,
# per-env random streams), the legs' dict and flat layouts, randomized starts and short episodes
# (falls, successes), pushes (per-env events, applied forces).
# (env id, options, envs, physics threads, steps, whether some episodes succeed in that many steps)
EASY_REACH = {"hold_duration": [0.05, 0.1], "reach_threshold": 0.2, "hold_threshold": 0.25}
ARM_EVERYTHING = {
    **EASY_REACH,
    "muscle_activation": True,
    "target_encoding": "place_cells",
    "proprioceptive_delay": 3,
    "visual_delay": 5,
    "sensory_noise": 0.01,
    "motor_noise": 0.1,
    "effort_weight": 1.0,
    "reach_bonus_every_step": True,
}
LEGS_SHORT = {"obs_layout": "seed003", "randomized_start": True, "episode_steps": 30}
PUSHES = {**LEGS_SHORT, "push_force": 100.0, "push_interval": [0.05, 0.1]}
WALK_SHORT = {"start": "stride", "episode_steps": 30, "success_speed": 0.0}
CASES = [
    ("MuscleArmReach-v0", {}, 3, 1, 400, False),
    ("MuscleArmReach-v0", EASY_REACH, 3, 2, 400, True),
    ("MuscleArm6Reach-v1", ARM_EVERYTHING, 1, 1, 800, True),  # a batch of one: the env itself
    ("MuscleArm6Reach-v1", ARM_EVERYTHING, 3, 2, 300, True),
    ("MyoLegsStand-v0", {}, 3, 2, 120, False),
    ("MyoLegs26Stand-v0", LEGS_SHORT, 3, 1, 120, True),
    ("MyoLegs26Stand-v0", PUSHES, 3, 2, 80, True),
    ("MyoLegs26Stand-v0", PUSHES, 1, 1, 120, True),
    ("MyoLegsWalk-v0", WALK_SHORT, 3, 2, 150, True),
    ("MyoLegs26Walk-v0", {**WALK_SHORT, "push_force": 100.0, "push_interval": [0.05, 0.1]}, 3, 1, 100, True),
    ("MuscleArmMultiTask-v0", {"privileged": True, "delays": [0, 5], "speeds": [0]}, 3, 2, 300, False),
]


def assert_same_observation(expected, actual, what: str) -> None:
    if isinstance(expected, dict):
        assert list(expected) == list(actual), what  # same keys, in the same order
        for key in expected:
            np.testing.assert_array_equal(actual[key], expected[key], err_msg=f"{what}: {key}")
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=what)


@pytest.mark.parametrize("env_id, options, n, n_threads, steps, successes_expected", CASES)
def test_batched_steps_like_dummy_vec_env(env_id, options, n, n_threads, steps, successes_expected):
    """Observations, rewards, episode ends, terminal observations, resets and episode statistics
    equal DummyVecEnv's over envs.make_env (RescaleAction, EpisodeMetrics, Monitor), bit for bit."""
    reference = envs.make_vec_env(env_id, options, n, "dummy", seed=7)
    batched = BatchedVecEnv(env_id, n, options, n_threads=n_threads)
    assert batched.n_threads == n_threads
    batched.seed(7)
    try:
        assert batched.observation_space == reference.observation_space
        assert batched.action_space == reference.action_space
        assert_same_observation(reference.reset(), batched.reset(), "reset")
        rng = np.random.default_rng(0)
        episodes = successes = 0
        for t in range(steps):
            actions = rng.uniform(-1.2, 1.2, (n, *reference.action_space.shape)).astype(np.float32)
            obs, rewards, dones, infos = reference.step(actions)
            b_obs, b_rewards, b_dones, b_infos = batched.step(actions)
            assert_same_observation(obs, b_obs, f"step {t}")
            np.testing.assert_array_equal(b_rewards, rewards, err_msg=f"rewards at step {t}")
            np.testing.assert_array_equal(b_dones, dones, err_msg=f"dones at step {t}")
            for i in np.flatnonzero(dones):
                info, b_info = infos[i], b_infos[i]
                assert_same_observation(
                    info["terminal_observation"], b_info["terminal_observation"], "terminal"
                )
                for key in ("is_success", "TimeLimit.truncated"):
                    assert b_info[key] == info[key], key
                assert b_info["episode"]["l"] == info["episode"]["l"]
                assert b_info["episode"]["r"] == pytest.approx(info["episode"]["r"], abs=2e-6)
                assert b_info["episode_metrics"] == pytest.approx(info["episode_metrics"], nan_ok=True)
                episodes += 1
                successes += info["is_success"]
            assert all(not b_infos[i] for i in np.flatnonzero(~dones)), "info is empty mid-episode"
        assert episodes >= n, "the run must cross episode ends"
        if successes_expected:
            assert successes > 0, "the run must cross successful episode ends too"
    finally:
        reference.close()
        batched.close()


def test_an_unstable_simulation_restarts_in_the_batch_as_alone():
    """A simulation that blows up in a batch ends its episode as a single env's does (truncated,
    physics_unstable, finite observations) and the others carry on untouched."""
    single = [gym.make("MyoLegs26Stand-v0") for _ in range(2)]
    batched = BatchedVecEnv("MyoLegs26Stand-v0", 2, action_range=None)
    batched.seed(0)
    batched.reset()
    for i, env in enumerate(single):
        env.reset(seed=i)
    single[1].unwrapped.plant.data.qvel[:] = 1e12  # what an exploding simulation looks like
    batched.batch.plant.batch.qvel[1] = 1e12
    zeros = np.zeros((2, 26), dtype=np.float32)
    b_obs, _, b_dones, b_infos = batched.step(zeros)
    results = [env.step(zeros[i]) for i, env in enumerate(single)]
    assert results[1][3] and results[1][4]["physics_unstable"]
    assert b_dones.tolist() == [False, True] and b_infos[1]["physics_unstable"]
    assert b_infos[1]["TimeLimit.truncated"] and not b_infos[1]["is_success"]
    assert_same_observation(results[1][0], b_infos[1]["terminal_observation"], "restarted")
    assert_same_observation(results[0][0], {k: v[0] for k, v in b_obs.items()}, "the other env")
    batched.close()


def test_gymnasium_make_vec_steps_like_sync_vector_env():
    """gym.make_vec gives the batch as a Gymnasium VectorEnv, with the episodes of SyncVectorEnv over
    single envs (same-step autoreset), its final observations and per-env info."""
    n = 3
    vector = gym.make_vec("MuscleArmReach-v0", num_envs=n, render_mode="rgb_array", **EASY_REACH)
    assert isinstance(vector.unwrapped, MuscleVectorEnv)
    reference = SyncVectorEnv(
        [lambda: gym.make("MuscleArmReach-v0", **EASY_REACH) for _ in range(n)],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    try:
        assert vector.observation_space == reference.observation_space
        assert vector.action_space == reference.action_space
        obs, info = vector.reset(seed=3)
        r_obs, r_info = reference.reset(seed=3)
        assert_same_observation(r_obs, obs, "reset")
        np.testing.assert_array_equal(info["distance"], r_info["distance"])
        rng, ends = np.random.default_rng(1), 0
        for t in range(250):
            actions = rng.uniform(0, 1, (n, 4)).astype(np.float32)
            obs, rewards, terminated, truncated, info = vector.step(actions)
            r_obs, r_rewards, r_terminated, r_truncated, r_info = reference.step(actions)
            assert_same_observation(r_obs, obs, f"step {t}")
            np.testing.assert_array_equal(rewards, r_rewards)
            np.testing.assert_array_equal(terminated, r_terminated)
            np.testing.assert_array_equal(truncated, r_truncated)
            for key in ("reward_distance", "reward_hold", "is_success", "distance"):
                np.testing.assert_array_equal(info[key], r_info[key], err_msg=key)
            for i in np.flatnonzero(terminated | truncated):
                assert_same_observation(r_info["final_obs"][i], info["final_obs"][i], "final")
                assert info["final_info"]["is_success"][i] == r_info["final_info"]["is_success"][i]
                ends += 1
        assert ends >= n
        assert vector.render().shape == (360, 480, 3)  # env 0's frame
    finally:
        vector.close()
        reference.close()


def test_bad_actions_raise_before_anything_steps():
    venv = BatchedVecEnv("MuscleArmReach-v0", 2, n_threads=2)
    reference = BatchedVecEnv("MuscleArmReach-v0", 2, n_threads=1)
    venv.seed(1)
    reference.seed(1)
    try:
        first = venv.reset()
        assert_same_observation(reference.reset(), first, "reset")
        bad = np.zeros((2, 4), dtype=np.float32)
        bad[1, 2] = np.nan
        with pytest.raises(ValueError, match="env 1 is NaN or inf at entry 2"):
            venv.step(bad)
        with pytest.raises(ValueError, match=r"shape \(4,\); expected \(2, 4\)"):
            venv.step(np.zeros(4))
        with pytest.raises(ValueError, match="numeric"):
            venv.step(np.full((2, 4), "a"))
        good = np.full((2, 4), 0.3, dtype=np.float32)
        assert_same_observation(reference.step(good)[0], venv.step(good)[0], "after the refused actions")
    finally:
        venv.close()
        reference.close()


@pytest.mark.parametrize("env_id", ["MuscleArmReach-v0", "MyoLegsStand-v0"])
def test_step_before_reset_raises_and_observations_keep_the_spaces_key_order(env_id):
    """A step before reset() is refused (as each env does), and the observation's keys come in the
    order of the observation space, as SB3's DummyVecEnv and SubprocVecEnv give them."""
    venv = BatchedVecEnv(env_id, 2)
    reference = envs.make_vec_env(env_id, {}, 2, "dummy", seed=0)
    zeros = np.zeros((2, *venv.action_space.shape), dtype=np.float32)
    try:
        with pytest.raises(gym.error.ResetNeeded):
            venv.step(zeros)
        order = list(reference.reset())
        assert order == list(venv.observation_space.spaces)
        assert list(venv.reset()) == order
        assert list(venv.step(zeros)[0]) == order
    finally:
        venv.close()
        reference.close()


def test_bad_settings_are_refused():
    with pytest.raises(TypeError, match="no option"):
        BatchedVecEnv("MuscleArmReach-v0", 2, {"not_an_option": 1})
    with pytest.raises(ValueError, match="n_envs"):
        BatchedVecEnv("MuscleArmReach-v0", 0)
    with pytest.raises(ValueError, match="n_threads"):
        BatchedVecEnv("MuscleArmReach-v0", 2, n_threads=0)
    with pytest.raises(ValueError, match="num_envs"):
        gym.make_vec("MuscleArmReach-v0", num_envs=0)


def test_env_access_and_monitor_files(tmp_path):
    venv = BatchedVecEnv("MuscleArmReach-v0", 4, EASY_REACH, monitor_dir=tmp_path)
    venv.seed(3)
    try:
        venv.reset()
        targets = venv.get_attr("target")
        assert len(targets) == 4 and len(set(targets)) == 4, "each env has its own target"
        assert venv.get_attr("target", indices=[3]) == targets[3:]
        assert venv.env_method("episode_metrics", indices=[0, 2])[1]["final_distance"] > 0
        hands = [env.unwrapped for env in [gym.make("MuscleArmReach-v0", **EASY_REACH) for _ in range(4)]]
        for i, env in enumerate(hands):
            env.reset(seed=3 + i)
        assert venv.env_method("joint_angles", indices=[1])[0].tolist() == hands[1].joint_angles().tolist()
        lengths = []
        for _ in range(250):
            _, _, dones, infos = venv.step(np.zeros((4, 4), dtype=np.float32))
            lengths += [infos[i]["episode"]["l"] for i in np.flatnonzero(dones)]
    finally:
        venv.close()
    rows = []
    for rank in range(4):
        with open(tmp_path / f"{rank}.monitor.csv") as file:
            assert file.readline().startswith("#{")
            rows += list(csv.DictReader(file))
    assert sorted(int(row["l"]) for row in rows) == sorted(lengths) and len(rows) >= 4


def test_ppo_trains_exactly_as_on_dummy_vec_env():
    """Same episodes, same normalizer arithmetic: PPO's weights after four updates are identical."""
    weights = []
    batched = BatchedVecEnv("MuscleArmReach-v0", 4, EASY_REACH)
    batched.seed(2)
    for venv in (
        VecNormalize(envs.make_vec_env("MuscleArmReach-v0", EASY_REACH, 4, "dummy", seed=2)),
        FastVecNormalize(batched),
    ):
        model = PPO("MultiInputPolicy", venv, n_steps=64, batch_size=128, n_epochs=2, seed=0, device="cpu")
        model.learn(1024)
        weights.append(model.policy.state_dict())
        venv.close()
    for key, value in weights[0].items():
        assert torch.equal(weights[1][key], value), key


def test_recurrent_ppo_trains_under_the_fast_normalizer():
    venv = FastVecNormalize(BatchedVecEnv("MuscleArmReach-v0", 4))
    try:
        model = RecurrentPPO(
            "MultiInputLstmPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu"
        )
        model.learn(1024)  # 256 steps per env: every env crosses the 200-step time limit
        assert model.num_timesteps == 1024
        assert venv.obs_rms["muscle_length"].count > 1024, "the normalizer saw the batch's observations"
        assert len(model.ep_info_buffer) >= 4, "episode statistics reach SB3's logger"
    finally:
        venv.close()


def test_fast_normalizer_matches_vec_normalize_bit_for_bit(tmp_path):
    """Same normalized observations (terminal ones included), rewards and statistics as SB3's
    VecNormalize, with some keys left raw; saved and loaded, it carries on identically."""
    keys = ["muscle_length", "muscle_velocity", "vision", "hold_remaining"]  # target etc. stay raw
    venvs = [BatchedVecEnv("MuscleArmReach-v0", 3, EASY_REACH) for _ in range(2)]
    reference, fast = (
        VecNormalize(venvs[0], norm_obs_keys=keys),
        FastVecNormalize(venvs[1], norm_obs_keys=keys),
    )
    rng, ends = np.random.default_rng(0), 0
    try:
        for venv in (reference, fast):
            venv.seed(5)
        assert_same_observation(reference.reset(), fast.reset(), "reset")
        for t in range(150):
            actions = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
            obs, rewards, dones, infos = reference.step(actions)
            f_obs, f_rewards, f_dones, f_infos = fast.step(actions)
            assert_same_observation(obs, f_obs, f"step {t}")
            assert f_obs["muscle_length"].dtype == np.float32 and f_obs["target"].dtype == np.float64
            np.testing.assert_array_equal(f_rewards, rewards)
            for i in np.flatnonzero(dones):
                assert_same_observation(
                    infos[i]["terminal_observation"], f_infos[i]["terminal_observation"], "end"
                )
                ends += 1
        assert ends > 0 and fast.obs_rms.keys() == reference.obs_rms.keys()
        for key, rms in reference.obs_rms.items():
            np.testing.assert_array_equal(fast.obs_rms[key].mean, rms.mean)
            np.testing.assert_array_equal(fast.obs_rms[key].var, rms.var)
            assert fast.obs_rms[key].count == rms.count
        fast.save(tmp_path / "fast.pkl")
        loaded = VecNormalize.load(tmp_path / "fast.pkl", BatchedVecEnv("MuscleArmReach-v0", 3))
        assert isinstance(loaded, FastVecNormalize)
        obs = {key: value[:1] for key, value in fast.old_obs.items()}
        assert_same_observation(reference.normalize_obs(obs), loaded.normalize_obs(obs), "after loading")
        loaded.close()
    finally:
        reference.close()
        fast.close()
