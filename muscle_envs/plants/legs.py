"""The MyoLeg (PyPI ``myo-sim``): 80 (or 26) muscles on both legs, a free-floating pelvis, a floor.

The model is loaded from the installed ``myo-sim`` package at run time (its XML is not copied here)
and extended through ``mujoco.MjSpec`` with the sensors the tasks read: per-muscle length, velocity
and force, the hip/knee/ankle coordinates, the pelvis pose and velocity and the body's centre-of-mass
velocity. The foot touch sensors are the model's own. Composing the model takes ~2 s, so the compiled
result is cached (``muscle_envs.calibration.cache_dir()``), keyed by the myo-sim and MuJoCo versions.
"""

from __future__ import annotations

import json
import math
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
from numpy.typing import NDArray

from muscle_envs.calibration import cache_dir, muscle_actuators, write_to_cache
from muscle_envs.lanes import OneLane
from muscle_envs.plants.base import MusclePlant, SensorGroup

# Per-leg coordinates of seed 003, in observation order; a model uses those it has (the 26-muscle
# model has no subtalar joint). Joint names end in _r / _l.
LEG_COORDINATES = (
    "hip_flexion",
    "hip_adduction",
    "hip_rotation",
    "knee_angle",
    "ankle_angle",
    "subtalar_angle",
    "mtp_angle",
)
SIDES = ("r", "l")
PELVIS = "pelvis"
# The model's touch sensors under each foot (hindfoot and toes), summed per foot.
FOOT_TOUCH = {"r": ("r_foot", "r_toes"), "l": ("l_foot", "l_toes")}
GROUND_FORCE_SENSOR = "ground_force"  # + _r / _l: the ground's contact force on each foot (build_spec)
_BUILD_VERSION = 2  # bump when build_spec changes, so cached models are rebuilt
# The ground the legs stand on: myo-sim's own (a raised disc of radius 1.05 m, its top 1.5 cm above
# the floor plane, which lies 0.4 m lower), or a flat floor at z = 0 without the disc (walking).
FLOORS = ("platform", "flat")
# Made by scripts/find_holding_activation.py (see there); {model} is "myolegs" or "myolegs26".
HOLDING_ACTIVATION_FILE = str(
    Path(__file__).resolve().parents[1] / "data" / "{model}_holding_activation.json"
)


# myo-sim composes the legs by attaching specs without a name prefix; MuJoCo warns that such a model
# may not save as XML, which muscle_envs never does (it caches the compiled binary).
_EMPTY_PREFIX_WARNING = "Attaching a spec with an empty prefix"


def build_spec(name: str = "myolegs", floor: str = "platform") -> mujoco.MjSpec:
    """The myo-sim model ``name`` with the sensors muscle_envs reads added, on ``floor`` (``FLOORS``;
    not compiled)."""
    if floor not in FLOORS:
        raise ValueError(f"floor must be one of {FLOORS}, got {floor!r}")
    import myo_sim

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_EMPTY_PREFIX_WARNING)
        spec = myo_sim.load_spec(name)
    sensor = mujoco.mjtSensor
    for actuator in muscle_actuators(spec):
        for suffix, kind in (
            ("length", sensor.mjSENS_ACTUATORPOS),
            ("velocity", sensor.mjSENS_ACTUATORVEL),
            ("force", sensor.mjSENS_ACTUATORFRC),
        ):
            spec.add_sensor(
                name=f"{actuator.name}_{suffix}",
                type=kind,
                objtype=mujoco.mjtObj.mjOBJ_ACTUATOR,
                objname=actuator.name,
            )
    joint_names = {joint.name for joint in spec.joints}
    for side in SIDES:
        for coordinate in LEG_COORDINATES:
            joint = f"{coordinate}_{side}"
            if joint in joint_names:
                spec.add_sensor(
                    name=f"{joint}_pos",
                    type=sensor.mjSENS_JOINTPOS,
                    objtype=mujoco.mjtObj.mjOBJ_JOINT,
                    objname=joint,
                )
                spec.add_sensor(
                    name=f"{joint}_vel",
                    type=sensor.mjSENS_JOINTVEL,
                    objtype=mujoco.mjtObj.mjOBJ_JOINT,
                    objname=joint,
                )
    body = mujoco.mjtObj.mjOBJ_BODY
    for suffix, kind in (
        ("position", sensor.mjSENS_FRAMEPOS),
        ("orientation", sensor.mjSENS_FRAMEQUAT),
        ("linvel", sensor.mjSENS_FRAMELINVEL),
        ("angvel", sensor.mjSENS_FRAMEANGVEL),
    ):
        spec.add_sensor(name=f"pelvis_{suffix}", type=kind, objtype=body, objname=PELVIS)
    spec.add_sensor(name="com_velocity", type=sensor.mjSENS_SUBTREELINVEL, objtype=body, objname="world")
    for side in SIDES:  # the net force of the ground's contacts with each foot (hindfoot and toes)
        spec.add_sensor(
            name=f"{GROUND_FORCE_SENSOR}_{side}",
            type=sensor.mjSENS_CONTACT,
            objtype=mujoco.mjtObj.mjOBJ_XBODY,  # the subtree: calcaneus and toes
            objname=f"calcn_{side}",
            reftype=body,
            refname="world",
            # data: force (bit 1); reduce: the net force of all matching contacts, in the world frame
            intprm=[1 << int(mujoco.mjtConDataField.mjCONDATA_FORCE), 3, 1],
        )
    if floor == "flat":
        ground = [g for g in spec.worldbody.geoms if g.contype and g.type != mujoco.mjtGeom.mjGEOM_PLANE]
        for geom in ground:  # myo-sim's disc
            spec.delete(geom)
        for geom in spec.worldbody.geoms:
            if geom.type == mujoco.mjtGeom.mjGEOM_PLANE:
                geom.pos = [geom.pos[0], geom.pos[1], 0.0]
    return spec


def compile_legs(name: str = "myolegs", floor: str = "platform") -> mujoco.MjModel:
    """Compiled :func:`build_spec` model, from the on-disk cache when it has this exact build."""
    variant = "" if floor == "platform" else f"-{floor}"
    versions = f"myosim{metadata.version('myo-sim')}-mujoco{mujoco.__version__}-b{_BUILD_VERSION}"
    key = f"{name}{variant}-{versions}.mjb"
    path = cache_dir() / key
    if path.is_file():
        try:
            return mujoco.MjModel.from_binary_path(str(path))
        except Exception as err:  # a corrupt cache entry: rebuild it
            warnings.warn(f"ignoring unreadable cached model {path}: {err}", stacklevel=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_EMPTY_PREFIX_WARNING)
        model = build_spec(name, floor).compile()
    write_to_cache(key, lambda tmp: mujoco.mj_saveModel(model, tmp, None))
    return model


def tilt_from_rotation(z_row: NDArray, up: tuple[float, float, float], lanes: Any = OneLane) -> Any:
    """Angle between a body's ``up`` axis (body frame) and the vertical, rad, from the z row of its
    rotation matrix: one env's (``lanes`` ``OneLane``) or one row per env (``lanes`` a ``Lanes``)."""
    (u0, u1, u2), entry = up, lanes.entry
    vertical = entry(z_row, 0) * u0 + entry(z_row, 1) * u1 + entry(z_row, 2) * u2  # its world z
    return lanes.arccos(lanes.clip(vertical, -1.0, 1.0))


def lowest_point(model: mujoco.MjModel, data: mujoco.MjData, geom_ids: NDArray[np.intp]) -> float:
    """Lowest world z of the given sphere/capsule/ellipsoid/box/mesh geoms (kinematics must be current)."""
    lowest = math.inf
    for g in geom_ids:
        centre, rot, size = data.geom_xpos[g], data.geom_xmat[g].reshape(3, 3), model.geom_size[g]
        kind = model.geom_type[g]
        if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
            z = centre[2] - size[0]
        elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
            z = centre[2] - abs(rot[2, 2]) * size[1] - size[0]
        elif kind == mujoco.mjtGeom.mjGEOM_ELLIPSOID:
            z = centre[2] - math.sqrt(float(np.sum((rot[2] * size) ** 2)))
        elif kind == mujoco.mjtGeom.mjGEOM_BOX:
            z = centre[2] - float(np.sum(np.abs(rot[2]) * size))
        elif kind == mujoco.mjtGeom.mjGEOM_MESH:  # compiled mesh vertices are in the geom frame
            mesh = model.geom_dataid[g]
            first, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
            z = centre[2] + float(np.min(model.mesh_vert[first : first + count] @ rot[2]))
        else:
            raise ValueError(f"lowest_point does not handle geom type {kind}")
        lowest = min(lowest, z)
    return lowest


class LegsPlant(MusclePlant):
    """Both legs of the MyoLeg on a floor, with named accessors for standing tasks.

    Args:
        model: ``"myolegs"`` (80 muscles), ``"myolegs26"`` (26) or a compiled model from
            :func:`compile_legs`.
        frame_skip: physics substeps per control step (the model's timestep is 2 ms).
        floor: the ground of a named model (``FLOORS``): myo-sim's disc, or flat and unbounded.
    """

    def __init__(self, model: str | mujoco.MjModel = "myolegs", frame_skip: int = 5, floor: str = "platform"):
        self.model_name = model if isinstance(model, str) else "custom"
        if isinstance(model, str):
            model = compile_legs(model, floor)
        super().__init__(model, frame_skip)
        names = {model.joint(j).name for j in range(model.njnt)}
        self.coordinates: tuple[str, ...] = tuple(
            f"{c}_{side}" for side in SIDES for c in LEG_COORDINATES if f"{c}_{side}" in names
        )
        self._coordinate_qpos = np.array([model.joint(j).qposadr[0] for j in self.coordinates])
        root = int(np.flatnonzero(model.jnt_type == mujoco.mjtJoint.mjJNT_FREE)[0])
        self.root_qpos = int(model.jnt_qposadr[root])  # the free joint: position (3), quaternion (4)
        self.root_dof = int(model.jnt_dofadr[root])  # and its 6 velocities
        self._pelvis = model.body(PELVIS).id
        # Active joint-coupling equalities (the knee's): coupled qpos = poly(driver qpos), per row.
        couplings = [
            e
            for e in range(model.neq)
            if model.eq_type[e] == mujoco.mjtEq.mjEQ_JOINT and model.eq_active0[e] and model.eq_obj2id[e] >= 0
        ]
        self._coupled = model.jnt_qposadr[model.eq_obj1id[couplings]]
        self._coupling_drivers = model.jnt_qposadr[model.eq_obj2id[couplings]]
        self._coupling_polynomials = model.eq_data[couplings, :5].copy()
        if np.intersect1d(self._coupled, self._coupling_drivers).size:
            raise ValueError("chained joint couplings (a coupled joint driving another) are not supported")
        self.total_mass = float(model.body_subtreemass[0])
        self.body_weight = self.total_mass * float(np.linalg.norm(model.opt.gravity))

        def colliding_geoms(body: str) -> NDArray[np.intp]:
            body_id = model.body(body).id
            return np.flatnonzero((model.geom_bodyid == body_id) & (model.geom_contype != 0))

        self._heel_geoms = {side: colliding_geoms(f"calcn_{side}") for side in SIDES}
        self._toe_geoms = {side: colliding_geoms(f"toes_{side}") for side in SIDES}
        self._foot_geoms = {
            side: np.concatenate([self._heel_geoms[side], self._toe_geoms[side]]) for side in SIDES
        }
        self.standing_qpos = self._standing_pose()
        self.set_state(self.standing_qpos)
        rot = self.data.xmat[self._pelvis].reshape(3, 3)
        self.pelvis_up: tuple[float, float, float] = tuple((rot.T @ np.array([0.0, 0.0, 1.0])).tolist())
        # ^ the pelvis axis that points up when standing
        self._pelvis_xmat_z = self.data.xmat[self._pelvis][6:9]  # live view: the rotation's z row
        self.standing_pelvis_height = float(self.data.xpos[self._pelvis][2])

    # -- state --------------------------------------------------------------------------------------
    def set_state(
        self, qpos: NDArray, qvel: NDArray | None = None, activation: NDArray | float = 0.0
    ) -> None:
        """Reset time and warnings, set the state (the knee's coupled joints follow the knee angle),
        recompute every derived quantity."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = self.satisfy_joint_couplings(np.asarray(qpos, dtype=np.float64))
        if qvel is not None:
            self.data.qvel[:] = qvel
        self.data.act[self._act_index] = activation
        self.forward()

    def satisfy_joint_couplings(self, qpos: NDArray) -> NDArray:
        """``qpos`` with every joint-coupling equality (``y - y0 = poly(x - x0)``) made exact."""
        qpos, qpos0 = np.array(qpos, dtype=np.float64), self.model.qpos0
        dx = qpos[self._coupling_drivers] - qpos0[self._coupling_drivers]
        powers = dx[:, None] ** np.arange(5)
        qpos[self._coupled] = qpos0[self._coupled] + np.sum(self._coupling_polynomials * powers, axis=1)
        return qpos

    def coordinate_values(self) -> NDArray[np.float64]:
        """Hip, knee and ankle coordinates (``coordinates`` order), rad."""
        return self.data.qpos[self._coordinate_qpos].copy()

    def pelvis_height(self) -> float:
        return float(self.data.xpos[self._pelvis][2])

    def pelvis_tilt(self) -> float:
        """Angle between the pelvis's up axis and the vertical, rad (0 when standing upright)."""
        return tilt_from_rotation(self._pelvis_xmat_z, self.pelvis_up)

    def foot_load(self) -> NDArray[np.float64]:
        """(right, left) normal force under each foot, in body weights."""
        return np.array([sum(self.data.sensor(n).data[0] for n in FOOT_TOUCH[side]) for side in SIDES]) / (
            self.body_weight
        )

    def holding_activation(self) -> NDArray[np.float64]:
        """A constant activation that holds the standing pose, both feet loaded, for at least 0.5 s
        (open loop: it does not last; scripts/find_holding_activation.py explains how it was found)."""
        path = Path(HOLDING_ACTIVATION_FILE.format(model=self.model_name))
        if not path.is_file():
            raise FileNotFoundError(f"no holding activation for {self.model_name!r} ({path})")
        levels = json.loads(path.read_text())
        return np.array([levels[name] for name in self.muscle_names])

    def push_pelvis(self, force: NDArray) -> None:
        """Apply ``force`` (world frame, N) at the pelvis until changed; zeros to stop."""
        self.apply_force(self._pelvis, force)

    @property
    def pelvis_id(self) -> int:
        """The pelvis's body id."""
        return self._pelvis

    # -- sensors ------------------------------------------------------------------------------------
    def coordinate_sensors(self, kind: str) -> SensorGroup:
        """``pos`` (rad) or ``vel`` (rad/s) of the hip/knee/ankle coordinates."""
        return self.sensor_group([f"{joint}_{kind}" for joint in self.coordinates])

    def pelvis_pose_sensors(self) -> SensorGroup:
        """Pelvis position (3, m) and orientation quaternion (4)."""
        return self.sensor_group(["pelvis_position", "pelvis_orientation"])

    def pelvis_velocity_sensors(self) -> SensorGroup:
        """Pelvis linear (3, m/s) and angular (3, rad/s) velocity."""
        return self.sensor_group(["pelvis_linvel", "pelvis_angvel"])

    def foot_touch_sensors(self) -> SensorGroup:
        """Touch sensors (right hindfoot, right toes, left hindfoot, left toes), in body weights."""
        return self.sensor_group([n for side in SIDES for n in FOOT_TOUCH[side]], 1.0 / self.body_weight)

    def ground_force_sensors(self) -> SensorGroup:
        """The ground reaction force on each foot (right x, y, z, then left), world frame, in body
        weights: the net force of the ground's contacts with the foot (hindfoot and toes). Its
        sensor reports the foot's force on the ground, hence the sign."""
        names = [f"{GROUND_FORCE_SENSOR}_{side}" for side in SIDES]
        return self.sensor_group(names, -1.0 / self.body_weight)

    def ground_force(self) -> NDArray[np.float64]:
        """(2, 3): :meth:`ground_force_sensors` now, right foot first."""
        group = self.ground_force_sensors()
        return (self.data.sensordata[group.addresses] * group.scale).reshape(2, 3)

    # -- standing pose ------------------------------------------------------------------------------
    def _standing_pose(self, knee: float = 0.1, hip: float = 0.05) -> NDArray[np.float64]:
        """Upright pelvis, slightly bent knees and hips, each ankle turned so that heel and toes are
        level, and the pelvis at the height where the feet just touch the floor."""
        model, data = self.model, self.data
        qpos = model.qpos0.copy()
        for side in SIDES:
            qpos[model.joint(f"knee_angle_{side}").qposadr[0]] = knee
            qpos[model.joint(f"hip_flexion_{side}").qposadr[0]] = hip
            ankle = model.joint(f"ankle_angle_{side}")
            lo, hi = ankle.range
            for _ in range(40):  # bisect the ankle angle until heel and toes are level
                mid = 0.5 * (lo + hi)
                qpos[ankle.qposadr[0]] = mid
                self._kinematics(qpos)
                heel = lowest_point(model, data, self._heel_geoms[side])
                toes = lowest_point(model, data, self._toe_geoms[side])
                # ankle plantarflexion (negative) lowers the toes relative to the heel
                lo, hi = (mid, hi) if toes < heel else (lo, mid)
        return self.place_on_floor(qpos)

    def place_on_floor(self, qpos: NDArray) -> NDArray[np.float64]:
        """``qpos`` with the pelvis moved vertically so that the lowest foot point is on the floor."""
        qpos = np.array(qpos, dtype=np.float64)
        self._kinematics(qpos)
        feet = min(lowest_point(self.model, self.data, self._foot_geoms[side]) for side in SIDES)
        qpos[self.root_qpos + 2] -= feet
        return qpos

    def coordinate_qpos_indices(self) -> NDArray[np.intp]:
        """Where the hip/knee/ankle coordinates sit in ``qpos`` (``coordinates`` order)."""
        return self._coordinate_qpos.copy()

    def _kinematics(self, qpos: NDArray) -> None:
        self.data.qpos[:] = self.satisfy_joint_couplings(qpos)
        mujoco.mj_kinematics(self.model, self.data)
