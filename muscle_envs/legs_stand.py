"""MyoLegsStand-v0 and MyoLegs26Stand-v0: stand the MyoLeg upright with its muscles alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from numpy.typing import NDArray

from muscle_envs import observations as obs_keys
from muscle_envs.core import Outcome, make_config, reward_of
from muscle_envs.lanes import Lanes, OneLane
from muscle_envs.legs_base import LegsConfig, MyoLegsEnv

_LAYOUTS = ("dict", "seed003")


@dataclass(frozen=True)
class LegsStandConfig(LegsConfig):
    """Options of the standing envs (documented in :class:`MyoLegsStandEnv`)."""

    obs_layout: str = "dict"
    randomized_start: bool = False
    knee_bend: float = 0.1
    stability_weight: float = 0.5
    pose_weight: float = 0.5
    contact_weight: float = 0.5
    symmetry_weight: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.obs_layout not in _LAYOUTS:
            raise ValueError(f"obs_layout must be one of {_LAYOUTS}, got {self.obs_layout!r}")


class MyoLegsStandEnv(MyoLegsEnv):
    """Stand the MyoLeg (both legs, 80 muscles; ``MyoLegs26Stand-v0``: 26) upright with muscles alone.

    The body is myo-sim's MyoLeg (Rajagopal et al. 2016 via MyoSuite), loaded from the installed
    package, on a floor, with a free-floating pelvis. Seed 003 describes the task.

    ## Action Space
    ``Box(0, 1, (n_muscles,), float32)``: muscle excitations, clipped to [0, 1]; NaN/inf or a wrong
    shape raises ``ValueError`` and leaves the env untouched. Each muscle's activation follows its
    excitation with MuJoCo's first-order dynamics, 4x faster up (10 ms) than down (40 ms): an
    excitation that varies about its mean, such as a Gaussian policy's exploration noise, holds the
    activation above the mean's. A policy that learnt to stand with its noise can therefore fall with
    its mean alone (bench/RESULTS.md, "What the noise does").

    ## Observation Space
    ``obs_layout="dict"`` (default): a ``Dict`` of float64 vectors (units: ``muscle_envs.observations``):

    | key                 | shape         | unit                  | meaning                                 |
    |---------------------|---------------|-----------------------|-----------------------------------------|
    | `joint_position`    | (n_coords,)   | rad                   | hip (3), knee, ankle, subtalar, mtp; R,L|
    | `joint_velocity`    | (n_coords,)   | rad/s                 | the same coordinates' velocities        |
    | `pelvis_pose`       | (7,)          | m, quaternion         | pelvis position, orientation (wxyz)     |
    | `pelvis_velocity`   | (6,)          | m/s, rad/s            | pelvis linear, angular velocity (world) |
    | `foot_contact`      | (2,)          | body weights          | normal force under right, left foot     |
    | `muscle_activation` | (n_muscles,)  | [0, 1]                | activation                              |
    | `muscle_length`     | (n_muscles,)  | L0                    | fibre length / optimal fibre length     |
    | `muscle_velocity`   | (n_muscles,)  | L0/s                  | fibre velocity                          |
    | `muscle_force`      | (n_muscles,)  | Fmax                  | force / peak isometric force            |

    n_coords is 14 for the 80-muscle model (7 per leg) and 12 for the 26-muscle one (no subtalar).
    ``obs_layout="seed003"``: seed 003's flat ``Box`` of 2 n_coords + 15 + n_muscles entries (123 for
    the 80-muscle model), in this order:

    | index (80 muscles) | entries                                                        |
    |--------------------|----------------------------------------------------------------|
    | 0-13               | joint positions (order as above)                               |
    | 14-27              | joint velocities                                               |
    | 28-34              | pelvis position (3), orientation quaternion (4)                |
    | 35-40              | pelvis linear (3) and angular (3) velocity                     |
    | 41-42              | foot contact, right and left: 1 if the load > `contact_threshold` |
    | 43-122             | muscle activations (``muscle_names`` order)                    |

    All entries describe the state at the end of the control step exactly, contact forces included.

    ## Rewards
    Per step (each weighted term in ``info``; they sum to the reward). h is the pelvis height, h0 its
    standing value, tilt the pelvis's deviation from upright, v the centre-of-mass velocity, q the
    coordinates, q* the standing pose (knees bent by ``knee_bend``):

    | term               | value                                                                   |
    |--------------------|-------------------------------------------------------------------------|
    | `reward_upright`   | ``upright_weight * exp(-((h - h0) / 0.1 m)^2) * exp(-(tilt / 0.25 rad)^2)`` |
    | `reward_stability` | ``stability_weight * exp(-|v|^2 / (0.2 m/s)^2)``                        |
    | `reward_pose`      | ``pose_weight * exp(-mean((q - q*)^2) / (0.2 rad)^2)``                  |
    | `reward_contact`   | ``contact_weight * (feet in contact) / 2``                              |
    | `reward_effort`    | ``-effort_weight * mean(activation^2)``                                 |
    | `reward_symmetry`  | ``-symmetry_weight * mean((q_right - q_left)^2)``, rad^2                |

    Every positive term is earned step by step and only while standing well, so a fall forfeits the
    rest of the episode: nothing is paid up front for merely existing.

    ## Starting State
    The standing pose: pelvis upright, hips flexed 0.05 rad, knees bent ``knee_bend``, each ankle
    turned so that heel and toes are level, the pelvis at the height where the feet touch the floor
    (computed from the foot geometry). Each coordinate gets N(0, ``joint_noise``) rad noise and the
    pelvis is re-placed so the feet touch the floor. ``randomized_start=True`` is harder: 5x the
    noise, a pelvis tilt of up to 0.1 rad and random velocities of up to 0.2 rad/s. Activations 0.

    ## Episode End
    ``terminated`` when the body falls: pelvis below ``fall_height`` x h0, or tilted more than
    ``fall_tilt`` rad. ``truncated`` after ``episode_steps`` control steps (1000: 10 s, also the
    registered time limit), with ``info["is_success"] = True``: the body stood that long. If the
    simulation goes unstable (MuJoCo reports a bad acceleration, position or velocity and resets its
    state), the episode ends with ``truncated`` and ``info["physics_unstable"] = True``; observations
    stay finite.

    ## Perturbations
    Off by default. With ``push_force > 0`` N, the pelvis is pushed horizontally in a random direction
    for ``push_duration`` s, every U(``push_interval``) s; ``info["push_force"]`` is the force
    currently applied (N). ``env.unwrapped.set_push_scale(s)`` makes the pushes ``s`` x
    ``push_force`` (0 <= s <= 1) at the same times and in the same directions: a curriculum grows them
    during training (the run setting ``push_ramp``) while evaluation pushes with the full force.

    ## Info
    The reward terms, ``pelvis_height`` (m), ``is_success``, ``physics_unstable``, ``push_force``.

    ## Episode Metrics
    ``episode_metrics()`` summarizes the episode so far (train_sb3.py logs it as ``task/<name>``,
    evaluate.py reports it): ``stand_duration`` (s stood so far), ``pelvis_height`` (mean over the
    steps, m) and ``effort`` (mean over the steps of mean(activation^2)).

    ## Arguments
    ``gym.make(id, **options)`` overrides fields of ``LegsStandConfig``; unknown options are errors.

    | option               | default      | meaning                                                   |
    |----------------------|--------------|-----------------------------------------------------------|
    | `model`              | "myolegs"    | "myolegs" (80 muscles) or "myolegs26"                     |
    | `frame_skip`         | 5            | 2 ms physics steps per control step (10 ms)               |
    | `obs_layout`         | "dict"       | "dict" or "seed003" (flat vector)                         |
    | `episode_steps`      | 1000         | episode length, control steps (success if stood this long)|
    | `joint_noise`        | 0.02         | std of the start pose noise, rad                          |
    | `randomized_start`   | False        | harder start (see Starting State)                         |
    | `knee_bend`          | 0.1          | knee flexion of the standing pose, rad                    |
    | `fall_height`        | 0.7          | fall below this fraction of the standing pelvis height    |
    | `fall_tilt`          | 0.8          | fall beyond this pelvis tilt, rad                         |
    | `contact_threshold`  | 0.05         | foot load counted as contact, body weights                |
    | `upright_weight`     | 1.0          | weight of `reward_upright`                                |
    | `stability_weight`   | 0.5          | weight of `reward_stability`                              |
    | `pose_weight`        | 0.5          | weight of `reward_pose`                                   |
    | `contact_weight`     | 0.5          | weight of `reward_contact`                                |
    | `effort_weight`      | 0.1          | weight of `reward_effort`                                 |
    | `symmetry_weight`    | 0.2          | weight of `reward_symmetry`                               |
    | `push_force`         | 0.0          | pelvis push magnitude, N (0: no pushes)                   |
    | `push_interval`      | (1.0, 3.0)   | time between pushes, s                                    |
    | `push_duration`      | 0.1          | length of a push, s                                       |
    | `render_size`        | (480, 480)   | width, height of rendered frames, pixels                  |

    ## Version History
    - v0: initial release.
    """

    reward_terms = (
        "reward_upright",
        "reward_stability",
        "reward_pose",
        "reward_contact",
        "reward_effort",
        "reward_symmetry",
    )

    def __init__(self, render_mode: str | None = None, config: LegsStandConfig | None = None, **options: Any):
        cfg = make_config(LegsStandConfig, config, options)
        super().__init__(render_mode, cfg, {})
        plant, layout = self.plant, self._layout
        n, nc = plant.n_muscles, len(plant.coordinates)
        self._state_part = slice(0, layout.slice(obs_keys.PELVIS_VELOCITY).stop)  # seed 003's first 2 nc + 13
        if cfg.obs_layout == "seed003":
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2 * nc + 15 + n,), np.float64)
            self._layout = None
        self.nominal_pose = plant.standing_qpos[plant.coordinate_qpos_indices()]
        self._pose_scale = -1.0 / (nc * 0.04)  # exp(-mean((q - q*)^2) / (0.2 rad)^2)
        self._symmetry_scale = -cfg.symmetry_weight / len(self._right)  # -w mean((q_r - q_l)^2)

    # -- episode ------------------------------------------------------------------------------------
    def _reset_episode(self, options: dict[str, Any]) -> tuple[NDArray[np.float64], dict[str, Any]]:
        if options:
            raise ValueError(f"MyoLegsStand takes no reset options, got {sorted(options)}")
        cfg, plant = self.config, self.plant
        rng = self.np_random
        qpos = plant.standing_qpos.copy()
        coords = plant.coordinate_qpos_indices()
        scale = 5.0 if cfg.randomized_start else 1.0
        qpos[coords] += rng.normal(0.0, cfg.joint_noise * scale, coords.size)
        qvel = np.zeros(plant.model.nv)
        if cfg.randomized_start:  # tilt the pelvis about a random horizontal axis; joints moving
            orientation = slice(plant.root_qpos + 3, plant.root_qpos + 7)
            tilt_axis = rng.normal(size=3) * np.array([1.0, 1.0, 0.0])
            quat = np.empty(4)
            mujoco.mju_axisAngle2Quat(quat, tilt_axis / np.linalg.norm(tilt_axis), rng.uniform(0, 0.1))
            mujoco.mju_mulQuat(qpos[orientation], quat, qpos[orientation].copy())
            qvel[:] = rng.uniform(-0.2, 0.2, plant.model.nv)
            qvel[plant.root_dof : plant.root_dof + 6] = 0.0
        vector = self._observed(self._begin(qpos, qvel))
        return vector, {"pelvis_height": plant.pelvis_height(), "is_success": False}

    def _step(self, lanes: OneLane | Lanes, excitation: NDArray) -> Outcome:
        body = self._advance(lanes, excitation)
        reward, terms = self._reward(lanes, body.vector, body.height, body.tilt)
        stood = lanes.logical_not(body.fallen | body.unstable) & (
            lanes.episode.steps >= self.config.episode_steps
        )
        info = {
            "pelvis_height": body.height,
            "physics_unstable": body.unstable,
            "push_force": lanes.episode.push_force,
        }
        return Outcome(
            self._observed(body.vector), reward, terms, body.fallen, body.unstable | stood, stood, info
        )

    def episode_metrics(self) -> dict[str, float]:
        """The episode so far: ``stand_duration`` (s), mean ``pelvis_height`` (m) and ``effort`` (mean
        of mean(activation^2) over its steps)."""
        episode = self.lanes.episode
        steps = max(episode.steps, 1)
        return {
            "stand_duration": episode.steps * self.dt,
            "pelvis_height": float(episode.height_sum) / steps,
            "effort": float(episode.effort_sum) / steps,
        }

    # -- helpers ------------------------------------------------------------------------------------
    def _observed(self, vector: NDArray[np.float64]) -> NDArray[np.float64]:
        """The observation vector(s) the env returns: ``vector`` itself, or seed 003's flat layout."""
        if self.config.obs_layout != "seed003":
            return vector
        contact = (vector[..., self._contact] > self.config.contact_threshold).astype(np.float64)
        return np.concatenate(
            [vector[..., self._state_part], contact, vector[..., self._activation]], axis=-1
        )

    def _reward(
        self, lanes: OneLane | Lanes, vector: NDArray[np.float64], height: Any, tilt: Any
    ) -> tuple[Any, tuple[Any, ...]]:
        """(reward, weighted terms)."""
        cfg, exp, sum_squares = self.config, lanes.exp, lanes.sum_squares
        dz = (height - self._standing_height) * 10.0  # / 0.1 m
        tilt_ratio = tilt * 4.0  # / 0.25 rad
        upright = cfg.upright_weight * exp(-dz * dz - tilt_ratio * tilt_ratio)
        stability = cfg.stability_weight * exp(sum_squares(vector[..., self._com_velocity]) * -25.0)  # / 0.04
        q = vector[..., self._coordinate_pos]
        deviation = q - self.nominal_pose
        pose = cfg.pose_weight * exp(sum_squares(deviation) * self._pose_scale)
        feet = (vector[..., self._contact] > cfg.contact_threshold).sum(-1)  # feet in contact
        contact = feet * (cfg.contact_weight / 2)
        effort, _ = self._effort(lanes, vector)
        asymmetry = q[..., self._right] - q[..., self._left]
        symmetry = sum_squares(asymmetry) * self._symmetry_scale
        terms = (upright, stability, pose, contact, effort, symmetry)
        return reward_of(terms), terms
