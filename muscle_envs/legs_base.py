"""What the MyoLeg envs share: the plant on its floor, the observation, falls and pelvis pushes.

:class:`MyoLegsEnv` is written once for standing (``legs_stand``) and walking (``legs_walk``); each
task adds its options (a :class:`LegsConfig` subclass), observation entries, episode variables,
rewards and metrics. Like every env here, the task code runs over lanes (``muscle_envs.lanes``): one
env or a batch, the same code.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numpy.typing import NDArray

from muscle_envs import observations as obs_keys
from muscle_envs.core import MuscleEnv, ObservationLayout
from muscle_envs.lanes import Lanes, OneLane
from muscle_envs.plants.base import SensorGroup
from muscle_envs.plants.legs import LegsPlant, tilt_from_rotation

_FOOT_TOUCH = "foot_touch"  # hidden: the four raw touch sensors, summed per foot into foot_contact
_COM_VELOCITY = "com_velocity"  # hidden: centre-of-mass velocity


@dataclass(frozen=True)
class LegsConfig:
    """Options every MyoLeg env has (documented in each env's manual)."""

    model: str = "myolegs"
    frame_skip: int = 5
    episode_steps: int = 1000
    joint_noise: float = 0.02
    fall_height: float = 0.7
    fall_tilt: float = 0.8
    contact_threshold: float = 0.05
    upright_weight: float = 1.0
    effort_weight: float = 0.1
    push_force: float = 0.0
    push_interval: tuple[float, float] = (1.0, 3.0)
    push_duration: float = 0.1
    render_size: tuple[int, int] = (480, 480)

    def __post_init__(self) -> None:
        for name in ("push_interval", "render_size"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not 0.0 < self.fall_height < 1.0:
            raise ValueError("fall_height is a fraction of the standing pelvis height, in (0, 1)")
        if (
            self.episode_steps < 1
            or self.frame_skip < 1
            or self.joint_noise < 0
            or self.push_force < 0
            or self.push_duration <= 0
        ):
            raise ValueError(
                "frame_skip >= 1, joint_noise >= 0, push_force >= 0 and push_duration > 0 needed"
            )
        if not 0 < self.push_interval[0] <= self.push_interval[1]:
            raise ValueError(
                f"push_interval must be (low, high) with 0 < low <= high, got {self.push_interval}"
            )


class BodyState(NamedTuple):
    """After a control step: the observation vector (hidden entries included), the pelvis height (m)
    and tilt (rad), whether the simulation went unstable (and restarted) and whether the body fell."""

    vector: NDArray[np.float64]
    height: Any
    tilt: Any
    unstable: Any
    fallen: Any


class MyoLegsEnv(MuscleEnv):
    """Base of the MyoLeg envs (not registered itself): see ``MyoLegsStandEnv`` for the observation
    entries they share, pushes and the end of an episode by a fall or an unstable simulation."""

    floor: ClassVar[str] = "platform"  # the plant's ground (``muscle_envs.plants.legs.FLOORS``)
    end_info_keys = ("physics_unstable",)

    def __init__(self, render_mode: str | None, cfg: LegsConfig, episode_fields: dict[str, Any]):
        plant = LegsPlant(cfg.model, cfg.frame_skip, self.floor)
        super().__init__(plant, render_mode, camera=None, render_size=cfg.render_size)
        self.config = cfg
        self.push_scale = 1.0  # the fraction of push_force a push applies (set_push_scale)
        self.plant: LegsPlant = plant
        plant.detect_instability = True  # a blown-up simulation restarts standing (Episode End)
        n, nc = plant.n_muscles, len(plant.coordinates)

        # One fresh vector per step: [joint pos | joint vel | pelvis pose | pelvis vel | raw touch (4,
        # hidden) | centre-of-mass velocity (3, hidden) | muscle length, velocity, force | the task's
        # sensors | foot contact | activation | the task's entries]. A SensorReadout gathers the
        # sensors; foot contact (touch summed per foot), activation and the task's entries are filled
        # in. The dict's entries are views of the vector.
        task_sensors = self._task_sensors()
        task_entries = self._task_entries()
        sensors = [
            plant.coordinate_sensors("pos"),
            plant.coordinate_sensors("vel"),
            plant.pelvis_pose_sensors(),
            plant.pelvis_velocity_sensors(),
            plant.foot_touch_sensors(),
            plant.sensor_group(["com_velocity"]),
            *(plant.muscle_sensors(q) for q in ("length", "velocity", "force")),
            *(group for _, group in task_sensors),
        ]
        layout = ObservationLayout()
        layout.add(obs_keys.JOINT_POSITION, nc)
        layout.add(obs_keys.JOINT_VELOCITY, nc)
        layout.add(obs_keys.PELVIS_POSE, 7)
        layout.add(obs_keys.PELVIS_VELOCITY, 6)
        layout.add(_FOOT_TOUCH, 4, hidden=True)
        layout.add(_COM_VELOCITY, 3, hidden=True)
        for key in (obs_keys.MUSCLE_LENGTH, obs_keys.MUSCLE_VELOCITY, obs_keys.MUSCLE_FORCE):
            layout.add(key, n)
        for key, group in task_sensors:
            layout.add(key, group.addresses.size)
        layout.add(obs_keys.FOOT_CONTACT, 2, 0.0, np.inf)
        layout.add(obs_keys.MUSCLE_ACTIVATION, n, 0.0, 1.0)
        for key, size, low, high in task_entries:
            layout.add(key, size, low, high)
        self.observation_space = layout.build()
        self._layout = layout
        self._readout = plant.readout(sensors, extra=2 + n + sum(size for _, size, _, _ in task_entries))
        if self._readout.size != layout.size:
            raise AssertionError(f"readout ({self._readout.size}) and layout ({layout.size}) disagree")
        self._touch = layout.slice(_FOOT_TOUCH)
        self._contact = layout.slice(obs_keys.FOOT_CONTACT)
        self._activation = layout.slice(obs_keys.MUSCLE_ACTIVATION)
        self._coordinate_pos = layout.slice(obs_keys.JOINT_POSITION)
        self._com_velocity = layout.slice(_COM_VELOCITY)
        pelvis = layout.slice(obs_keys.PELVIS_POSE).start
        self._pelvis_x, self._pelvis_y, self._pelvis_z = pelvis, pelvis + 1, pelvis + 2
        mirror = [
            (plant.coordinates.index(c), plant.coordinates.index(c[:-2] + "_l"))
            for c in plant.coordinates
            if c.endswith("_r")
        ]
        self._right, self._left = (np.array(idx) for idx in zip(*mirror, strict=True))
        self._standing_height = plant.standing_pelvis_height
        self._start_lanes(
            {
                "steps": 0,
                "height_sum": 0.0,
                "effort_sum": 0.0,
                "push": np.zeros(3),  # the pelvis push now, world frame, N
                "push_force": 0.0,  # its magnitude, N
                "next_push": math.inf,  # time of the next push, s
                "push_end": math.inf,  # end of the current push, s
                **episode_fields,
            }
        )

    # -- what a task adds ---------------------------------------------------------------------------
    def _task_sensors(self) -> list[tuple[str, SensorGroup]]:
        """Observation entries read from sensors, after the muscle entries: (key, sensor group)."""
        return []

    def _task_entries(self) -> list[tuple[str, int, float, float]]:
        """Observation entries the task fills in (:meth:`_fill`), last: (key, size, low, high)."""
        return []

    def _fill(self, lanes: OneLane | Lanes, vector: NDArray[np.float64]) -> None:
        """Write the task's entries of ``vector`` (those of :meth:`_task_entries`)."""

    # -- episode ------------------------------------------------------------------------------------
    def set_push_scale(self, scale: float) -> None:
        """Pushes from now on apply ``scale`` x ``push_force`` (0 <= scale <= 1; 1 when made): a
        training curriculum grows them (the run setting ``push_ramp``). They come at the same times
        and in the same directions whatever the scale, so a scaled env's episodes are its unscaled
        episodes with gentler pushes.

        Raises:
            ValueError: ``scale`` is not a number in [0, 1].
        """
        if not isinstance(scale, numbers.Real) or not 0.0 <= scale <= 1.0:
            raise ValueError(f"push scale must be a number in [0, 1], got {scale!r}")
        self.push_scale = float(scale)

    def holding_excitation(self) -> NDArray[np.float64]:
        """The plant's holding activation (``LegsPlant.holding_activation``): held as an excitation,
        the activation settles there."""
        return self.plant.holding_activation()

    def _begin(self, qpos: NDArray[np.float64], qvel: NDArray[np.float64]) -> NDArray[np.float64]:
        """Start an episode from ``qpos`` (placed on the floor) and ``qvel``, with no push yet (one is
        scheduled if pushes are on); returns the first observation vector."""
        cfg, plant, episode = self.config, self.plant, self.lanes.episode
        plant.set_state(plant.place_on_floor(qpos), qvel)  # (no applied forces: no push)
        episode.steps = 0
        episode.height_sum = episode.effort_sum = 0.0
        episode.push[...] = 0.0
        episode.push_force = 0.0
        episode.push_end = math.inf
        episode.next_push = self.np_random.uniform(*cfg.push_interval) if cfg.push_force > 0 else math.inf
        return self._observation(self.lanes)

    def _advance(self, lanes: OneLane | Lanes, excitation: NDArray) -> BodyState:
        """One control step of the body (a push starts or ends first), and what it left: the
        observation vector, pelvis height and tilt, an unstable simulation (restarted standing), a
        fall (pelvis below ``fall_height`` x its standing height, or tilted beyond ``fall_tilt``)."""
        cfg, plant, episode = self.config, lanes.plant, lanes.episode
        self._perturb(lanes)
        unstable = plant.step(excitation)
        episode.steps = episode.steps + 1
        plant.restart(unstable, self.plant.standing_qpos)  # MuJoCo reset it: restart standing, finite
        vector = self._observation(lanes)
        height = lanes.entry(vector, self._pelvis_z)
        tilt = self._pelvis_tilt(lanes)
        fallen = lanes.logical_not(unstable) & (
            (height < cfg.fall_height * self._standing_height) | (tilt > cfg.fall_tilt)
        )
        episode.height_sum = episode.height_sum + height
        return BodyState(vector, height, tilt, unstable, fallen)

    def _effort(self, lanes: OneLane | Lanes, vector: NDArray[np.float64]) -> tuple[Any, Any]:
        """(``reward_effort``, mean(activation^2)); adds the latter to the episode's sum."""
        activation = vector[..., self._activation]
        mean_square = lanes.sum_squares(activation) / activation.shape[-1]
        lanes.episode.effort_sum = lanes.episode.effort_sum + mean_square
        return -self.config.effort_weight * mean_square, mean_square

    # -- helpers ------------------------------------------------------------------------------------
    def _observation(self, lanes: OneLane | Lanes) -> NDArray[np.float64]:
        """The observation vector(s), hidden entries included."""
        vector = self._readout.read(lanes.plant.sensordata)
        touch = vector[..., self._touch]
        np.add(touch[..., 0::2], touch[..., 1::2], out=vector[..., self._contact])
        vector[..., self._activation] = lanes.plant.muscle_activation()
        self._fill(lanes, vector)
        return vector

    def _pelvis_tilt(self, lanes: OneLane | Lanes) -> Any:
        """Angle between the pelvis's up axis and the vertical, rad (``LegsPlant.pelvis_tilt``)."""
        z_row = lanes.plant.view("xmat")[..., self.plant.pelvis_id, 6:9]  # the rotation's z row
        return tilt_from_rotation(z_row, self.plant.pelvis_up, lanes)

    def _perturb(self, lanes: OneLane | Lanes) -> None:
        """Start or end a pelvis push where its time has come."""
        episode, dt = lanes.episode, self.dt
        time = episode.steps * dt
        due = (time >= episode.push_end) | (time >= episode.next_push)
        if not lanes.any(due):
            return
        cfg = self.config
        for lane, rng in lanes.each(due):
            now = lane.steps * dt
            if now >= lane.push_end:
                lane.push[...] = 0.0
                lane.push_force, lane.push_end = 0.0, math.inf
                lane.next_push = now + rng.uniform(*cfg.push_interval)
            else:
                angle = rng.uniform(0, 2 * math.pi)
                force = cfg.push_force * self.push_scale
                lane.push[...] = np.array([math.cos(angle), math.sin(angle), 0.0]) * force
                lane.push_force, lane.push_end = force, now + cfg.push_duration
                lane.next_push = math.inf
        lanes.plant.apply_force(self.plant.pelvis_id, episode.push)
