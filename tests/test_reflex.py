"""The reflex controller (Song & Geyer 2015) for the MyoLeg: its groups, its stance and swing laws,
and the policy that PPO trains and CMA-ES tunes."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv
from test_training import run

import muscle_envs  # noqa: F401  (registers the envs)
from muscle_train.trainers.evolution import actor_parameters
from policies import policy_spec
from policies.reflex import GROUPS, NAMES, SongGeyerReflexes, group_of

SMALL_LEGS = "MyoLegs26Walk-v0"  # 13 muscles per leg: one or two per group


def names_of(env_id: str) -> tuple[str, ...]:
    env = gym.make(env_id)
    names = env.unwrapped.muscle_names
    env.close()
    return names


@pytest.mark.parametrize("env_id", ["MyoLegsWalk-v0", SMALL_LEGS])
def test_every_myoleg_muscle_is_in_one_group_of_its_leg(env_id):
    names = names_of(env_id)
    placed = [group_of(name) for name in names]
    right = sorted(g for leg, g in placed if leg == 0)
    left = sorted(g for leg, g in placed if leg == 1)
    assert right == left and set(right) == set(range(len(GROUPS)))  # both legs, every group
    assert group_of("soleus_l") == (1, NAMES.index("SOL"))
    with pytest.raises(ValueError, match="'biceps_r' is in none of the reflex groups"):
        group_of("biceps_r")
    with pytest.raises(ValueError, match="'soleus' has no side suffix"):
        group_of("soleus")


def observation(names, load=(0.0, 0.0), force=None, length=None, hip=(0.0, 0.0), knee=(0.2, 0.2), quat=None):
    """One raw observation of the 26-muscle legs (6 joints per leg), the body upright by default."""
    n = len(names)
    joints = np.zeros(12)
    joints[[0, 6]], joints[[3, 9]] = hip, knee
    grf = np.zeros(6)
    grf[[2, 5]] = load
    pose = np.array([0.0, 0.0, 0.92, *(quat if quat is not None else (0.5, 0.5, -0.5, -0.5))])
    values = {
        "muscle_force": np.zeros(n) if force is None else force,
        "muscle_length": np.ones(n) if length is None else length,
        "joint_position": joints,
        "joint_velocity": np.zeros(12),
        "pelvis_pose": pose,
        "pelvis_velocity": np.zeros(6),
        "foot_contact": np.array(load),
        "ground_reaction_force": grf,
    }
    return {k: torch.as_tensor(v, dtype=torch.float32)[None] for k, v in values.items()}


def excitation(controller, names, obs, muscle):
    with torch.no_grad():
        return controller(obs)[0, names.index(muscle)].item()


def test_stance_positive_force_feedback_and_swing_switch_by_the_legs_load():
    names = names_of(SMALL_LEGS)
    controller = SongGeyerReflexes(names)
    force = np.zeros(len(names))
    force[names.index("soleus_r")] = 0.3
    force[names.index("fdl_r")] = 0.1  # lumped with the soleus: the group's mean force is 0.2
    loaded = observation(names, load=(0.8, 0.0), force=force)
    # stance: tonic 0.01 + 1.2 x the group's mean force, on every muscle of the group
    assert excitation(controller, names, loaded, "soleus_r") == pytest.approx(0.01 + 1.2 * 0.2)
    assert excitation(controller, names, loaded, "fdl_r") == pytest.approx(0.01 + 1.2 * 0.2)
    # the other leg, unloaded, swings: its soleus gets its tonic level only
    assert excitation(controller, names, loaded, "soleus_l") == pytest.approx(0.01)
    # the same forces on an unloaded right leg: no force feedback
    unloaded = observation(names, load=(0.0, 0.0), force=force)
    assert excitation(controller, names, unloaded, "soleus_r") == pytest.approx(0.01)
    # the soleus inhibits the stretched tibialis in stance (Geyer & Herr's SOL -> TA)
    length = np.ones(len(names))
    length[names.index("tibant_r")] = length[names.index("edl_r")] = 0.91  # 0.2 beyond the offset
    stretched = observation(names, load=(0.8, 0.0), force=force, length=length)
    assert excitation(controller, names, stretched, "tibant_r") == pytest.approx(0.01 + 1.1 * 0.2 - 0.3 * 0.2)


def test_a_forward_lean_in_stance_excites_the_hip_extensors_in_proportion_to_the_load():
    names = names_of(SMALL_LEGS)
    controller = SongGeyerReflexes(names)
    with torch.no_grad():
        controller.gains["stance_tonic"].fill_(0.3)  # away from the clip at 0
    # the upright pelvis turned 0.1 rad about world x: its up axis tilts toward -y, forward
    half = 0.05
    turn = np.array([math.cos(half), math.sin(half), 0.0, 0.0])
    upright = np.array([0.5, 0.5, -0.5, -0.5])
    w1, x1, y1, z1 = turn
    w2, x2, y2, z2 = upright
    leaning = (
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    )
    for load in (1.0, 0.5):
        straight = observation(names, load=(load, 0.0))
        lean = observation(names, load=(load, 0.0), quat=leaning)
        glu = excitation(controller, names, lean, "glutmax_r") - excitation(
            controller, names, straight, "glutmax_r"
        )
        hfl = excitation(controller, names, lean, "iliopsoas_r") - excitation(
            controller, names, straight, "iliopsoas_r"
        )
        assert glu == pytest.approx(load * 1.91 * 0.1, rel=1e-3) and hfl == pytest.approx(-glu, rel=1e-3)


def test_a_swinging_legs_hip_flexors_pull_it_toward_the_target_angle():
    names = names_of(SMALL_LEGS)
    controller = SongGeyerReflexes(names)
    short = np.full(len(names), 0.5)  # no muscle stretched beyond its offset: no length feedback
    behind, at_target = (observation(names, (0.0, 1.0), length=short, hip=(h, 0.0)) for h in (-0.2, 0.4))
    assert excitation(controller, names, behind, "iliopsoas_r") == pytest.approx(0.01 + 1.0 * 0.6)
    assert excitation(controller, names, at_target, "iliopsoas_r") == pytest.approx(0.01)
    assert excitation(controller, names, behind, "glutmax_r") == 0.0  # clipped: pulled back less


def test_the_reflex_policy_acts_with_the_controller_and_searches_only_its_gains():
    venv = DummyVecEnv([lambda: gym.make("MyoLegsWalk-v0")])
    spec = policy_spec("reflex")
    model = PPO(spec.policy, venv, policy_kwargs=spec.kwargs_for(venv), n_steps=32, batch_size=32, seed=0)
    policy = model.policy
    assert policy.muscle_names == list(venv.get_attr("muscle_names")[0])
    obs = venv.reset()
    action, _ = model.predict(obs, deterministic=True)
    tensors, _ = policy.obs_to_tensor(obs)
    with torch.no_grad():
        expected = policy.reflexes(tensors).numpy()  # the env's action space is the excitation's
    np.testing.assert_allclose(action, expected, atol=1e-6)
    searched = actor_parameters(policy)
    assert {id(p) for p in searched} == {id(p) for p in policy.reflexes.parameters()}
    before = [p.detach().clone() for p in searched]
    model.learn(64)  # PPO trains the gains by gradient as well
    assert any(not torch.equal(a, b) for a, b in zip(before, searched, strict=True))
    with pytest.raises(ValueError, match="needs muscle_names"):
        PPO(spec.policy, venv)
    venv.close()


def test_a_reflex_search_on_the_legs_saves_a_run_evaluate_reloads(tmp_path):
    settings = {
        "generations": 2,
        "popsize": 4,
        "fitness_episodes": 2,
        "n_workers": 2,
        "eval_every": 1,
        "checkpoint_every": 1,
        "n_eval_episodes": 2,
    }
    path = tmp_path / "reflex.yml"
    path.write_text(yaml.safe_dump(settings))
    run_dir = tmp_path / "run"
    args = ["--algo", "cmaes", "--policy", "reflex", "--env", "MyoLegsStand-v0", "--hyperparams", str(path)]
    result = run("train_sb3.py", *args, "--run_dir", str(run_dir), "--no_progress")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "eval.json"
    result = run("evaluate.py", str(run_dir), "--episodes", "2", "--json", str(out))  # no --trust needed
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["n_episodes"] == 2


def test_the_reflex_policy_on_an_env_without_legs_is_refused_in_one_line(tmp_path):
    run_dir = tmp_path / "run"
    result = run("train_sb3.py", "--algo", "cmaes", "--policy", "reflex", "--run_dir", str(run_dir))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "policy 'reflex' cannot run on MuscleArmReach-v0: ReflexPolicy reads" in result.stderr
    assert not run_dir.exists()
