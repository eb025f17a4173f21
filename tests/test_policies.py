"""policies/: proprioceptor physiology, reflexes, target code, SB3 integration."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv

import muscle_envs  # noqa: F401  (registers the ids)
from muscle_envs import observations as keys
from policies import (
    POLICIES,
    FusimotorRNN,
    MotorModule,
    SensoryExtractor,
    SensoryModule,
    SensoryRecurrentPolicy,
    TargetEncoder,
    policy_spec,
    set_action_mean,
)
from policies.recurrent import recurrent_map
from policies.sensory import Afferents

DT = 0.01


def ramp_and_hold(n_muscles=1):
    """0.2 s at L0, a 0.1 s stretch at 1 L0/s to 1.1 L0, 0.3 s hold: (length, velocity), (T, n)."""
    velocity = np.concatenate([np.zeros(20), np.full(10, 1.0), np.zeros(30)])
    length = 1.0 + np.cumsum(velocity) * DT
    as_tensor = lambda x: torch.tensor(np.repeat(x[:, None], n_muscles, axis=1), dtype=torch.float32)  # noqa: E731
    return as_tensor(length), as_tensor(velocity)


def respond(module, gamma_static=0.0, gamma_dynamic=0.0):
    length, velocity = ramp_and_hold()
    full = lambda value: torch.full_like(length, value)  # noqa: E731
    with torch.no_grad():
        return module(length, velocity, torch.zeros_like(length), full(gamma_static), full(gamma_dynamic))


RAMP, HOLD, BEFORE = slice(20, 30), slice(45, 60), slice(0, 20)


def ramp_excess(rates):
    """How far Ia drops the moment the stretch stops: its velocity-driven part at the ramp's end."""
    return (rates[29] - rates[30]).item()


def test_ia_peaks_during_the_ramp_and_settles_above_its_start():
    ia = respond(SensoryModule(1)).ia[:, 0]
    assert ia[RAMP].max() > ia[HOLD].mean() + 0.1  # the dynamic response, well above the new level
    assert ia[HOLD].mean() > ia[BEFORE].mean() + 0.02  # settles higher: the static response
    assert torch.all((ia >= 0) & (ia <= 1))


def test_ii_follows_length_not_velocity():
    module = SensoryModule(1)
    ii = respond(module).ii[:, 0]
    length, _ = ramp_and_hold()
    assert torch.all(torch.diff(ii[RAMP]) > 0)  # rises with length during the ramp
    assert ii[29] == pytest.approx(ii[30].item(), abs=1e-6)  # no jump when the stretch stops
    assert ii[HOLD].mean() > ii[BEFORE].mean()


def test_dynamic_gamma_raises_the_ramp_response_of_ia_only():
    module = SensoryModule(1)
    low, high = respond(module, gamma_dynamic=0.0), respond(module, gamma_dynamic=1.0)
    assert ramp_excess(low.ia[:, 0]) > 0.1
    assert ramp_excess(high.ia[:, 0]) > 1.5 * ramp_excess(low.ia[:, 0])
    assert torch.equal(low.ii, high.ii)
    assert torch.allclose(low.ia[HOLD], high.ia[HOLD])  # no velocity, no dynamic-gamma effect


def test_static_gamma_raises_tonic_ia_and_ii():
    module = SensoryModule(1)
    low, high = respond(module, gamma_static=0.0), respond(module, gamma_static=1.0)
    for name in ("ia", "ii"):
        assert getattr(high, name)[BEFORE].mean() > getattr(low, name)[BEFORE].mean()
        assert getattr(high, name)[HOLD].mean() > getattr(low, name)[HOLD].mean()
    assert ramp_excess(low.ia[:, 0]) > 0.1
    assert ramp_excess(high.ia[:, 0]) == pytest.approx(
        ramp_excess(low.ia[:, 0]), rel=0.1
    )  # ramp response kept


def test_ib_is_monotone_in_force_and_saturates():
    force = torch.linspace(0, 2, 201)[:, None]
    with torch.no_grad():
        ib = SensoryModule(1)(torch.ones_like(force), torch.zeros_like(force), force).ib[:, 0]
    assert torch.all(torch.diff(ib) > 0)
    assert torch.all(torch.diff(ib, n=2) < 1e-6)  # concave: each newton adds less
    assert ib[-1] < 1.0 and ib[-1] - ib[100] < 0.05  # flat near 2 Fmax


def test_gradients_reach_the_gains_which_stay_positive():
    module = SensoryModule(3)
    length, velocity = ramp_and_hold(3)
    out = module(length, velocity, torch.rand_like(length), torch.rand_like(length), torch.rand_like(length))
    (out.ia.sum() + out.ii.sum() + out.ib.sum()).backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and torch.any(parameter.grad != 0), name
    with torch.no_grad():  # any raw value maps to a positive gain
        module.ia_length_gain.fill_(-50.0)
        assert torch.all(torch.nn.functional.softplus(module.ia_length_gain) > 0)
    frozen = SensoryModule(3, learnable=False)
    assert not any(p.requires_grad for p in frozen.parameters())


def test_stretch_raises_the_muscles_own_alpha_and_inhibits_its_antagonist():
    motor = MotorModule(in_features=5, n_muscles=2, antagonists=[(0, 1)])
    features = torch.zeros(1, 5)
    sensory = SensoryModule(2)
    rest = sensory(torch.ones(1, 2), torch.zeros(1, 2), torch.zeros(1, 2))
    stretched = sensory(torch.tensor([[1.1, 1.0]]), torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2))
    with torch.no_grad():
        alpha_rest, alpha_stretched = motor(features, rest).alpha, motor(features, stretched).alpha
    assert alpha_stretched[0, 0] > alpha_rest[0, 0]  # stretch reflex
    assert alpha_stretched[0, 1] < alpha_rest[0, 1]  # reciprocal inhibition of the antagonist
    loaded = Afferents(rest.ia, rest.ii, torch.tensor([[0.9, 0.0]]))
    with torch.no_grad():
        assert motor(features, loaded).alpha[0, 0] < alpha_rest[0, 0]  # autogenic (Ib) inhibition
    out = motor(features, rest)
    assert torch.all((out.gamma_static > 0) & (out.gamma_static < 1)) and out.gamma_dynamic.shape == (1, 2)


def test_target_encoder_matches_the_envs_place_cells():
    """The contract both sides rely on: same grid and sigma, same code."""
    env = gym.make("MuscleArmReach-v0", target_encoding="place_cells")
    encoder = TargetEncoder()
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        code = encoder(torch.as_tensor(obs[keys.TARGET], dtype=torch.float32)[None])[0]
        np.testing.assert_allclose(code.detach().numpy(), obs[keys.TARGET_PLACE_CELLS], atol=1e-5)


@pytest.mark.parametrize("env_id", ["MuscleArmReach-v0", "MuscleArm6Reach-v1", "MyoLegsStand-v0"])
def test_sensory_extractor_works_on_every_body(env_id):
    env = gym.make(env_id)
    extractor = SensoryExtractor(env.observation_space)
    obs, _ = env.reset(seed=0)
    batch = {k: torch.as_tensor(np.stack([v, v]), dtype=torch.float32) for k, v in obs.items()}
    features = extractor(batch)
    n = env.action_space.shape[0]
    assert features.shape == (2, extractor.features_dim) and extractor.features_dim > 3 * n
    probe = extractor.probe(batch)
    assert probe["ia"].shape == (2, n) and torch.all(probe["gamma_static"] > 0)
    with pytest.raises(ValueError, match="needs the observation keys"):
        SensoryExtractor(gym.spaces.Dict({"vision": env.observation_space["muscle_length"]}))


def test_unknown_policy_name_is_an_error():
    with pytest.raises(ValueError, match="known"):
        policy_spec("sensory_transformer")
    # the spindle models read the muscle entries, the place cells the target, in physical units
    assert policy_spec("sensory_mlp").raw_observation_keys == (*keys.PROPRIOCEPTION, keys.TARGET)


def test_fusimotor_loop_is_closed_gamma_at_t_changes_ia_at_t_plus_1_only():
    """Changing the context at step t changes the core's state, hence gamma set at t; that must move
    Ia at t+1 but not at t (the spindles at t read the gamma set at t-1)."""
    torch.manual_seed(0)
    rnn = FusimotorRNN(n_muscles=4, context_dim=3, hidden_size=16)
    inputs = torch.rand(6, 2, rnn.input_size)  # (time, batch, input)
    inputs[:, :, :4] += 0.5  # lengths near L0
    changed = inputs.clone()
    changed[3, :, 12:] += 5.0  # context at t = 3 only
    state = (torch.zeros(1, 2, 16), torch.zeros(1, 2, 16))
    a, b = rnn.probe(inputs, state), rnn.probe(changed, state)
    assert torch.equal(a["ia"][:4], b["ia"][:4])  # up to and including t = 3
    assert torch.equal(a["gamma_static"][:4], b["gamma_static"][:4])
    assert not torch.equal(a["gamma_static"][4], b["gamma_static"][4])  # gamma drive set at t ...
    assert not torch.allclose(a["ia"][4], b["ia"][4])  # ... moves Ia at t + 1


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_each_policy_learns_saves_and_reloads(name, tmp_path):
    """learn() changes the weights; plain PPO.load / RecurrentPPO.load gives identical actions (the
    reflex controller on the legs, with the muscle names it takes from them)."""
    env = gym.make("MyoLegs26Stand-v0" if name == "reflex" else "MuscleArmReach-v0")
    spec = policy_spec(name, net_arch=[16], **({"lstm_hidden_size": 16} if POLICIES[name].recurrent else {}))
    model = spec.algorithm(
        spec.policy,
        env,
        policy_kwargs=spec.kwargs_for(DummyVecEnv([lambda: env])),
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        seed=0,
        device="cpu",
    )
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=128)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True))
    model.save(tmp_path / "model.zip")
    loaded = spec.algorithm.load(tmp_path / "model.zip", device="cpu")
    obs, _ = env.reset(seed=1)
    states, start = [None, None], np.ones(1, dtype=bool)
    for _ in range(6):
        actions = []
        for i, m in enumerate((model, loaded)):
            action, states[i] = m.predict(obs, state=states[i], episode_start=start, deterministic=True)
            actions.append(action)
        np.testing.assert_array_equal(*actions)
        obs, *_ = env.step(actions[0])
        start = np.zeros(1, dtype=bool)


def ppo_on_arm(name):
    env = gym.make("MuscleArmReach-v0")
    spec = policy_spec(name, net_arch=[16])
    kwargs = spec.policy_kwargs
    model = spec.algorithm(spec.policy, env, policy_kwargs=kwargs, n_steps=64, seed=0, device="cpu")
    return env, model


def action_mean(model, obs):
    tensor, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        return model.policy.get_distribution(tensor).distribution.mean.numpy()[0]


def test_bounded_mean_policy_keeps_its_mean_in_the_action_range():
    """A pre-activation far outside the action space ([0, 1] here) leaves mlp's mean there (the env
    clips it: a saturated muscle); mlp_bounded's mean stays inside, tanh scaled to the bounds."""
    bias = torch.tensor([6.0, -6.0, 0.5, -3.0])  # (the arm's 4 muscles)
    means = {}
    for name in ("mlp", "mlp_bounded"):
        env, model = ppo_on_arm(name)
        with torch.no_grad():
            model.policy.action_net.bias.copy_(bias)
        obs, _ = env.reset(seed=0)
        means[name] = action_mean(model, obs)
    assert np.abs(means["mlp"]).max() > 5  # unbounded
    assert means["mlp_bounded"].min() > 0 and means["mlp_bounded"].max() < 1
    np.testing.assert_allclose(means["mlp_bounded"], (np.tanh(means["mlp"]) + 1) / 2, atol=1e-6)


@pytest.mark.parametrize("name", ["mlp", "mlp_bounded"])
def test_set_action_mean_starts_the_mean_at_the_action(name):
    env, model = ppo_on_arm(name)
    target = np.array([0.05, 0.3, 0.6, 0.95])  # (the arm's excitations)
    set_action_mean(model.policy, target)
    obs, _ = env.reset(seed=3)
    np.testing.assert_allclose(action_mean(model, obs), target, atol=0.05)  # output weights are small


def test_recurrent_state_resets_at_episode_starts():
    env = gym.make("MuscleArmReach-v0")
    spec = policy_spec("sensory_lstm", lstm_hidden_size=16)
    model = RecurrentPPO(spec.policy, env, policy_kwargs=spec.policy_kwargs, n_steps=64, seed=0, device="cpu")
    obs, _ = env.reset(seed=2)
    fresh, _ = model.predict(obs, state=None, episode_start=np.ones(1, bool), deterministic=True)
    state = None
    for _ in range(10):  # build up a state
        action, state = model.predict(obs, state=state, episode_start=np.zeros(1, bool), deterministic=True)
        obs, *_ = env.step(action)
    obs, _ = env.reset(seed=2)
    carried, _ = model.predict(obs, state=state, episode_start=np.zeros(1, bool), deterministic=True)
    reset, _ = model.predict(obs, state=state, episode_start=np.ones(1, bool), deterministic=True)
    np.testing.assert_array_equal(reset, fresh)
    assert not np.array_equal(carried, fresh)


def test_reflex_arcs_add_to_the_action_mean():
    env = gym.make("MuscleArmReach-v0")
    policy = SensoryRecurrentPolicy(
        env.observation_space, env.action_space, lambda _: 1e-3, lstm_hidden_size=8
    )
    n = 4
    latent = torch.zeros(1, policy.mlp_extractor.latent_dim_pi + 3 * n)
    stretched = latent.clone()
    stretched[0, -3 * n] = 0.5  # Ia of muscle 0
    with torch.no_grad():
        mean_rest = policy._get_action_dist_from_latent(latent).distribution.mean
        mean_stretched = policy._get_action_dist_from_latent(stretched).distribution.mean
    change = mean_stretched - mean_rest
    assert change[0, 0] > 0 and torch.all(change[0, 1:] == 0)  # homonymous excitation only


def test_recurrent_sensory_policy_runs_on_the_80_muscle_legs():
    env = gym.make("MyoLegsStand-v0")
    spec = policy_spec("sensory_gru", lstm_hidden_size=16)
    model = RecurrentPPO(spec.policy, env, policy_kwargs=spec.policy_kwargs, n_steps=16, seed=0, device="cpu")
    obs, _ = env.reset(seed=0)
    action, state = model.predict(obs, episode_start=np.ones(1, bool))
    assert action.shape == (80,) and state[0].shape == (1, 1, 16)


def test_probe_reads_out_afferents_gamma_reflexes_and_state_along_a_rollout():
    env = gym.make("MuscleArmReach-v0")
    spec = policy_spec("sensory_lstm", lstm_hidden_size=16, antagonists=[(0, 1), (2, 3)])
    model = RecurrentPPO(spec.policy, env, policy_kwargs=spec.policy_kwargs, n_steps=64, seed=0, device="cpu")
    obs, _ = env.reset(seed=0)
    episode, state, start = [obs], None, np.ones(1, dtype=bool)
    actions = []
    for _ in range(7):
        action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        actions.append(action)
        obs, *_ = env.step(action)
        episode.append(obs)
        start = np.zeros(1, dtype=bool)
    stacked = {key: np.stack([o[key] for o in episode[:-1]]) for key in obs}
    trace = model.policy.probe(stacked)
    assert trace["ia"].shape == (7, 4) and trace["hidden"].shape == (7, 16)
    np.testing.assert_allclose(trace["hidden"][-1].numpy(), state[0][0, 0], rtol=1e-5, atol=1e-6)  # same run
    assert torch.all(trace["reflex"] != 0)


def test_sensory_extractor_without_context_uses_a_learned_constant_gamma():
    box = gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
    extractor = SensoryExtractor(gym.spaces.Dict({key: box for key in keys.PROPRIOCEPTION}))
    batch = {key: torch.ones(2, 3) for key in keys.PROPRIOCEPTION}
    assert extractor(batch).shape == (2, 9) and extractor.gamma is None
    probe = extractor.probe(batch)
    assert torch.allclose(probe["gamma_static"], torch.full((2, 3), 0.5))  # sigmoid(0) before training


@pytest.mark.parametrize("name", sorted(n for n, spec in POLICIES.items() if spec.recurrent))
def test_the_fixed_point_map_of_a_recurrent_core_reproduces_its_states(name):
    """recurrent_map's (step, inputs): iterating step over the inputs the core received along an
    episode gives the states the policy went through (a sensory core with its afferents as inputs)."""
    env = gym.make("MuscleArmReach-v0")
    spec = policy_spec(name, net_arch=[16], lstm_hidden_size=16)
    model = spec.algorithm(
        spec.policy, env, policy_kwargs=spec.policy_kwargs, n_steps=64, batch_size=32, seed=0
    )
    obs, _ = env.reset(seed=2)
    seen, states, state, start = [], [], None, np.ones(1, dtype=bool)
    for _ in range(8):
        seen.append(obs)
        action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        states.append(np.concatenate([state[0][0, 0], state[1][0, 0]]))
        obs, *_ = env.step(action)
        start = np.zeros(1, dtype=bool)
    step, inputs_of = recurrent_map(model.policy)
    with torch.no_grad():
        inputs = inputs_of({key: np.stack([o[key] for o in seen]) for key in seen[0]}).double()
        size = 32 if name in ("lstm", "sensory_lstm") else 16  # [h | c] for an LSTM
        h = torch.zeros(1, size, dtype=torch.float64)
        for t, u in enumerate(inputs):
            h = step(h, u)
            np.testing.assert_allclose(h[0].numpy(), states[t][:size], atol=1e-5, err_msg=f"step {t}")
