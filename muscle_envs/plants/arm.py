"""The two-link muscle arm of assets/arm_skeleton.xml (arm4.xml, arm6.xml)."""

from __future__ import annotations

import math

import mujoco
import numpy as np
from numpy.typing import NDArray

from muscle_envs.calibration import compile_calibrated
from muscle_envs.plants.base import MusclePlant, SensorGroup
from muscle_envs.resources import asset_path

_ANGLE_TOLERANCE = 1e-9  # rad: poses exactly at a joint limit survive round-off in the trigonometry


class ArmPlant(MusclePlant):
    """Planar arm: hinge joints ``shoulder`` and ``elbow``, hand site ``hand``, mocap body ``target``.

    Positions are (x, z) in metres in the world frame (x forward, z up); the shoulder sits at
    :attr:`shoulder_position`. Joint angles are radians, positive for flexion.

    Args:
        model: asset name (``"arm4"``, ``"arm6"``) or a compiled ``MjModel`` with the names above.
        frame_skip: physics substeps per control step.
    """

    def __init__(self, model: str | mujoco.MjModel, frame_skip: int):
        if isinstance(model, str):
            model = compile_calibrated(asset_path(model))
        super().__init__(model, frame_skip)
        joints = [model.joint("shoulder"), model.joint("elbow")]
        self._qpos_adr = np.array([j.qposadr[0] for j in joints])
        self._dof_adr = np.array([j.dofadr[0] for j in joints])
        self.joint_range: NDArray[np.float64] = np.array([j.range for j in joints])  # (2, 2) rad
        self._hand = self.data.site_xpos[model.site("hand").id]  # live view, (3,)
        self._target_mocap = int(model.body("target").mocapid[0])

        # Geometry for the analytic kinematics, read from the model at the zero pose.
        scratch = mujoco.MjData(model)
        mujoco.mj_kinematics(model, scratch)
        shoulder = scratch.xpos[model.body("upper_arm").id]
        elbow = scratch.xpos[model.body("forearm").id]
        hand = scratch.site_xpos[model.site("hand").id]
        self.shoulder_position = (float(shoulder[0]), float(shoulder[2]))
        self.upper_arm_length = float(np.linalg.norm(elbow - shoulder))
        self.forearm_length = float(np.linalg.norm(hand - elbow))

    def hand_sensors(self) -> SensorGroup:
        """Hand (x, z), m, from the ``hand_position`` frame sensor."""
        return self.sensor_group(["hand_position"], components=(0, 2))

    def hand_xz(self) -> tuple[float, float]:
        """Current hand position (x, z), m."""
        x, _, z = self._hand.tolist()
        return x, z

    def joint_angles(self) -> NDArray[np.float64]:
        """(shoulder, elbow) angles, rad."""
        return self.data.qpos[self._qpos_adr].copy()

    def joint_velocities(self) -> NDArray[np.float64]:
        """(shoulder, elbow) angular velocities, rad/s."""
        return self.data.qvel[self._dof_adr].copy()

    def set_state(
        self,
        angles: NDArray | tuple[float, float],
        velocities: NDArray | tuple[float, float] = (0.0, 0.0),
        activation: NDArray | float = 0.0,
    ) -> None:
        """Reset time, warnings and the state, then recompute every derived quantity."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qpos_adr] = angles
        self.data.qvel[self._dof_adr] = velocities
        self.data.act[self._act_index] = activation
        self.forward()

    def set_target_marker(self, x: float, z: float) -> None:
        """Move the (massless, collision-free) target marker; only rendering sees it."""
        self.data.mocap_pos[self._target_mocap] = (x, 0.0, z)
        mujoco.mj_kinematics(self.model, self.data)  # place it now, not at the next step

    # -- analytic kinematics ------------------------------------------------------------------------
    def forward_kinematics(self, shoulder: float, elbow: float) -> tuple[float, float]:
        """Hand (x, z) for the given joint angles, m."""
        x0, z0 = self.shoulder_position
        l1, l2 = self.upper_arm_length, self.forearm_length
        return (
            x0 + l1 * math.cos(shoulder) + l2 * math.cos(shoulder + elbow),
            z0 + l1 * math.sin(shoulder) + l2 * math.sin(shoulder + elbow),
        )

    def inverse_kinematics(self, x: float, z: float, margin: float = 0.0) -> tuple[float, float] | None:
        """Joint angles that put the hand at (x, z), or None if that needs a joint closer than
        ``margin`` (rad) to its limit. Elbow flexion is non-negative, so the solution is unique."""
        dx, dz = x - self.shoulder_position[0], z - self.shoulder_position[1]
        l1, l2 = self.upper_arm_length, self.forearm_length
        cos_elbow = (dx * dx + dz * dz - l1 * l1 - l2 * l2) / (2.0 * l1 * l2)
        if not -1.0 - 1e-12 <= cos_elbow <= 1.0 + 1e-12:  # beyond reach (allowing round-off)
            return None
        elbow = math.acos(min(max(cos_elbow, -1.0), 1.0))
        shoulder = math.atan2(dz, dx) - math.atan2(l2 * math.sin(elbow), l1 + l2 * math.cos(elbow))
        return (shoulder, elbow) if self.within_joint_range(shoulder, elbow, margin) else None

    def within_joint_range(self, shoulder: float, elbow: float, margin: float = 0.0) -> bool:
        """Whether both angles (rad) are at least ``margin`` inside their joint's limits (a pose exactly
        at a limit, after round-off, counts as inside)."""
        return all(
            lo + margin - _ANGLE_TOLERANCE <= angle <= hi - margin + _ANGLE_TOLERANCE
            for angle, (lo, hi) in zip((shoulder, elbow), self.joint_range, strict=True)
        )
