"""A muscle-driven MuJoCo body: model, data, stepping and named muscle accessors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import mujoco
import numpy as np
from numpy.typing import NDArray

MUSCLE_QUANTITIES = ("length", "velocity", "force")
# The warnings MuJoCo raises when the simulation blows up (it then resets mjData itself).
INSTABILITY_WARNINGS = tuple(
    int(w)
    for w in (
        mujoco.mjtWarning.mjWARN_BADQACC,
        mujoco.mjtWarning.mjWARN_BADQPOS,
        mujoco.mjtWarning.mjWARN_BADQVEL,
    )
)


class SensorGroup(NamedTuple):
    """Sensor components to read and how to normalize them: value = raw * scale + offset."""

    addresses: NDArray[np.intp]
    scale: NDArray[np.float64]
    offset: NDArray[np.float64]


class SensorReadout:
    """Reads several sensor groups as one new normalized vector, in three numpy calls.

    The hot path of every env: one gather from ``sensordata`` by precomputed address (which
    allocates the result), one multiply, one add. ``sensordata`` is one env's (1-D) or a batch's
    (one row per env); the result has the same leading shape. ``extra`` trailing entries have scale
    0, so each reads as its offset: an env passes per-episode constants (a target) there as its own
    ``offset`` at no cost per step, and may overwrite others (a timer), so one array carries a whole
    observation.
    """

    def __init__(self, groups: Sequence[SensorGroup], extra: int = 0):
        pad = np.zeros(extra)
        self._addresses = np.concatenate([*(g.addresses for g in groups), pad.astype(np.intp)])
        self._scale = np.concatenate([*(g.scale for g in groups), pad])
        self._offset = np.concatenate([*(g.offset for g in groups), pad])
        self._offset.flags.writeable = False
        self.n_sensors = int(self._addresses.size) - extra
        self.size = int(self._addresses.size)

    @property
    def addresses(self) -> NDArray[np.intp]:
        """Where each entry is read in ``sensordata`` (0 for the extra entries)."""
        return self._addresses

    @property
    def scale(self) -> NDArray[np.float64]:
        return self._scale

    @property
    def offset(self) -> NDArray[np.float64]:
        """Each entry's offset (0 for the extra entries); read-only: copy it to make an env's own."""
        return self._offset

    def read(self, sensordata: NDArray[np.float64], offset: NDArray[np.float64] | None = None) -> NDArray:
        """The normalized values of ``sensordata`` (1-D, or one row per env), with ``offset`` (the
        same leading shape, or one for all) in place of :attr:`offset` if given: a fresh array."""
        values = sensordata.take(self._addresses, axis=-1)
        np.multiply(values, self._scale, out=values)
        np.add(values, self._offset if offset is None else offset, out=values)
        return values


class MusclePlant:
    """Wraps an ``MjModel``/``MjData`` pair of a body driven by MuJoCo ``<muscle>`` actuators.

    Task code reads the body only through this object. Muscle quantities come out normalized:

    - length: fibre length / optimal fibre length L0 (MuJoCo's normalized length, ~0.5-1.6);
    - velocity: fibre velocity in L0/s, positive when lengthening;
    - force: tensile force / peak isometric force (>= 0);
    - activation: MuJoCo's muscle activation state in [0, 1].

    The accessors (:meth:`muscle_length`, ...) read MuJoCo's actuator arrays; the hot path reads the
    model's named sensors ``<muscle>_length`` (actuatorpos), ``<muscle>_velocity`` (actuatorvel) and
    ``<muscle>_force`` (actuatorfrc) through a :class:`SensorReadout` built by :meth:`readout`.

    Stepping keeps observations exact at little or no extra cost. ``mj_step`` leaves quantities of its
    forward pass (actuator length and force, sensors, site positions, contact forces) at the state
    *before* its last substep; an extra ``mj_forward`` per control step would fix that at the price
    of one more substep. Instead :meth:`step` runs ``mj_step2`` (integrate the pending substep with
    the new excitation), then ``frame_skip - 1`` full steps, then ``mj_step1`` (position and velocity
    stages of the next substep) and ``mj_fwdActuation``; if any sensor reads accelerations or
    constraint forces (touch sensors under the feet, say), also ``mj_fwdAcceleration`` and
    ``mj_fwdConstraint``; then ``mj_sensorAcc``. The trajectory is bit-identical to ``frame_skip``
    calls of ``mj_step``, and afterwards every sensor and muscle quantity describes the current state
    as ``mj_forward`` would (tests/test_plant.py, tests/test_legs_stand.py). ``qacc`` and contact
    forces are current only when a sensor needs them.

    Args:
        model: compiled model; its muscles are the actuators with muscle dynamics.
        frame_skip: physics substeps per control step.
    """

    def __init__(self, model: mujoco.MjModel, frame_skip: int):
        if frame_skip < 1:
            raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
        self.model = model
        self.data = mujoco.MjData(model)
        self.frame_skip = frame_skip
        self.dt = model.opt.timestep * frame_skip

        ids = np.flatnonzero(model.actuator_dyntype == mujoco.mjtDyn.mjDYN_MUSCLE)
        if ids.size == 0:
            raise ValueError("the model has no muscle actuators")
        self.muscle_ids = ids
        self.muscle_names: tuple[str, ...] = tuple(model.actuator(i).name for i in ids)
        self.n_muscles = int(ids.size)

        length_range = model.actuator_lengthrange[ids]
        norm_range = model.actuator_gainprm[ids, :2]
        excursion = length_range[:, 1] - length_range[:, 0]
        self.optimal_fiber_length = excursion / (norm_range[:, 1] - norm_range[:, 0])
        self.tendon_slack_length = length_range[:, 0] - norm_range[:, 0] * self.optimal_fiber_length
        self.max_isometric_force = model.actuator_gainprm[ids, 2].copy()
        if np.any(self.max_isometric_force <= 0) or np.any(self.optimal_fiber_length <= 0):
            raise ValueError("every muscle needs a positive force and a valid lengthrange")

        # Zero-copy views when the muscles are all the actuators, in order (the usual case).
        every = ids.size == model.nu and np.array_equal(ids, np.arange(model.nu))
        self._index = slice(None) if every else ids
        self._ctrl = self.data.ctrl
        self.sensordata = self.data.sensordata  # live view; one row per env in a BatchPlant
        self._warning_counts = self.data.warning.number  # live view of MuJoCo's warning counters
        implicit = (mujoco.mjtIntegrator.mjINT_IMPLICIT, mujoco.mjtIntegrator.mjINT_IMPLICITFAST)
        self._integrate = mujoco.mj_implicit if model.opt.integrator in implicit else mujoco.mj_Euler
        self._accelerations_current = False  # see step()
        self.detect_instability = False  # whether step() reports instability (an env that handles it sets it)
        act_adr = model.actuator_actadr[ids]
        self._act_index = slice(None) if every and np.array_equal(act_adr, np.arange(model.na)) else act_adr
        # Acceleration-stage sensors other than actuator forces (touch, force, accelerometer, ...) read
        # what the constraint solver computes: only then does step() complete that stage, and the
        # next step reuses it.
        self._solve_constraints = bool(
            np.any(
                (model.sensor_needstage == mujoco.mjtStage.mjSTAGE_ACC)
                & (model.sensor_type != mujoco.mjtSensor.mjSENS_ACTUATORFRC)
            )
        )

    # -- simulation ---------------------------------------------------------------------------------
    def forward(self) -> None:
        """Recompute every derived quantity of the current state (after setting qpos/qvel/act, or
        anything else in ``data``, directly)."""
        mujoco.mj_forward(self.model, self.data)
        self._accelerations_current = True

    def step(self, excitation: NDArray) -> bool:
        """Hold ``excitation`` (one value per muscle) for one control step; return whether the
        simulation went unstable meanwhile (MuJoCo then resets its state itself: see
        :meth:`instability_count`), if :attr:`detect_instability` is set (else False: the check costs
        ~0.3 us, some 2% of an arm step).

        The actuators are ``ctrllimited`` to [0, 1], so MuJoCo clamps out-of-range values itself;
        ``excitation`` must be finite (the env checks).
        """
        before = self.instability_count() if self.detect_instability else 0
        self._ctrl[self._index] = excitation
        model, data = self.model, self.data
        if self._accelerations_current:
            # The last step (or forward()) left this state's accelerations and constraint forces
            # current, and a new excitation changes only the activations' rate of change: what
            # mj_step2 would do, without solving the constraints a second time (bit-identical).
            mujoco.mj_fwdActuation(model, data)
            mujoco.mj_checkAcc(model, data)
            self._integrate(model, data)
        else:
            mujoco.mj_step2(model, data)
        if self.frame_skip > 1:
            mujoco.mj_step(model, data, nstep=self.frame_skip - 1)
        mujoco.mj_step1(model, data)
        mujoco.mj_fwdActuation(model, data)
        if self._solve_constraints:
            mujoco.mj_fwdAcceleration(model, data)
            mujoco.mj_fwdConstraint(model, data)
        mujoco.mj_sensorAcc(model, data)
        self._accelerations_current = self._solve_constraints
        return self.detect_instability and self.instability_count() > before

    def restart(self, unstable: bool, *state: Any) -> None:
        """``set_state(*state)`` if ``unstable`` (:class:`~muscle_envs.plants.batch.BatchPlant`
        does it for the envs whose entry is true)."""
        if unstable:
            self.set_state(*state)

    def set_state(self, *state: Any) -> None:
        """Reset time, warnings and the state; recompute every derived quantity (per plant)."""
        raise NotImplementedError

    def apply_force(self, body: int, force: NDArray) -> None:
        """Apply ``force`` (world frame, N) at ``body``'s centre of mass until changed."""
        self.data.xfrc_applied[body, :3] = force
        self.applied_forces_changed()

    def view(self, name: str) -> NDArray:
        """The live ``MjData`` field ``name`` (a batch's, one row per env, in a BatchPlant)."""
        return getattr(self.data, name)

    def applied_forces_changed(self) -> None:
        """Say that ``xfrc_applied``/``qfrc_applied`` changed since the last step (the next step then
        recomputes the accelerations; :meth:`forward` and ``set_state`` do it anyway)."""
        self._accelerations_current = False

    def instability_count(self) -> int:
        """How many bad-acceleration/position/velocity warnings MuJoCo has raised since the last reset."""
        counts, (a, b, c) = self._warning_counts, INSTABILITY_WARNINGS
        return counts.item(a) + counts.item(b) + counts.item(c)

    def warnings(self) -> dict[str, int]:
        """MuJoCo warnings raised so far, by name (empty when the simulation is healthy)."""
        return {mujoco.mjtWarning(i).name: int(w.number) for i, w in enumerate(self.data.warning) if w.number}

    # -- muscles ------------------------------------------------------------------------------------
    def muscle_length(self) -> NDArray[np.float64]:
        """Fibre length / L0 of each muscle."""
        return (self.data.actuator_length[self._index] - self.tendon_slack_length) / self.optimal_fiber_length

    def muscle_velocity(self) -> NDArray[np.float64]:
        """Fibre velocity in L0/s (positive when lengthening)."""
        return self.data.actuator_velocity[self._index] / self.optimal_fiber_length

    def muscle_force(self) -> NDArray[np.float64]:
        """Tensile force / peak isometric force (>= 0)."""
        return -self.data.actuator_force[self._index] / self.max_isometric_force

    def muscle_activation(self) -> NDArray[np.float64]:
        """Activation state of each muscle, in [0, 1]."""
        return self.data.act[self._act_index].copy()

    # -- sensors ------------------------------------------------------------------------------------
    def sensor_group(
        self,
        names: Sequence[str],
        scale: NDArray | float = 1.0,
        offset: NDArray | float = 0.0,
        components: Sequence[int] | None = None,
    ) -> SensorGroup:
        """Addresses of the named sensors (the given ``components`` of each, or all of them), with a
        scale and offset per entry."""
        addresses = []
        for name in names:
            try:
                sensor = self.model.sensor(name)
            except KeyError:
                raise KeyError(f"the model has no sensor named {name!r}") from None
            first, dim = int(sensor.adr[0]), int(sensor.dim[0])
            addresses.extend(first + c for c in (components if components is not None else range(dim)))
        n = len(addresses)
        return SensorGroup(
            np.asarray(addresses, dtype=np.intp),
            np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,)).copy(),
            np.broadcast_to(np.asarray(offset, dtype=np.float64), (n,)).copy(),
        )

    def muscle_sensors(self, quantity: str) -> SensorGroup:
        """Normalized ``length``, ``velocity`` or ``force`` of every muscle, from its named sensors."""
        names = [f"{muscle}_{quantity}" for muscle in self.muscle_names]
        inv_l0 = 1.0 / self.optimal_fiber_length
        if quantity == "length":
            return self.sensor_group(names, inv_l0, -self.tendon_slack_length * inv_l0)
        if quantity == "velocity":
            return self.sensor_group(names, inv_l0)
        if quantity == "force":
            return self.sensor_group(names, -1.0 / self.max_isometric_force)
        raise ValueError(f"quantity must be one of {MUSCLE_QUANTITIES}, got {quantity!r}")

    def readout(self, groups: Sequence[SensorGroup], extra: int = 0) -> SensorReadout:
        return SensorReadout(groups, extra)
