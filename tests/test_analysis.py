"""muscle_analysis on synthetic data with planted answers: jPCA's rotation, principal angles and
VAF ratios of planted subspaces, a hand-built RNN's fixed points, planted synergies, straight reaches,
decoders, and the recording's round trip."""

import math

import numpy as np
import pytest
import torch

from muscle_analysis.decoding import decode_category, decode_continuous
from muscle_analysis.fixed_points import find_fixed_points
from muscle_analysis.jpca import jpca
from muscle_analysis.kinematics import reach_kinematics
from muscle_analysis.population import principal_angles, principal_components, vaf_ratio
from muscle_analysis.recording import Recording
from muscle_analysis.synergies import muscle_synergies


def orthonormal(n, seed=0):
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))[0]


def test_jpca_recovers_a_planted_rotation():
    """Eight conditions rotating at 1.5 Hz in one plane of a 20-D space, plus a decaying
    non-rotational component and noise: jPCA finds the plane, the frequency and the direction."""
    rng, basis, dt, hz = np.random.default_rng(1), orthonormal(20), 0.01, 1.5
    t = np.arange(80) * dt
    conditions = []
    for c in range(8):
        phase, amplitude = 2 * np.pi * c / 8, 1 + 0.3 * c
        rotating = amplitude * np.stack(
            [np.cos(2 * np.pi * hz * t + phase), np.sin(2 * np.pi * hz * t + phase)], 1
        )
        decaying = (c - 4) * 0.3 * np.exp(-t / 0.3)[:, None]
        noise = rng.normal(scale=0.01, size=(len(t), 17))
        conditions.append(np.concatenate([rotating, decaying, noise], axis=1) @ basis.T)
    fit = jpca(conditions, dt, n_components=6)
    assert fit.frequencies[0] == pytest.approx(hz, rel=0.01)
    from scipy.linalg import subspace_angles

    assert np.degrees(subspace_angles(fit.planes[0].T, basis[:, :2])).max() < 2.0
    assert fit.r2_skew > 0.95 and fit.r2_best >= fit.r2_skew
    assert fit.variance_captured[0] > 0.9
    angle = np.unwrap(np.arctan2(fit.trajectories[0, :, 1], fit.trajectories[0, :, 0]))
    assert angle[-1] - angle[0] == pytest.approx(2 * np.pi * hz * t[-1], rel=0.02)  # counterclockwise


def test_jpca_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="at least 2 conditions"):
        jpca([np.zeros((10, 4))], 0.01)
    with pytest.raises(ValueError, match="one length"):
        jpca([np.zeros((10, 4)), np.zeros((9, 4))], 0.01)
    with pytest.raises(ValueError, match="even"):
        jpca([np.ones((10, 4)), np.zeros((10, 4))], 0.01, n_components=3)


def planted_subspace_activity(basis_columns, steps=400, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(steps, basis_columns.shape[1]))
        * [3.0, 2.0][: basis_columns.shape[1]]
        @ basis_columns.T
    )


def test_principal_angles_and_vaf_ratios_of_planted_subspaces():
    basis = orthonormal(10, seed=2)
    e1, e2, e3, e4 = (basis[:, i] for i in range(4))
    theta = math.radians(30)
    a = planted_subspace_activity(np.stack([e1, e2], 1))
    b = planted_subspace_activity(np.stack([e1, math.cos(theta) * e2 + math.sin(theta) * e3], 1), seed=1)
    np.testing.assert_allclose(principal_angles(a, b, 2), [0.0, 30.0], atol=1e-6)
    orthogonal = planted_subspace_activity(np.stack([e3, e4], 1), seed=3)
    np.testing.assert_allclose(principal_angles(a, orthogonal, 2), [90.0, 90.0], atol=1e-6)
    assert vaf_ratio(a, a, 2) == pytest.approx(1.0)
    assert vaf_ratio(a, orthogonal, 2) == pytest.approx(0.0, abs=1e-12)
    assert 0.3 < vaf_ratio(a, b, 2) < 1.0  # shares e1 fully and e2 at 30 deg


def test_principal_components_and_dimensionality():
    basis = orthonormal(8)
    activity = planted_subspace_activity(basis[:, :2])
    pcs = principal_components(activity)
    assert pcs.dimensionality(0.99) == 2 and pcs.explained[:2].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(pcs.project(activity)[:, 2:], 0.0, atol=1e-9)


def test_fixed_points_of_a_hand_built_rnn():
    """h' = tanh(W h + u) with W = diag(2, 0.5), u = 0: fixed points at the origin (a saddle:
    eigenvalues 2 and 0.5) and at (+-h*, 0) with h* = tanh(2 h*) (stable: 2 (1 - h*^2) < 1)."""
    weight = torch.tensor([[2.0, 0.0], [0.0, 0.5]], dtype=torch.float64)

    def step(h, u):
        return torch.tanh(h @ weight.T + u)

    h_star = 0.5
    for _ in range(200):
        h_star = math.tanh(2 * h_star)
    starts = np.random.default_rng(0).uniform(-1.5, 1.5, size=(64, 2))
    found = find_fixed_points(step, np.zeros(2), starts, iterations=4000, learning_rate=0.02)
    order = np.argsort(found.states[:, 0])
    states, stable = found.states[order], found.stable[order]
    np.testing.assert_allclose(states, [[-h_star, 0], [0, 0], [h_star, 0]], atol=1e-3)
    assert stable.tolist() == [True, False, True]
    np.testing.assert_allclose(np.sort(np.abs(found.eigenvalues[order][1])), [0.5, 2.0], atol=1e-3)
    assert found.n_starts == 64 and np.all(found.speeds < 1e-8)


def test_nmf_recovers_the_planted_number_of_synergies():
    rng = np.random.default_rng(0)
    weights = rng.uniform(0, 1, size=(3, 8)) ** 2  # 3 synergies over 8 muscles
    activations = np.abs(np.sin(np.linspace(0, 12, 600)[:, None] * [1.0, 1.7, 2.9] + [0, 1, 2]))
    activity = activations @ weights + rng.uniform(0, 0.005, size=(600, 8))
    synergies = muscle_synergies(activity, threshold=0.99)
    assert synergies.count == 3 and synergies.vaf >= 0.99 and synergies.vaf_by_count[1] < 0.99
    with pytest.raises(ValueError, match="non-negative"):
        muscle_synergies(-activity)


def test_a_minimum_jerk_reach_is_straight_single_peaked_and_symmetric():
    dt, duration = 0.01, 0.6
    s = np.linspace(0, 1, int(duration / dt) + 1)
    fraction = 10 * s**3 - 15 * s**4 + 6 * s**5
    start, end = np.array([0.1, 0.3]), np.array([0.3, 0.45])
    path = np.concatenate([np.repeat(start[None], 20, 0), start + fraction[:, None] * (end - start)])
    reach = reach_kinematics(path, dt)
    assert reach.linearity == pytest.approx(1.0, abs=1e-9)
    assert reach.n_peaks == 1 and reach.symmetry == pytest.approx(0.5, abs=0.03)
    assert reach.peak_speed == pytest.approx(1.875 * 0.25 / duration, rel=0.01)  # |end - start| = 0.25 m
    curved = path + np.concatenate([np.zeros(20), np.sin(np.pi * s) * 0.05])[:, None] * [1.0, -1.0]
    assert reach_kinematics(curved, dt).linearity > 1.02
    assert math.isnan(reach_kinematics(np.zeros((50, 2)), dt).linearity)  # no movement


def test_decoders_find_what_is_in_the_activity_and_not_what_is_not():
    rng = np.random.default_rng(0)
    steps, episodes = 600, np.repeat(np.arange(12), 50)
    hand = rng.normal(size=(steps, 2))
    task = episodes % 3
    activity = np.concatenate(
        [hand @ rng.normal(size=(2, 6)), np.eye(3)[task] * 2.0, rng.normal(size=(steps, 4))], 1
    )
    activity += rng.normal(scale=0.1, size=activity.shape)
    assert decode_continuous(activity, hand, episodes) > 0.95
    assert decode_continuous(activity, rng.normal(size=(steps, 2)), episodes) < 0.05
    assert decode_category(activity, task, episodes) > 0.95
    with pytest.raises(ValueError, match="at least 2 episodes"):
        decode_continuous(activity, hand, np.zeros(steps))


def test_a_recording_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    recording = Recording(
        signals={"hidden": rng.normal(size=(7, 3)), "pelvis_height": rng.normal(size=7)},
        episode=[0, 0, 0, 1, 1, 1, 1],
        labels={"time": [0, 1, 2, 0, 1, 2, 3], "epoch": [0, 1, 1, 0, 0, 1, 1]},
        label_names={"epoch": ["delay", "movement"]},
        meta={"dt": 0.01, "muscles": ["a", "b"], "env": "X-v0"},
    )
    loaded = Recording.load(recording.save(tmp_path / "rec.npz"))
    for name in ("hidden", "pelvis_height"):
        np.testing.assert_array_equal(loaded.signals[name], recording.signals[name])
    np.testing.assert_array_equal(loaded.episode, recording.episode)
    np.testing.assert_array_equal(loaded.labels["epoch"], recording.labels["epoch"])
    assert loaded.label_names == recording.label_names and loaded.meta == recording.meta
    assert loaded.signals["pelvis_height"].shape == (7, 1) and loaded.n_episodes == 2 and loaded.dt == 0.01
    assert [len(e) for e in loaded.episodes("hidden", loaded.labels["epoch"] == 1)] == [2, 2]
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(ValueError, match="needs"):
        Recording({"hidden": np.zeros((5, 2))}, episode=np.zeros(4))
    np.save(tmp_path / "other.npy", np.zeros(3))
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a muscle_analysis recording"):
        Recording.load(tmp_path / "other.npz")


def test_a_reach_is_measured_from_the_start_to_the_first_arrival_at_the_target():
    """With a target and the env's reach distance, kinematics stop at the first step within it (what
    the hand does afterwards, holding or correcting, is not the reach)."""
    from muscle_analysis.report import movement_paths

    straight = np.linspace([0.0, 0.0], [0.2, 0.0], 21)
    wander = np.array([[0.2, 0.05 * np.sin(k)] for k in range(10)])  # after arriving
    hand = np.concatenate([straight, wander])
    recording = Recording(
        signals={"hand": hand, "target": np.tile([0.2, 0.0], (len(hand), 1))},
        episode=np.zeros(len(hand), dtype=int),
        meta={"dt": 0.01, "env_config": {"reach_threshold": 0.031}},
    )
    (path,), span = movement_paths(recording)
    assert span == "start to the first reach" and len(path) == 18  # up to 0.17 m: within 3.1 cm of 0.2
    assert reach_kinematics(path, 0.01).linearity == pytest.approx(1.0)
    recording.meta["env_config"] = {}
    (whole,), span = movement_paths(recording)
    assert span == "whole episode" and len(whole) == len(hand)
