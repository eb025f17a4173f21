"""MyoLegsWalk-v0 and MyoLegs26Walk-v0: walk the MyoLeg forward on a flat floor (seed 002's task)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from muscle_envs import observations as obs_keys
from muscle_envs.core import Outcome, make_config, reward_of
from muscle_envs.energetics import Umberger2003
from muscle_envs.lanes import Lanes, OneLane
from muscle_envs.legs_base import LegsConfig, MyoLegsEnv
from muscle_envs.plants.base import SensorGroup
from muscle_envs.plants.legs import SIDES

_STARTS = ("stand", "stride")
# Per-foot episode variables that start each episode at 0.
_PER_FOOT_COUNTERS = (
    "strikes",
    "first_strike",
    "first_position",
    "last_strike",
    "stance",
    "stance_at_last",
    "struck",
)
# Forward is the body's facing direction at the start, world -y (the toes point that way).
FORWARD_AXIS, FORWARD_SIGN = 1, -1.0


@dataclass(frozen=True)
class LegsWalkConfig(LegsConfig):
    """Options of the walking envs (documented in :class:`MyoLegsWalkEnv`)."""

    target_speed: float = 1.2
    success_speed: float = 0.8
    start: str = "stand"
    alive_weight: float = 0.5
    velocity_weight: float = 1.0
    velocity_width: float = 0.6
    footstep_weight: float = 1.0
    max_stride: float = 1.6
    upright_weight: float = 0.5
    support_weight: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.start not in _STARTS:
            raise ValueError(f"start must be one of {_STARTS}, got {self.start!r}")
        if (
            self.target_speed < 0
            or self.success_speed < 0
            or self.velocity_width <= 0
            or self.max_stride <= 0
        ):
            raise ValueError(
                "target_speed >= 0, success_speed >= 0, velocity_width > 0 and max_stride > 0 needed"
            )


class MyoLegsWalkEnv(MyoLegsEnv):
    """Walk the MyoLeg (80 muscles; ``MyoLegs26Walk-v0``: 26) forward at a target speed, judged by
    its ground reaction forces and gait (seed 002's task, on MuJoCo's MyoLeg rather than OpenSim).

    The body is ``MyoLegsStand-v0``'s, on a flat unbounded floor at z = 0 (myo-sim's raised disc of
    1.05 m radius is removed). Forward is the direction the body faces at the start, world -y.

    ## Action Space
    ``Box(0, 1, (n_muscles,), float32)``: muscle excitations, as ``MyoLegsStand-v0``.

    ## Observation Space
    A ``Dict``: every entry of ``MyoLegsStand-v0``'s (joint position and velocity, pelvis pose and
    velocity, foot contact, muscle activation, length, velocity, force; same units), and

    | key                     | shape | unit         | meaning                                         |
    |-------------------------|-------|--------------|-------------------------------------------------|
    | `ground_reaction_force` | (6,)  | body weights | on the right foot (world x, y, z), then the left |
    | `target_speed`          | (1,)  | m/s          | the forward speed asked for                     |

    The ground reaction force is the net force of all the ground's contacts with the foot (hindfoot
    and toes), from a MuJoCo contact sensor: a body standing still carries ~1 body weight in z.

    ## Rewards
    Per step (each weighted term in ``info``; they sum to the reward). v is the pelvis's forward
    velocity, v* ``target_speed``, h the pelvis height and h0 its standing value:

    | term               | value                                                                 |
    |--------------------|-----------------------------------------------------------------------|
    | `reward_alive`     | ``alive_weight`` on every step that does not end in a fall            |
    | `reward_velocity`  | ``velocity_weight * exp(-((v - v*) / velocity_width)^2)``             |
    | `reward_footstep`  | at a heel strike: ``footstep_weight`` x progress (below); else 0      |
    | `reward_upright`   | ``upright_weight * exp(-(tilt / 0.25 rad)^2)``                        |
    | `reward_support`   | ``support_weight * exp(-((h - h0) / 0.1 m)^2)`` (body support)        |
    | `reward_effort`    | ``-effort_weight * mean(activation^2)``                               |

    Progress is the striking heel's forward displacement since that foot's previous strike (or the
    start), clipped to [0, ``max_stride``] m. The footstep term pays for progress, not for contact: a
    foot lifted and put down where it was earns nothing (seed 002's agents learnt to drop a leg
    again and again for a per-contact reward).

    ## Gait Events
    A foot is loaded while the vertical ground reaction force exceeds ``contact_threshold`` body
    weights. A heel strike is the step a foot becomes loaded, a toe-off the step it stops being loaded
    (``muscle_analysis.gait.gait_events`` finds the same events in a recorded episode).

    ## Starting State
    ``start="stand"``: ``MyoLegsStand-v0``'s standing pose with N(0, ``joint_noise``) rad noise, at
    rest. ``start="stride"``: mid-stride, the right hip flexed 0.35 rad, the left extended 0.15 rad,
    the left knee bent 0.3 rad, the pelvis moving forward at ``target_speed``. Activations 0.

    ## Episode End
    ``terminated`` when the body falls (pelvis below ``fall_height`` x h0, or tilted beyond
    ``fall_tilt`` rad). ``truncated`` after ``episode_steps`` control steps (1000: 10 s, the registered
    time limit); ``info["is_success"]`` is True then if the mean forward speed was at least
    ``success_speed``. An unstable simulation ends the episode as in ``MyoLegsStand-v0``.

    ## Perturbations
    As ``MyoLegsStand-v0``: off by default, pelvis pushes with ``push_force > 0``, scaled by
    ``set_push_scale``.

    ## Info
    The reward terms, ``pelvis_height`` (m), ``forward_speed`` (m/s), ``is_success``,
    ``physics_unstable``, ``push_force``.

    ## Episode Metrics
    ``episode_metrics()`` (train_sb3.py logs them as ``task/<name>``, evaluate.py reports them); NaN
    where the episode has too few heel strikes to tell:

    | metric              | unit    | meaning                                                          |
    |---------------------|---------|------------------------------------------------------------------|
    | `walk_duration`     | s       | time walked so far                                               |
    | `distance`          | m       | forward pelvis displacement                                      |
    | `speed`             | m/s     | distance / walk_duration                                         |
    | `positive_work`     | J       | muscles' positive mechanical work (tension x shortening speed) |
    | `cost_of_transport` | 1       | positive_work / (m g distance); NaN below 5 cm of progress      |
    | `metabolic_energy`  | J       | the muscles' metabolic energy (Umberger et al. 2003; below)      |
    | `metabolic_cost_of_transport` | J/(kg m) | metabolic_energy / (m distance) (human ~3-3.5)  |
    | `steps`             | count   | heel strikes, both feet                                          |
    | `cadence`           | steps/min | 120 / mean stride time (a stride: a foot's strike to its next) |
    | `stride_length`     | m       | mean forward distance between a foot's successive strikes        |
    | `stance_fraction`   | 1       | loaded time / time from a foot's first to last strike (human ~0.6) |
    | `symmetry_index`    | %       | ``100 |R - L| / ((R + L) / 2)`` of the stance fractions (below) |

    The symmetry index is Robinson et al. (1987)'s; 0 is symmetric.
    | `pelvis_height`     | m       | mean over the steps                                              |
    | `effort`            | 1       | mean over the steps of mean(activation^2)                        |

    The metabolic energy is Umberger et al. (2003)'s muscle model (``muscle_envs.energetics``: heat
    of activation and maintenance, of shortening and lengthening, and mechanical work, for every
    muscle; half slow-twitch fibres; muscle masses from the peak forces; no basal rate).

    ## Arguments
    ``gym.make(id, **options)`` overrides fields of ``LegsWalkConfig``; unknown options are errors.

    | option               | default      | meaning                                                   |
    |----------------------|--------------|-----------------------------------------------------------|
    | `model`              | "myolegs"    | "myolegs" (80 muscles) or "myolegs26"                     |
    | `frame_skip`         | 5            | 2 ms physics steps per control step (10 ms)               |
    | `episode_steps`      | 1000         | episode length, control steps                             |
    | `target_speed`       | 1.2          | forward speed asked for, m/s                              |
    | `success_speed`      | 0.8          | mean forward speed of a successful episode, m/s           |
    | `start`              | "stand"      | "stand" or "stride" (see Starting State)                  |
    | `joint_noise`        | 0.02         | std of the start pose noise, rad                          |
    | `fall_height`        | 0.7          | fall below this fraction of the standing pelvis height    |
    | `fall_tilt`          | 0.8          | fall beyond this pelvis tilt, rad                         |
    | `contact_threshold`  | 0.05         | vertical force of a loaded foot, body weights             |
    | `alive_weight`       | 0.5          | weight of `reward_alive`                                  |
    | `velocity_weight`    | 1.0          | weight of `reward_velocity`                               |
    | `velocity_width`     | 0.6          | width of `reward_velocity`'s kernel, m/s                  |
    | `footstep_weight`    | 1.0          | weight of `reward_footstep`, per metre of progress        |
    | `max_stride`         | 1.6          | most progress one heel strike is paid for, m              |
    | `upright_weight`     | 0.5          | weight of `reward_upright`                                |
    | `support_weight`     | 0.5          | weight of `reward_support`                                |
    | `effort_weight`      | 0.1          | weight of `reward_effort`                                 |
    | `push_force`         | 0.0          | pelvis push magnitude, N (0: no pushes)                   |
    | `push_interval`      | (1.0, 3.0)   | time between pushes, s                                    |
    | `push_duration`      | 0.1          | length of a push, s                                       |
    | `render_size`        | (480, 480)   | width, height of rendered frames, pixels                  |

    ## Version History
    - v0: initial release.
    """

    floor = "flat"
    reward_terms = (
        "reward_alive",
        "reward_velocity",
        "reward_footstep",
        "reward_upright",
        "reward_support",
        "reward_effort",
    )

    def __init__(self, render_mode: str | None = None, config: LegsWalkConfig | None = None, **options: Any):
        cfg = make_config(LegsWalkConfig, config, options)
        gait = {
            "start_forward": 0.0,  # forward pelvis position at the start, m
            "work": 0.0,  # positive muscle work so far, J
            "metabolic": 0.0,  # metabolic energy of the muscles so far (Umberger et al. 2003), J
            "loaded": np.zeros(2),  # each foot loaded last step (1) or not (0)
            "foot_forward": np.zeros(2),  # each heel's forward position now, m
            "strikes": np.zeros(2),  # heel strikes so far, per foot
            "first_strike": np.zeros(2),  # time (s) and forward position (m) of each foot's first
            "first_position": np.zeros(2),
            "last_strike": np.zeros(2),  # ... and latest strike
            "last_position": np.zeros(2),  # (at the start: the heel's position)
            "stance": np.zeros(2),  # loaded time since the foot's first strike, s
            "stance_at_last": np.zeros(2),  # ... up to its latest strike
            "struck": np.zeros(2),  # each foot's heel strike this step (1) or not (0)
            "progress": 0.0,  # forward progress of the feet that struck this step, m
            "distance": 0.0,  # forward pelvis displacement since the start, m
        }
        super().__init__(render_mode, cfg, gait)
        plant, layout = self.plant, self._layout
        grf = layout.slice(obs_keys.GROUND_REACTION_FORCE).start
        self._grf_z = np.array([grf + 2, grf + 5])
        self._target_speed = layout.slice(obs_keys.TARGET_SPEED)
        self._forward_velocity = layout.slice(obs_keys.PELVIS_VELOCITY).start + FORWARD_AXIS
        self._pelvis_forward = layout.slice(obs_keys.PELVIS_POSE).start + FORWARD_AXIS
        self._heels = np.array([plant.model.body(f"calcn_{side}").id for side in SIDES])
        # muscle power = tension x shortening velocity = -(force in Fmax) (velocity in L0/s) Fmax L0
        self._force = layout.slice(obs_keys.MUSCLE_FORCE)
        self._velocity = layout.slice(obs_keys.MUSCLE_VELOCITY)
        self._power_scale = -plant.max_isometric_force * plant.optimal_fiber_length
        self._energetics = Umberger2003(plant)
        self._length = layout.slice(obs_keys.MUSCLE_LENGTH)
        self._stride_pose = self._stride_qpos()

    # -- what the task adds to the body -------------------------------------------------------------
    def _task_sensors(self) -> list[tuple[str, SensorGroup]]:
        return [(obs_keys.GROUND_REACTION_FORCE, self.plant.ground_force_sensors())]

    def _task_entries(self) -> list[tuple[str, int, float, float]]:
        return [(obs_keys.TARGET_SPEED, 1, 0.0, np.inf)]

    def _fill(self, lanes: OneLane | Lanes, vector: NDArray[np.float64]) -> None:
        vector[..., self._target_speed] = self.config.target_speed

    # -- episode ------------------------------------------------------------------------------------
    def _stride_qpos(self) -> NDArray[np.float64]:
        plant = self.plant
        qpos = plant.standing_qpos.copy()
        for joint, angle in (("hip_flexion_r", 0.35), ("hip_flexion_l", -0.15), ("knee_angle_l", 0.3)):
            qpos[plant.model.joint(joint).qposadr[0]] = angle
        return qpos

    def _reset_episode(self, options: dict[str, Any]) -> tuple[NDArray[np.float64], dict[str, Any]]:
        if options:
            raise ValueError(f"MyoLegsWalk takes no reset options, got {sorted(options)}")
        cfg, plant, episode = self.config, self.plant, self.lanes.episode
        qpos = (self._stride_pose if cfg.start == "stride" else plant.standing_qpos).copy()
        coords = plant.coordinate_qpos_indices()
        qpos[coords] += self.np_random.normal(0.0, cfg.joint_noise, coords.size)
        qvel = np.zeros(plant.model.nv)
        if cfg.start == "stride":
            qvel[plant.root_dof + FORWARD_AXIS] = FORWARD_SIGN * cfg.target_speed
        vector = self._begin(qpos, qvel)
        episode.start_forward = FORWARD_SIGN * vector.item(self._pelvis_forward)
        episode.work = episode.metabolic = episode.progress = episode.distance = 0.0
        episode.loaded[...] = vector[self._grf_z] > cfg.contact_threshold
        episode.foot_forward[...] = FORWARD_SIGN * plant.data.xpos[self._heels, FORWARD_AXIS]
        episode.last_position[...] = episode.foot_forward
        for name in _PER_FOOT_COUNTERS:
            getattr(episode, name)[...] = 0.0
        info = {"pelvis_height": plant.pelvis_height(), "forward_speed": 0.0, "is_success": False}
        return vector, info

    def _step(self, lanes: OneLane | Lanes, excitation: NDArray) -> Outcome:
        cfg, episode = self.config, lanes.episode
        body = self._advance(lanes, excitation)
        vector = body.vector
        self._track_gait(lanes, vector)
        speed = FORWARD_SIGN * lanes.entry(vector, self._forward_velocity)
        exp = lanes.exp
        alive = lanes.logical_not(body.fallen) * cfg.alive_weight
        dv = (speed - cfg.target_speed) / cfg.velocity_width
        velocity = cfg.velocity_weight * exp(-dv * dv)
        footstep = cfg.footstep_weight * lanes.clip(episode.progress, 0.0, cfg.max_stride)
        tilt_ratio = body.tilt * 4.0  # / 0.25 rad
        upright = cfg.upright_weight * exp(-tilt_ratio * tilt_ratio)
        dz = (body.height - self._standing_height) * 10.0  # / 0.1 m
        support = cfg.support_weight * exp(-dz * dz)
        effort, _ = self._effort(lanes, vector)
        terms = (alive, velocity, footstep, upright, support, effort)
        power = vector[..., self._force] * vector[..., self._velocity] * self._power_scale
        episode.work = episode.work + np.maximum(power, 0.0).sum(-1) * self.dt
        metabolic = self._energetics.power(
            excitation,
            vector[..., self._activation],
            vector[..., self._length],
            vector[..., self._velocity],
            vector[..., self._force],
        )
        episode.metabolic = episode.metabolic + metabolic.sum(-1) * self.dt
        ended = lanes.logical_not(body.fallen | body.unstable) & (episode.steps >= cfg.episode_steps)
        episode.distance = FORWARD_SIGN * lanes.entry(vector, self._pelvis_forward) - episode.start_forward
        walked = ended & (episode.distance >= cfg.success_speed * episode.steps * self.dt)
        info = {
            "pelvis_height": body.height,
            "forward_speed": speed,
            "physics_unstable": body.unstable,
            "push_force": episode.push_force,
        }
        return Outcome(vector, reward_of(terms), terms, body.fallen, body.unstable | ended, walked, info)

    def _track_gait(self, lanes: OneLane | Lanes, vector: NDArray[np.float64]) -> None:
        """Heel strikes (a foot becoming loaded), each foot's progress and stance time."""
        episode, dt = lanes.episode, self.dt
        loaded = vector[..., self._grf_z] > self.config.contact_threshold
        struck = loaded & (episode.loaded < 0.5)
        episode.struck[...] = struck
        episode.foot_forward[...] = FORWARD_SIGN * lanes.plant.view("xpos")[..., self._heels, FORWARD_AXIS]
        episode.progress = episode.progress * 0.0
        any_struck = struck.any(-1)
        if lanes.any(any_struck):
            for lane, _ in lanes.each(any_struck):
                self._heel_strikes(lane)
        started = episode.strikes > 0
        episode.stance[...] = episode.stance + (loaded & started) * dt
        episode.loaded[...] = loaded

    def _heel_strikes(self, lane: Any) -> None:
        """Record one env's heel strikes of this step (``lane.struck``) and the feet's progress."""
        now = lane.steps * self.dt
        progress = 0.0
        for foot in np.flatnonzero(lane.struck).tolist():
            position = lane.foot_forward[foot]
            progress += max(position - lane.last_position[foot], 0.0)
            if lane.strikes[foot] == 0:
                lane.first_strike[foot], lane.first_position[foot] = now, position
            lane.last_strike[foot], lane.last_position[foot] = now, position
            lane.stance_at_last[foot] = lane.stance[foot]
            lane.strikes[foot] = lane.strikes[foot] + 1
        lane.progress = progress

    def episode_metrics(self) -> dict[str, float]:
        episode = self.lanes.episode
        steps = max(episode.steps, 1)
        duration = episode.steps * self.dt
        distance = float(episode.distance)
        return {
            "walk_duration": duration,
            "distance": distance,
            "speed": distance / duration if duration > 0 else 0.0,
            "positive_work": float(episode.work),
            "cost_of_transport": (
                float(episode.work) / (self.plant.body_weight * distance) if distance >= 0.05 else math.nan
            ),
            "metabolic_energy": float(episode.metabolic),
            "metabolic_cost_of_transport": (
                float(episode.metabolic) / (self.plant.total_mass * distance)
                if distance >= 0.05
                else math.nan
            ),
            **gait_summary(
                episode.strikes,
                episode.first_strike,
                episode.last_strike,
                episode.first_position,
                episode.last_position,
                episode.stance_at_last,
            ),
            "pelvis_height": float(episode.height_sum) / steps,
            "effort": float(episode.effort_sum) / steps,
        }


def gait_summary(
    strikes: NDArray,
    first_strike: NDArray,
    last_strike: NDArray,
    first_position: NDArray,
    last_position: NDArray,
    stance_at_last: NDArray,
) -> dict[str, float]:
    """Steps, cadence, stride length, stance fraction and symmetry from each foot's (right, left)
    heel strikes: their count, the time and forward position of the first and last, and the loaded
    time between those two. Each is the mean over the feet that struck twice or more (NaN if neither
    did); the symmetry index needs both."""
    strides = np.asarray(strikes, dtype=np.float64) - 1.0
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of two NaNs: NaN, as meant
        cycle_time = np.where(strides > 0, np.asarray(last_strike) - np.asarray(first_strike), np.nan)
        stride_time = cycle_time / np.where(strides > 0, strides, np.nan)
        stride_length = (np.asarray(last_position) - np.asarray(first_position)) / np.where(
            strides > 0, strides, np.nan
        )
        stance = np.asarray(stance_at_last) / cycle_time
        right, left = stance
        return {  # the feet with two strikes or more (NaN where neither has)
            "steps": float(np.sum(strikes)),
            "cadence": float(120.0 / np.nanmean(stride_time)),
            "stride_length": float(np.nanmean(stride_length)),
            "stance_fraction": float(np.nanmean(stance)),
            "symmetry_index": float(100.0 * abs(right - left) / ((right + left) / 2.0)),
        }
