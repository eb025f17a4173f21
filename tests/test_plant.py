"""The arm models and the plant: anatomy, muscle parameters, stepping, calibration."""

import json
import warnings

import mujoco
import numpy as np
import pytest
from conftest import fresh_forward

from muscle_envs import calibration
from muscle_envs.plants import ArmPlant
from muscle_envs.resources import asset_path

MODELS = ["arm4", "arm6"]
# MotorNet's Arm26 (shared/REFERENCES.md): peak isometric force N, optimal fibre length m.
ARM26 = {
    "pectoralis": (838, 0.134),
    "deltoid": (1207, 0.140),
    "brachioradialis": (1422, 0.092),
    "triceps_lateral": (1549, 0.093),
    "biceps": (414, 0.137),
    "triceps_long": (603, 0.127),
}
# Sign of each muscle's action on (shoulder, elbow): +1 flexes, -1 extends, 0 does not cross.
ACTION = {
    "pectoralis": (1, 0),
    "deltoid": (-1, 0),
    "brachioradialis": (0, 1),
    "triceps_lateral": (0, -1),
    "biceps": (1, 1),
    "triceps_long": (-1, -1),
}


def joint_grid(plant, n=25):
    (s_lo, s_hi), (e_lo, e_hi) = plant.joint_range
    return [(s, e) for s in np.linspace(s_lo, s_hi, n) for e in np.linspace(e_lo, e_hi, n)]


def dense_moment(plant):
    m, d = plant.model, plant.data
    moment = np.zeros((m.nu, m.nv))
    mujoco.mju_sparse2dense(moment, d.actuator_moment, d.moment_rownnz, d.moment_rowadr, d.moment_colind)
    return moment


@pytest.mark.parametrize("model", MODELS)
def test_moment_arms_have_anatomical_signs_everywhere(model):
    """A flexor's tendon shortens as its joint flexes (negative dL/dq) over the whole joint space,
    with moment arms in human ranges (1-5 cm)."""
    plant = ArmPlant(model, frame_skip=5)
    for angles in joint_grid(plant):
        plant.set_state(angles)
        moment = dense_moment(plant)
        for i, name in enumerate(plant.muscle_names):
            for j, sign in enumerate(ACTION[name]):
                arm = -moment[i, j]  # force pulls (negative), so torque = -dL/dq * tension
                if sign == 0:
                    assert abs(arm) < 1e-12, (name, j, angles)
                else:
                    assert sign * arm > 0.005, (name, j, angles, arm)
                    assert abs(arm) < 0.05, (name, j, angles, arm)


@pytest.mark.parametrize("model", MODELS)
def test_tendon_lengths_are_continuous_over_the_joint_space(model):
    """No tendon jumps to another path between neighbouring poses 0.5 deg apart (a wrap that flips to
    the far side of its cylinder changes the length by centimetres at once)."""
    plant = ArmPlant(model, frame_skip=5)
    m, d = plant.model, plant.data
    step = np.radians(0.5)
    (s_lo, s_hi), (e_lo, e_hi) = plant.joint_range
    for fixed, sweep in ((0, np.arange(s_lo, s_hi, step)), (1, np.arange(e_lo, e_hi, step))):
        for other in np.linspace(*plant.joint_range[1 - fixed], 7):
            lengths = []
            for angle in sweep:
                d.qpos[plant._qpos_adr[fixed]], d.qpos[plant._qpos_adr[1 - fixed]] = angle, other
                mujoco.mj_fwdPosition(m, d)
                lengths.append(d.ten_length.copy())
            jumps = np.abs(np.diff(np.array(lengths), axis=0)).max(axis=0)
            # a 5 cm moment arm moves a tendon 0.44 mm per 0.5 deg
            assert np.all(jumps < 0.05 * step * 1.5), dict(zip(plant.muscle_names, jumps, strict=True))


@pytest.mark.parametrize("model", MODELS)
def test_side_sites_stay_clear_of_mujocos_wrapping_rule(model):
    """MuJoCo wraps a tendon around a cylinder's side whenever the straight path passes on the other
    side of it, touching or not: the dot product of the side site's direction with the path's nearest
    point decides. Near zero, MuJoCo versions decide differently (3.17 and 4.0 did for arm6 v0), so
    every path that misses its cylinder keeps that angle at least 5 deg away from 90 deg."""
    plant = ArmPlant(model, frame_skip=5)
    m, d = plant.model, plant.data
    cylinder = mujoco.mjtWrap.mjWRAP_CYLINDER
    wraps = []  # (site before, cylinder geom, side site, site after) of every cylinder wrap
    for t in range(m.ntendon):
        adr, num = m.tendon_adr[t], m.tendon_num[t]
        for k in range(adr + 1, adr + num - 1):
            if m.wrap_type[k] == cylinder and m.wrap_prm[k] >= 0:
                wraps.append((m.wrap_objid[k - 1], m.wrap_objid[k], int(m.wrap_prm[k]), m.wrap_objid[k + 1]))
    assert wraps
    closest = 90.0
    for angles in joint_grid(plant, n=61):
        plant.set_state(angles)
        for before, geom, side, after in wraps:
            frame, centre = d.geom_xmat[geom].reshape(3, 3), d.geom_xpos[geom]
            # 2-D coordinates in the plane normal to the cylinder's axis (the geom's z)
            p0, p1, sd = ((d.site_xpos[i] - centre) @ frame[:, :2] for i in (before, after, side))
            dif = p1 - p0
            nearest = p0 + np.clip(-(dif @ p0) / (dif @ dif), 0.0, 1.0) * dif
            if np.linalg.norm(nearest) > m.geom_size[geom][0]:  # the straight path misses the cylinder
                cos = nearest @ sd / np.linalg.norm(nearest) / np.linalg.norm(sd)
                closest = min(closest, abs(90.0 - np.degrees(np.arccos(cos))))
    assert closest > 5.0, closest


@pytest.mark.parametrize("model", MODELS)
def test_each_muscle_pulls_its_joints_the_right_way(model):
    """Fully active alone, each muscle produces joint torque of its sign at every joint it crosses
    (and none elsewhere), all over the joint space; at least 1 N m in the middle of it. (At the
    extremes a muscle may be too short to pull much: the biceps with shoulder and elbow both fully
    flexed, active insufficiency.)"""
    plant = ArmPlant(model, frame_skip=5)
    for angles in joint_grid(plant, n=7):
        plant.set_state(angles, activation=0.0)
        passive = plant.data.qfrc_actuator[:2].copy()  # what the relaxed muscles already pull
        for i, name in enumerate(plant.muscle_names):
            act = np.zeros(plant.n_muscles)
            act[i] = 1.0
            plant.set_state(angles, activation=act)
            torque = plant.data.qfrc_actuator[:2] - passive
            interior = np.all(np.abs(np.asarray(angles) - plant.joint_range.mean(axis=1)) < 0.6)
            for j, sign in enumerate(ACTION[name]):
                if sign:
                    assert sign * torque[j] > (1.0 if interior else 0.0), (name, j, angles, torque)
                else:
                    assert abs(torque[j]) < 1e-9, (name, j, angles, torque)


@pytest.mark.parametrize("model", MODELS)
def test_monoarticular_muscles_move_their_joint(model):
    """Without gravity, exciting a one-joint muscle alone turns its joint its way within 100 ms.
    (A biarticular muscle alone may not: interaction torques can turn the other joint backwards.)"""
    for i, name in enumerate(ArmPlant(model, 5).muscle_names):
        if all(ACTION[name]):
            continue
        plant = ArmPlant(model, frame_skip=5)
        plant.model.opt.gravity[:] = 0.0
        start = np.array([0.0, 1.2])
        plant.set_state(start)
        excitation = np.zeros(plant.n_muscles)
        excitation[i] = 1.0
        for _ in range(10):
            plant.step(excitation)
        moved = plant.joint_angles() - start
        for j, sign in enumerate(ACTION[name]):
            if sign:
                assert sign * moved[j] > 0.05, (name, j, moved)


@pytest.mark.parametrize("model", MODELS)
def test_muscle_parameters_match_arm26(model):
    plant = ArmPlant(model, frame_skip=5)
    for name, force, l0, slack in zip(
        plant.muscle_names,
        plant.max_isometric_force,
        plant.optimal_fiber_length,
        plant.tendon_slack_length,
        strict=True,
    ):
        ref_force, ref_l0 = ARM26[name]
        assert force == ref_force
        assert l0 == pytest.approx(ref_l0, rel=0.03), name
        assert 0.0 <= slack < 0.3, name


def test_shoulder_flexor_can_hold_the_arm_up():
    """Fully active, the pectoralis gives at least twice the shoulder torque gravity needs with the
    arm straight out in front (the hardest pose)."""
    plant = ArmPlant("arm4", frame_skip=5)
    plant.set_state((0.0, 0.0), activation=0.0)
    shoulder = plant.model.joint("shoulder").dofadr[0]
    gravity_torque = plant.data.qfrc_bias[shoulder]  # torque gravity needs balanced, N m
    act = np.zeros(plant.n_muscles)
    act[plant.muscle_names.index("pectoralis")] = 1.0
    plant.set_state((0.0, 0.0), activation=act)
    muscle_torque = plant.data.qfrc_actuator[shoulder]
    assert gravity_torque > 5.0
    assert muscle_torque > 2.0 * gravity_torque


@pytest.mark.parametrize("model", MODELS)
def test_one_second_of_noisy_controls_raises_no_mujoco_warning(model):
    plant = ArmPlant(model, frame_skip=5)
    rng = np.random.default_rng(0)
    plant.set_state((0.2, 1.0))
    for _ in range(100):  # 100 control steps of 10 ms
        plant.step(np.clip(rng.uniform(0, 1, plant.n_muscles) + rng.normal(0, 0.3, plant.n_muscles), 0, 1))
    assert plant.warnings() == {}
    assert np.all(np.isfinite(plant.data.qpos)) and np.all(np.isfinite(plant.data.qvel))


def test_split_stepping_matches_mj_step_and_observes_the_current_state():
    """plant.step is bit-identical to frame_skip plain mj_step calls, and afterwards sensors and
    muscle quantities equal what a fresh mj_forward of the same state gives."""
    plant = ArmPlant("arm6", frame_skip=5)
    model = plant.model
    reference = mujoco.MjData(model)
    plant.set_state((0.3, 0.8))
    reference.qpos[:] = plant.data.qpos
    mujoco.mj_forward(model, reference)
    readout = plant.readout(
        [plant.hand_sensors(), *(plant.muscle_sensors(q) for q in ("length", "velocity", "force"))]
    )
    rng = np.random.default_rng(1)
    for _ in range(50):
        u = rng.uniform(0, 1, plant.n_muscles)
        plant.step(u)
        reference.ctrl[:] = u
        for _ in range(5):
            mujoco.mj_step(model, reference)
        assert np.array_equal(plant.data.qpos, reference.qpos)
        assert np.array_equal(plant.data.qvel, reference.qvel)
        assert np.array_equal(plant.data.act, reference.act)

        fresh = fresh_forward(plant)
        np.testing.assert_allclose(plant.data.sensordata, fresh.sensordata, rtol=1e-12, atol=1e-12)
        expected = np.concatenate(
            [
                fresh.site_xpos[model.site("hand").id][[0, 2]],
                (fresh.actuator_length - plant.tendon_slack_length) / plant.optimal_fiber_length,
                fresh.actuator_velocity / plant.optimal_fiber_length,
                -fresh.actuator_force / plant.max_isometric_force,
            ]
        )
        np.testing.assert_allclose(readout.read(plant.sensordata), expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(plant.muscle_length(), expected[2:8], rtol=1e-10)
        np.testing.assert_allclose(plant.muscle_force(), expected[14:20], rtol=1e-10, atol=1e-12)


def test_kinematics_agree_with_mujoco():
    plant = ArmPlant("arm4", frame_skip=5)
    for angles in joint_grid(plant, n=9):
        plant.set_state(angles)
        assert plant.forward_kinematics(*angles) == pytest.approx(plant.hand_xz(), abs=1e-9)
        solved = plant.inverse_kinematics(*plant.hand_xz())
        assert solved == pytest.approx(angles, abs=1e-6)
    assert plant.inverse_kinematics(2.0, 0.5) is None  # beyond reach


@pytest.mark.parametrize("model", MODELS)
def test_calibration_sweep_agrees_with_mujoco_length_range(model):
    spec = mujoco.MjSpec.from_file(str(asset_path(model)))
    swept = calibration.calibrate(spec, use_cache=False)
    mujoco_ranges = mujoco.MjModel.from_xml_path(str(asset_path(model))).actuator_lengthrange
    np.testing.assert_allclose(swept.length_range, mujoco_ranges, atol=2e-4)
    assert np.all(swept.velocity_range[:, 0] < 0) and np.all(swept.velocity_range[:, 1] > 0)
    # Every muscle sees 1-5 cm/rad somewhere at each joint it crosses, and nothing at the others.
    for name, arms in zip(swept.muscle_names, swept.max_moment_arm, strict=True):
        crosses = np.array(ACTION[name]) != 0
        assert np.all((arms > 0.01) & (arms < 0.05) | ~crosses) and np.all(arms[~crosses] < 1e-12), name


def test_calibration_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSCLE_ENVS_CACHE_DIR", str(tmp_path))
    calibration._from_disk.cache_clear()
    spec = mujoco.MjSpec.from_file(str(asset_path("arm4")))
    first = calibration.calibrate(spec)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    stored = json.loads(files[0].read_text())
    assert stored["muscle_names"] == list(first.muscle_names)

    # A second process would read the file: make the stored numbers recognizable and check it does.
    stored["length_range"][0] = [0.1, 0.2]
    files[0].write_text(json.dumps(stored))
    calibration._from_disk.cache_clear()
    assert calibration.calibrate(spec).length_range[0].tolist() == [0.1, 0.2]

    # A corrupt entry is reported and swept again, not trusted.
    files[0].write_text("{not json")
    calibration._from_disk.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = calibration.calibrate(spec)
    assert any("calibration cache" in str(w.message) for w in caught)
    np.testing.assert_allclose(again.length_range, first.length_range)
    calibration._from_disk.cache_clear()
