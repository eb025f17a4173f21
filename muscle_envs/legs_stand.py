"""MyoLegsStand-v0 and MyoLegs26Stand-v0: stand the MyoLeg upright with its muscles alone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from numpy.typing import NDArray

from muscle_envs import observations as obs_keys
from muscle_envs.core import BatchKernel, BatchStep, MuscleEnv, ObservationLayout, make_config
from muscle_envs.plants.legs import LegsPlant

_LAYOUTS = ("dict", "seed003")
_FOOT_TOUCH = "foot_touch"  # hidden: the four raw touch sensors, summed per foot into foot_contact
_COM_VELOCITY = "com_velocity"  # hidden: centre-of-mass velocity, for the stability reward


@dataclass(frozen=True)
class LegsStandConfig:
    """Options of the standing envs (documented in :class:`MyoLegsStandEnv`)."""

    model: str = "myolegs"
    frame_skip: int = 5
    obs_layout: str = "dict"
    episode_steps: int = 1000
    joint_noise: float = 0.02
    randomized_start: bool = False
    knee_bend: float = 0.1
    fall_height: float = 0.7
    fall_tilt: float = 0.8
    contact_threshold: float = 0.05
    upright_weight: float = 1.0
    stability_weight: float = 0.5
    pose_weight: float = 0.5
    contact_weight: float = 0.5
    effort_weight: float = 0.1
    symmetry_weight: float = 0.2
    push_force: float = 0.0
    push_interval: tuple[float, float] = (1.0, 3.0)
    push_duration: float = 0.1
    render_size: tuple[int, int] = (480, 480)

    def __post_init__(self) -> None:
        for name in ("push_interval", "render_size"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.obs_layout not in _LAYOUTS:
            raise ValueError(f"obs_layout must be one of {_LAYOUTS}, got {self.obs_layout!r}")
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


class MyoLegsStandEnv(MuscleEnv):
    """Stand the MyoLeg (both legs, 80 muscles; ``MyoLegs26Stand-v0``: 26) upright with muscles alone.

    The body is myo-sim's MyoLeg (Rajagopal et al. 2016 via MyoSuite), loaded from the installed
    package, on a floor, with a free-floating pelvis. Seed 003 describes the task.

    ## Action Space
    ``Box(0, 1, (n_muscles,), float32)``: muscle excitations, clipped to [0, 1]; NaN/inf or a wrong
    shape raises ``ValueError`` and leaves the env untouched.

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
    currently applied (N).

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
    end_info_keys = ("physics_unstable",)

    def __init__(self, render_mode: str | None = None, config: LegsStandConfig | None = None, **options: Any):
        cfg = make_config(LegsStandConfig, config, options)
        plant = LegsPlant(cfg.model, cfg.frame_skip)
        super().__init__(plant, render_mode, camera=None, render_size=cfg.render_size, motor_noise=0.0)
        self.config = cfg
        self.plant: LegsPlant = plant
        n, nc = plant.n_muscles, len(plant.coordinates)

        # One fresh vector per step: [joint pos | joint vel | pelvis pose | pelvis vel | raw touch (4,
        # hidden) | centre-of-mass velocity (3, hidden) | muscle length, velocity, force | foot contact
        # | activation]. A SensorReadout gathers the sensors; foot contact (touch summed per foot) and
        # activation are filled in. The dict's entries are views of the vector; seed 003's flat layout
        # is put together from it.
        sensors = [
            plant.coordinate_sensors("pos"),
            plant.coordinate_sensors("vel"),
            plant.pelvis_pose_sensors(),
            plant.pelvis_velocity_sensors(),
            plant.foot_touch_sensors(),
            plant.sensor_group(["com_velocity"]),
            *(plant.muscle_sensors(q) for q in ("length", "velocity", "force")),
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
        layout.add(obs_keys.FOOT_CONTACT, 2, 0.0, np.inf)
        layout.add(obs_keys.MUSCLE_ACTIVATION, n, 0.0, 1.0)
        dict_space = layout.build()
        self._layout = layout
        self._readout = plant.readout(sensors, extra=2 + n)
        if self._readout.size != layout.size:
            raise AssertionError(f"readout ({self._readout.size}) and layout ({layout.size}) disagree")
        self._touch = layout.slice(_FOOT_TOUCH)
        self._contact = layout.slice(obs_keys.FOOT_CONTACT)
        self._activation = layout.slice(obs_keys.MUSCLE_ACTIVATION)
        self._coordinate_pos = layout.slice(obs_keys.JOINT_POSITION)
        self._com_velocity = layout.slice(_COM_VELOCITY)
        self._pelvis_z = layout.slice(obs_keys.PELVIS_POSE).start + 2
        self._state_part = slice(0, layout.slice(obs_keys.PELVIS_VELOCITY).stop)  # seed 003's first 2 nc + 13
        if cfg.obs_layout == "seed003":
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2 * nc + 15 + n,), np.float64)
        else:
            self.observation_space = dict_space
        mirror = [
            (plant.coordinates.index(c), plant.coordinates.index(c[:-2] + "_l"))
            for c in plant.coordinates
            if c.endswith("_r")
        ]
        self._right, self._left = (np.array(idx) for idx in zip(*mirror, strict=True))

        self.nominal_pose = plant.standing_qpos[plant.coordinate_qpos_indices()]
        self._standing_height = plant.standing_pelvis_height
        self._steps = 0
        self._next_push = self._push_end = math.inf
        self._push = 0.0
        self._height_sum = self._effort_sum = 0.0

    # -- episode ------------------------------------------------------------------------------------
    def _reset_episode(self, options: dict[str, Any]) -> tuple[dict[str, NDArray], dict[str, Any]]:
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
        plant.set_state(plant.place_on_floor(qpos), qvel)
        plant.push_pelvis(np.zeros(3))
        self._steps = 0
        self._height_sum = self._effort_sum = 0.0
        self._push = 0.0
        self._push_end = math.inf
        self._next_push = rng.uniform(*cfg.push_interval) if cfg.push_force > 0 else math.inf
        return self._observation(), {"pelvis_height": plant.pelvis_height(), "is_success": False}

    def step(self, action: Any):
        excitation = self._checked_excitation(action)
        plant, cfg = self.plant, self.config
        self._perturb()
        before = plant.instability_count()
        plant.step(excitation)
        self._steps += 1
        unstable = plant.instability_count() > before
        if unstable:  # MuJoCo has reset its state; restart from the standing pose, finite
            plant.set_state(plant.standing_qpos)
        obs = self._observation()
        height, tilt = float(self._vector[self._pelvis_z]), plant.pelvis_tilt()
        reward, info = self._reward(height, tilt)
        fallen = not unstable and (height < cfg.fall_height * self._standing_height or tilt > cfg.fall_tilt)
        stood = not fallen and not unstable and self._steps >= cfg.episode_steps
        self._height_sum += height
        info["pelvis_height"] = height
        info["is_success"] = stood
        info["physics_unstable"] = unstable
        info["push_force"] = self._push
        return obs, reward, fallen, unstable or stood, info

    def episode_metrics(self) -> dict[str, float]:
        """The episode so far: ``stand_duration`` (s), mean ``pelvis_height`` (m) and ``effort`` (mean
        of mean(activation^2) over its steps)."""
        steps = max(self._steps, 1)
        return {
            "stand_duration": self._steps * self.dt,
            "pelvis_height": self._height_sum / steps,
            "effort": self._effort_sum / steps,
        }

    # -- helpers ------------------------------------------------------------------------------------
    def _observation(self) -> dict[str, NDArray[np.float64]] | NDArray[np.float64]:
        vector = self._readout.read()
        touch = vector[self._touch]
        np.add(touch[0::2], touch[1::2], out=vector[self._contact])
        vector[self._activation] = self.plant.muscle_activation()
        self._vector = vector
        if self.config.obs_layout == "seed003":
            contact = (vector[self._contact] > self.config.contact_threshold).astype(np.float64)
            return np.concatenate([vector[self._state_part], contact, vector[self._activation]])
        return self._layout.assemble(vector)

    def _reward(self, height: float, tilt: float) -> tuple[float, dict[str, float]]:
        cfg, vector = self.config, self._vector
        dz = (height - self._standing_height) / 0.1
        upright = cfg.upright_weight * math.exp(-dz * dz - (tilt / 0.25) ** 2)
        com = vector[self._com_velocity]
        stability = cfg.stability_weight * math.exp(-float(com @ com) / 0.04)
        q = vector[self._coordinate_pos]
        deviation = q - self.nominal_pose
        pose = cfg.pose_weight * math.exp(-float(deviation @ deviation) / deviation.size / 0.04)
        right_load, left_load = vector[self._contact].tolist()
        feet = (right_load > cfg.contact_threshold) + (left_load > cfg.contact_threshold)
        contact = cfg.contact_weight * feet / 2
        activation = vector[self._activation]
        mean_square = float(activation @ activation) / activation.size
        self._effort_sum += mean_square
        effort = -cfg.effort_weight * mean_square
        asymmetry = q[self._right] - q[self._left]
        symmetry = -cfg.symmetry_weight * float(asymmetry @ asymmetry) / asymmetry.size
        terms = {
            "reward_upright": upright,
            "reward_stability": stability,
            "reward_pose": pose,
            "reward_contact": contact,
            "reward_effort": effort,
            "reward_symmetry": symmetry,
        }
        return upright + stability + pose + contact + effort + symmetry, terms

    def _perturb(self) -> None:
        """Start or end a pelvis push when its time has come."""
        time = self._steps * self.dt
        if time >= self._push_end:
            self.plant.push_pelvis(np.zeros(3))
            self._push, self._push_end = 0.0, math.inf
            self._next_push = time + self.np_random.uniform(*self.config.push_interval)
        elif time >= self._next_push:
            angle = self.np_random.uniform(0, 2 * math.pi)
            force = self.config.push_force
            self.plant.push_pelvis(np.array([math.cos(angle), math.sin(angle), 0.0]) * force)
            self._push, self._push_end, self._next_push = force, time + self.config.push_duration, math.inf


def _row_dot(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row's dot product with itself (the env's ``a @ a``, to the last bit or two: BLAS may sum
    in another order)."""
    return np.einsum("ij,ij->i", a, a)


class MyoLegsStandBatch(BatchKernel):
    """:class:`MyoLegsStandEnv`'s ``step()`` for a batch of envs (``muscle_envs.vector``).

    Mirrors the env's arithmetic in the same order: observations, episode ends and start states are
    bit-identical; rewards agree to ~1e-15 (the env's dot products go through BLAS, whose summation
    order differs). Pelvis pushes (``push_force > 0``) are not batched. A change to the env's step,
    observation or reward belongs in both.
    """

    min_batch = 2  # measured: bench/RESULTS.md, Vectorized throughput

    @classmethod
    def unsupported(cls, env: MyoLegsStandEnv) -> str | None:
        return "pelvis pushes (push_force > 0) are not vectorized" if env.config.push_force > 0 else None

    def __init__(self, envs: list[MyoLegsStandEnv]):
        env = envs[0]
        cfg = env.config
        super().__init__(envs, env._layout.shown if cfg.obs_layout == "dict" else None)
        self.config, self.dt = cfg, env.plant.dt
        n, readout = self.n, env._readout
        self._addresses, self._scale, self._offset = readout.addresses, readout.scale, readout.offset
        self.width = readout.size if self.observation_keys is not None else env.observation_space.shape[0]
        self._touch, self._contact, self._activation = env._touch, env._contact, env._activation
        self._coordinate_pos, self._com_velocity = env._coordinate_pos, env._com_velocity
        self._pelvis_z, self._state_part = env._pelvis_z, env._state_part
        self._right, self._left = env._right, env._left
        self._nominal_pose = env.nominal_pose
        self._standing_height = env._standing_height
        self._fall_height = cfg.fall_height * env._standing_height
        self._pelvis_up = env.plant.pelvis_up
        self._pelvis_z_rows = [plant._pelvis_xmat_z for plant in self.plants]  # live views
        self._activations = [plant.data.act[plant._act_index] for plant in self.plants]
        if not np.shares_memory(self._activations[0], self.plants[0].data.act):  # not all muscles, in order
            self._activations = None
        self._steps = np.zeros(n, dtype=np.int64)
        self._height_sum = np.zeros(n)
        self._effort_sum = np.zeros(n)
        self._unstable = np.zeros(n, dtype=bool)

    def load(self, i: int, obs: Any) -> NDArray[np.float64]:
        self._steps[i] = 0
        self._height_sum[i] = self._effort_sum[i] = 0.0
        self._unstable[i] = False
        return self.vector(obs)  # (the hidden entries are read only after a step)

    def step(self, actions: NDArray) -> BatchStep:
        cfg, n = self.config, self.n
        unstable = self._unstable
        pelvis_z = np.empty((n, 3))
        activation = np.empty((n, self.plants[0].n_muscles))
        for i, (plant, excitation) in enumerate(zip(self.plants, actions, strict=True)):
            before = plant.instability_count()
            plant.step(excitation)
            unstable[i] = plant.instability_count() > before
            if unstable[i]:  # MuJoCo has reset its state; restart from the standing pose, finite
                plant.set_state(plant.standing_qpos)
            pelvis_z[i] = self._pelvis_z_rows[i]
            activation[i] = plant.muscle_activation() if self._activations is None else self._activations[i]
        self._steps += 1

        # MyoLegsStandEnv._observation
        vector = self._sense()[:, self._addresses]
        np.multiply(vector, self._scale, out=vector)
        np.add(vector, self._offset, out=vector)
        touch = vector[:, self._touch]
        vector[:, self._contact] = touch[:, 0::2] + touch[:, 1::2]
        vector[:, self._activation] = activation

        # LegsPlant.pelvis_tilt, then MyoLegsStandEnv._reward
        u0, u1, u2 = self._pelvis_up
        vertical = pelvis_z[:, 0] * u0 + pelvis_z[:, 1] * u1 + pelvis_z[:, 2] * u2
        tilt = np.arccos(np.clip(vertical, -1.0, 1.0))
        height = vector[:, self._pelvis_z]
        dz = (height - self._standing_height) / 0.1
        q = vector[:, self._coordinate_pos]
        deviation = q - self._nominal_pose
        loads = vector[:, self._contact]
        feet = (loads[:, 0] > cfg.contact_threshold).astype(np.int64) + (loads[:, 1] > cfg.contact_threshold)
        mean_square = _row_dot(activation) / activation.shape[1]
        asymmetry = q[:, self._right] - q[:, self._left]
        terms = np.stack(
            [
                cfg.upright_weight * np.exp(-dz * dz - (tilt / 0.25) ** 2),
                cfg.stability_weight * np.exp(-_row_dot(vector[:, self._com_velocity]) / 0.04),
                cfg.pose_weight * np.exp(-_row_dot(deviation) / deviation.shape[1] / 0.04),
                cfg.contact_weight * feet / 2,
                -cfg.effort_weight * mean_square,
                -cfg.symmetry_weight * _row_dot(asymmetry) / asymmetry.shape[1],
            ],
            axis=1,
        )
        reward = terms[:, 0] + terms[:, 1] + terms[:, 2] + terms[:, 3] + terms[:, 4] + terms[:, 5]
        self._effort_sum += mean_square
        fallen = ~unstable & ((height < self._fall_height) | (tilt > cfg.fall_tilt))
        stood = ~fallen & ~unstable & (self._steps >= cfg.episode_steps)
        self._height_sum += height
        if self.observation_keys is None:  # seed 003's flat layout
            contact = (vector[:, self._contact] > cfg.contact_threshold).astype(np.float64)
            vector = np.concatenate(
                [vector[:, self._state_part], contact, vector[:, self._activation]], axis=1
            )
        return BatchStep(vector, reward, fallen, unstable | stood, stood, terms)

    def episode_metrics(self, i: int) -> dict[str, float]:
        steps = max(int(self._steps[i]), 1)
        return {
            "stand_duration": int(self._steps[i]) * self.dt,
            "pelvis_height": float(self._height_sum[i]) / steps,
            "effort": float(self._effort_sum[i]) / steps,
        }

    def end_info(self, i: int) -> dict[str, Any]:
        return {"physics_unstable": bool(self._unstable[i])}


MyoLegsStandEnv.batch_kernel = MyoLegsStandBatch
