"""MuscleArmReach-v0 and MuscleArm6Reach-v1: reach a target with a muscle-driven arm and hold it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from muscle_envs import observations as obs_keys
from muscle_envs.core import BatchKernel, BatchStep, MuscleEnv, ObservationLayout, make_config
from muscle_envs.plants.arm import ArmPlant

_TARGET_ENCODINGS = ("xy", "place_cells")
_MAX_SAMPLING_TRIES = 10_000


@dataclass(frozen=True)
class ArmReachConfig:
    """Options of the arm reaching envs (documented in :class:`MuscleArmReachEnv`)."""

    model: str = "arm4"
    frame_skip: int = 5
    workspace_x: tuple[float, float] = (0.1, 0.6)
    workspace_z: tuple[float, float] = (0.3, 0.7)
    joint_margin: float = 0.1
    min_start_distance: float = 0.1
    reach_threshold: float = 0.03
    hold_threshold: float = 0.04
    hold_duration: tuple[float, float] = (0.2, 0.8)
    distance_weight: float = 2.0
    reach_bonus: float = 5.0
    reach_bonus_every_step: bool = False
    hold_bonus_rate: float = 10.0
    success_bonus: float = 100.0
    effort_weight: float = 0.0
    vision: bool = True
    muscle_activation: bool = False
    target_encoding: str = "xy"
    place_cell_grid: tuple[int, int] = (8, 8)
    place_cell_sigma: float = 0.05
    proprioceptive_delay: int = 0
    visual_delay: int = 0
    sensory_noise: float = 0.0
    motor_noise: float = 0.0
    render_size: tuple[int, int] = (480, 360)

    def __post_init__(self) -> None:
        for name in ("workspace_x", "workspace_z", "hold_duration", "place_cell_grid", "render_size"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # lists from CLIs/YAML
        _require(self.frame_skip >= 1, "frame_skip must be >= 1")
        for name in ("workspace_x", "workspace_z", "hold_duration"):
            lo, hi = getattr(self, name)
            _require(lo <= hi, f"{name} must be (low, high) with low <= high, got {(lo, hi)}")
        _require(
            0 < self.reach_threshold <= self.hold_threshold, "need 0 < reach_threshold <= hold_threshold"
        )
        _require(self.hold_duration[0] > 0, "hold_duration must be positive")
        _require(
            self.target_encoding in _TARGET_ENCODINGS,
            f"target_encoding must be one of {_TARGET_ENCODINGS}, got {self.target_encoding!r}",
        )
        _require(
            min(self.place_cell_grid) >= 1 and self.place_cell_sigma > 0,
            "place_cell_grid needs >= 1 cell per axis and place_cell_sigma > 0",
        )
        _require(self.proprioceptive_delay >= 0 and self.visual_delay >= 0, "delays must be >= 0 steps")
        _require(self.sensory_noise >= 0 and self.motor_noise >= 0, "noise levels must be >= 0")
        _require(
            self.joint_margin >= 0 and self.min_start_distance >= 0,
            "joint_margin and min_start_distance must be >= 0",
        )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _mean_square_clipped(values: list[float]) -> float:
    """mean(clip(values, 0, 1)^2). For the arm's handful of muscles plain Python takes ~0.4 us, where
    ``np.clip`` alone costs ~9 us (its Python-level dispatch), a quarter of a physics step."""
    total = 0.0
    for x in values:
        x = 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
        total += x * x
    return total / len(values)


class ReachTask:
    """Reach-and-hold logic of seed 001: phases, hold timer and reward terms.

    The hand *reaches* when it comes within ``reach_threshold`` of the target, then *holds* while it
    stays within ``hold_threshold``; leaving breaks the hold and resets its timer. Holding for the
    episode's hold time is a success. It reads only the hand-target distance and the effort, so it
    can be tested without physics.
    """

    def __init__(self, config: ArmReachConfig, dt: float):
        self.config = config
        self.dt = dt
        self._hold_bonus = config.hold_bonus_rate * dt
        self.hold_steps = 1
        self.held_steps = 0
        self.holding = False
        self.steps = 0
        self.reach_step: int | None = None  # the step on which the hand first reached the target
        self._bonus_paid = False

    def reset(self, hold_steps: int) -> None:
        self.hold_steps = hold_steps
        self.held_steps = 0
        self.holding = False
        self.steps = 0
        self.reach_step = None
        self._bonus_paid = False

    @property
    def reach_time(self) -> float:
        """Time from the episode's start to the first reach, s (NaN if not reached yet)."""
        return math.nan if self.reach_step is None else self.reach_step * self.dt

    @property
    def hold_remaining(self) -> float:
        """Time the hand must still hold the target, s."""
        return (self.hold_steps - self.held_steps) * self.dt

    def update(self, distance: float, effort: float) -> tuple[float, dict[str, float], bool]:
        """Advance one control step. Returns (reward, weighted reward terms, success)."""
        cfg = self.config
        entered = False
        self.steps += 1
        if self.holding:
            if distance > cfg.hold_threshold:
                self.holding = False
                self.held_steps = 0
        elif distance < cfg.reach_threshold:
            self.holding = entered = True
            if self.reach_step is None:
                self.reach_step = self.steps
        if self.holding:
            self.held_steps += 1
        success = self.holding and self.held_steps >= self.hold_steps

        if cfg.reach_bonus_every_step:  # seed 001's weighting: lingering near the target pays
            reach = cfg.reach_bonus if distance < cfg.reach_threshold else 0.0
        else:  # default: once per episode, so completing the hold is the optimum
            reach = cfg.reach_bonus if entered and not self._bonus_paid else 0.0
            self._bonus_paid = self._bonus_paid or entered
        distance_term = -cfg.distance_weight * distance
        hold = self._hold_bonus if self.holding else 0.0
        success_term = cfg.success_bonus if success else 0.0
        effort_term = -cfg.effort_weight * effort
        reward = distance_term + reach + hold + success_term + effort_term
        terms = {
            "reward_distance": distance_term,
            "reward_reach": reach,
            "reward_hold": hold,
            "reward_success": success_term,
            "reward_effort": effort_term,
        }
        return reward, terms, success


class MuscleArmReachEnv(MuscleEnv):
    """Reach a target with a muscle-driven two-link arm, then hold it there.

    ``MuscleArmReach-v0`` drives the arm with four monoarticular muscles (pectoralis, deltoid,
    brachioradialis, triceps_lateral); ``MuscleArm6Reach-v1`` adds the biarticular biceps and
    triceps_long (Arm26-like). The arm moves in a vertical plane under gravity; the shoulder is at
    world (0, 0.5) m, x forward, z up. Model and sources: ``assets/arm_skeleton.xml``, ``arm4.xml``,
    ``arm6.xml``. The task follows seed 001.

    ## Action Space
    ``Box(0, 1, (n_muscles,), float32)``: the excitation (neural drive) of each muscle, in
    ``muscle_names`` order. MuJoCo's activation dynamics (10 ms up, 40 ms down) turn it into
    activation. Values outside [0, 1] are clipped; NaN or inf raises ``ValueError`` and leaves the env
    untouched; so does a wrong shape.

    ## Observation Space
    A ``Dict`` of float64 vectors (units: ``muscle_envs.observations``):

    | key                  | shape        | unit      | meaning                                        |
    |----------------------|--------------|-----------|------------------------------------------------|
    | `muscle_length`      | (n_muscles,) | L0        | fibre length / optimal fibre length            |
    | `muscle_velocity`    | (n_muscles,) | L0/s      | fibre velocity, + = lengthening                |
    | `muscle_force`       | (n_muscles,) | Fmax      | tensile force / peak isometric force           |
    | `muscle_activation`  | (n_muscles,) | [0, 1]    | activation (only with `muscle_activation=True`) |
    | `target`             | (2,)         | m         | target (x, z)                                  |
    | `target_place_cells` | (gx*gz,)     | [0, 1]    | place cells (`target_encoding="place_cells"`) |
    | `hold_remaining`     | (1,)         | s         | hold time still needed (full hold until reached) |
    | `vision`             | (2,)         | m         | hand (x, z) (only with `vision=True`)          |

    Muscle length, velocity and force are normalized with each muscle's calibration
    (``muscle_envs.calibration``). Observations describe the state at the end of the control step
    exactly (no substep lag; see ``MusclePlant``). Proprioceptive and visual entries can be delayed
    and made noisy (see Arguments). Place cells are Gaussians, ``exp(-|target - c|^2 / (2 sigma^2))``,
    centred on a ``place_cell_grid`` over the workspace. For ``MlpPolicy``, wrap the env in
    ``gymnasium.wrappers.FlattenObservation``; ``MultiInputPolicy`` takes the ``Dict`` as it is.

    ## Rewards
    Per step, with ``d`` the hand-target distance in m (``info`` holds each weighted term; they sum to
    the reward):

    | term              | value                                                                  |
    |-------------------|------------------------------------------------------------------------|
    | `reward_distance` | ``-distance_weight * d``                                               |
    | `reward_reach`    | ``reach_bonus`` the first time the hand reaches the target (once per episode) |
    | `reward_hold`     | ``hold_bonus_rate * dt`` on each step the hand holds the target        |
    | `reward_success`  | ``success_bonus`` when the hold is complete                            |
    | `reward_effort`   | ``-effort_weight * mean(excitation^2)``                                |

    Seed 001 pays the reach bonus on every step within ``reach_threshold``
    (``reach_bonus_every_step=True``). With that weighting, lingering near the target is worth more
    than succeeding (5 per step against 100 once), and PPO learns to break the hold on purpose. The
    default pays it once, which makes completing the hold the optimum (tests/test_arm_reach.py
    compares the two).

    ## Starting State
    Target: uniform over the workspace box (``workspace_x`` x ``workspace_z``), keeping the points the
    hand reaches with both joints at least ``joint_margin`` from their limits. Hand: sampled the same
    way, at least ``min_start_distance`` from the target; the arm starts there at rest with zero
    activation. Hold time: uniform in ``hold_duration``, rounded to control steps. ``reset`` options
    fix any of them: ``{"target": (x, z), "joint_angles": (shoulder, elbow), "hold_duration": s}``.
    They are checked before anything changes (two finite numbers; a reachable target; angles within
    the joint range; a finite positive hold): a bad one raises ``ValueError`` and the env still needs
    a reset (``step()`` raises ``ResetNeeded``).

    ## Episode End
    ``terminated`` (with ``info["is_success"] = True``) when the hold is complete; ``truncated`` at
    the time limit (200 steps = 2 s, set at registration).

    ## Info
    The reward terms, ``distance`` (m) and ``is_success``.

    ## Episode Metrics
    ``episode_metrics()`` summarizes the episode so far (train_sb3.py logs it as ``task/<name>``,
    evaluate.py reports it): ``final_distance`` (m, at the last step), ``reach_time`` (s from the
    start to the first reach; NaN if the hand never reached) and ``effort`` (mean over steps of
    mean(excitation^2), excitations clipped to [0, 1]).

    ## Arguments
    ``gym.make(id, **options)`` overrides fields of ``ArmReachConfig``; an unknown option is an
    error. ``render_mode`` is ``"rgb_array"`` (offscreen, works headless) or ``"human"``.

    | option                  | default      | meaning                                                       |
    |-------------------------|--------------|---------------------------------------------------------------|
    | `model`                 | "arm4"       | asset: "arm4" (4 muscles) or "arm6" (6, biarticular)          |
    | `frame_skip`            | 5            | 2 ms physics steps per control step (10 ms control)           |
    | `workspace_x`           | (0.1, 0.6)   | target/start x range, m                                       |
    | `workspace_z`           | (0.3, 0.7)   | target/start z range, m                                       |
    | `joint_margin`          | 0.1          | sampled poses keep this far from joint limits, rad            |
    | `min_start_distance`    | 0.1          | least start distance from hand to target, m                   |
    | `reach_threshold`       | 0.03         | distance that counts as reaching, m                           |
    | `hold_threshold`        | 0.04         | distance the hold must stay within, m                         |
    | `hold_duration`         | (0.2, 0.8)   | range of the hold time, s                                     |
    | `distance_weight`       | 2.0          | weight of the distance penalty, 1/m                           |
    | `reach_bonus`           | 5.0          | bonus for reaching the target                                 |
    | `reach_bonus_every_step`| False        | pay the reach bonus on every step at the target (seed 001)    |
    | `hold_bonus_rate`       | 10.0         | holding bonus per second held                                 |
    | `success_bonus`         | 100.0        | bonus for completing the hold                                 |
    | `effort_weight`         | 0.0          | weight of the mean squared excitation                         |
    | `vision`                | True         | include the hand position (`vision`)                          |
    | `muscle_activation`     | False        | include muscle activations (`muscle_activation`)              |
    | `target_encoding`       | "xy"         | "xy", or "place_cells" to add `target_place_cells`            |
    | `place_cell_grid`       | (8, 8)       | place cells along x and z                                     |
    | `place_cell_sigma`      | 0.05         | place-cell tuning width, m                                    |
    | `proprioceptive_delay`  | 0            | delay of the muscle entries, control steps                    |
    | `visual_delay`          | 0            | delay of `vision`, control steps                              |
    | `sensory_noise`         | 0.0          | std of noise on muscle and vision entries (their units) |
    | `motor_noise`           | 0.0          | std of Gaussian noise added to the excitation before clipping |
    | `render_size`           | (480, 360)   | width, height of rendered frames, pixels                      |

    ## Version History
    - ``MuscleArmReach-v0``: initial release.
    - ``MuscleArm6Reach-v1``: the biarticular muscles' shoulder wrap has its own side sites
      (``arm6.xml`` explains why). Under MuJoCo 3.x, v0's triceps long head at shoulder angles below
      -87.5 deg and its biceps above +87.5 deg took the long way round the shoulder cylinder (8.5 cm
      longer, the wrong moment-arm sign, MuJoCo's length-range computation failing). v1's tendon
      lengths equal v0's under MuJoCo 4.0 everywhere (to 1e-16 m) and are now the same on every
      supported MuJoCo.
    - ``MuscleArm6Reach-v0``: initial release; retired (see v1).
    """

    reward_terms = ("reward_distance", "reward_reach", "reward_hold", "reward_success", "reward_effort")

    def __init__(self, render_mode: str | None = None, config: ArmReachConfig | None = None, **options: Any):
        cfg = make_config(ArmReachConfig, config, options)
        plant = ArmPlant(cfg.model, cfg.frame_skip)
        super().__init__(
            plant, render_mode, camera="side", render_size=cfg.render_size, motor_noise=cfg.motor_noise
        )
        self.config = cfg
        self.plant: ArmPlant = plant
        self.task = ReachTask(cfg, plant.dt)
        n = plant.n_muscles
        self._effort_sum = 0.0

        # Each step's observation is one fresh vector, [vision | muscle length, velocity, force |
        # activation | hold_remaining | target | place cells], and the Dict's entries are views of it.
        # A SensorReadout gathers the named sensors into a new array (three numpy calls) whose extra
        # entries hold the per-episode target and place code as constants; activation and the hold
        # timer are written in. With delays, sensed values also go into a ring buffer, one row per
        # control step, and a delay picks a row.
        reach = plant.upper_arm_length + plant.forearm_length
        x0, z0 = plant.shoulder_position
        noisy = cfg.sensory_noise > 0
        layout = ObservationLayout()
        if cfg.vision:
            layout.add(obs_keys.VISION, 2)
        for key in (obs_keys.MUSCLE_LENGTH, obs_keys.MUSCLE_VELOCITY, obs_keys.MUSCLE_FORCE):
            layout.add(key, n)
        if cfg.muscle_activation:
            layout.add(obs_keys.MUSCLE_ACTIVATION, n, -np.inf if noisy else 0.0, np.inf if noisy else 1.0)
        layout.add(obs_keys.HOLD_REMAINING, 1, 0.0, np.inf)
        layout.add(obs_keys.TARGET, 2, np.array([x0 - reach, z0 - reach]), np.array([x0 + reach, z0 + reach]))
        if cfg.target_encoding == "place_cells":
            layout.add(obs_keys.TARGET_PLACE_CELLS, cfg.place_cell_grid[0] * cfg.place_cell_grid[1], 0.0, 1.0)
        self.observation_space = layout.build()
        self._layout = layout

        groups = [plant.hand_sensors()] if cfg.vision else []
        groups += [plant.muscle_sensors(quantity) for quantity in ("length", "velocity", "force")]
        self._readout = plant.readout(groups, extra=layout.size - sum(len(g.addresses) for g in groups))
        self._n_vision = 2 if cfg.vision else 0
        self._activation = layout.slice(obs_keys.MUSCLE_ACTIVATION) if cfg.muscle_activation else None
        self._n_sensed = layout.slice(obs_keys.HOLD_REMAINING).start
        self._hold_index = self._n_sensed
        delay = max(cfg.proprioceptive_delay, cfg.visual_delay)
        self._ring = np.zeros((delay + 1, self._n_sensed)) if delay else None
        self._head = 0
        gx, gz = cfg.place_cell_grid
        cx, cz = np.meshgrid(
            np.linspace(*cfg.workspace_x, gx), np.linspace(*cfg.workspace_z, gz), indexing="ij"
        )
        self.place_cell_centres = np.stack([cx.ravel(), cz.ravel()], axis=1)  # (gx*gz, 2), m

        self._target = (0.0, 0.0)
        if not any(
            self._reachable(x, z)
            for x in np.linspace(*cfg.workspace_x, 21)
            for z in np.linspace(*cfg.workspace_z, 21)
        ):
            raise ValueError(
                f"no point of the workspace x {cfg.workspace_x}, z {cfg.workspace_z} is reachable with a "
                f"joint margin of {cfg.joint_margin} rad"
            )

    # -- episode ------------------------------------------------------------------------------------
    def _reset_episode(self, options: dict[str, Any]) -> tuple[dict[str, NDArray], dict[str, Any]]:
        cfg, plant = self.config, self.plant
        target, angles, hold = self._checked_reset_options(options)  # before anything changes
        if target is None:
            target = self._sample_workspace()
        if angles is None:
            start = self._sample_workspace(away_from=target)
            angles = plant.inverse_kinematics(*start, margin=cfg.joint_margin)
        if hold is None:
            hold = float(self.np_random.uniform(*cfg.hold_duration))

        plant.set_state(np.asarray(angles, dtype=np.float64))
        plant.set_target_marker(*target)
        self._target = target
        self.task.reset(hold_steps=max(1, round(hold / plant.dt)))
        self._effort_sum = 0.0

        self._readout.set_constant(self._layout.slice(obs_keys.TARGET), target)
        if cfg.target_encoding == "place_cells":
            sq = np.sum((self.place_cell_centres - np.asarray(target)) ** 2, axis=1)
            cells = np.exp(-sq / (2.0 * cfg.place_cell_sigma**2))
            self._readout.set_constant(self._layout.slice(obs_keys.TARGET_PLACE_CELLS), cells)
        if self._ring is not None:  # before the first step, every delay sees the start state
            self._ring[:] = self._sense()[: self._n_sensed]
        return self._observation(), {"distance": self._distance(), "is_success": False}

    def _checked_reset_options(
        self, options: dict[str, Any]
    ) -> tuple[tuple[float, float] | None, tuple[float, float] | None, float | None]:
        """(target, joint_angles, hold_duration) of the reset options, None where not given.

        Raises:
            ValueError: an unknown option; a target or joint angles that are not two finite numbers;
                a target out of reach; joint angles outside the joint range; a hold duration that is
                not a finite positive number.
        """
        unknown = sorted(set(options) - {"target", "joint_angles", "hold_duration"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; use target, joint_angles, hold_duration")
        target = angles = hold = None
        if options.get("target") is not None:
            target = _finite_pair("target", options["target"])
            if self.plant.inverse_kinematics(*target) is None:
                raise ValueError(f"reset option target {target} is out of the arm's reach")
        if options.get("joint_angles") is not None:
            angles = _finite_pair("joint_angles", options["joint_angles"])
            if not self.plant.within_joint_range(*angles):
                (s_lo, s_hi), (e_lo, e_hi) = self.plant.joint_range
                raise ValueError(
                    f"reset option joint_angles {angles} is outside the joint range (shoulder "
                    f"[{s_lo:.3f}, {s_hi:.3f}], elbow [{e_lo:.3f}, {e_hi:.3f}] rad)"
                )
        if options.get("hold_duration") is not None:
            try:
                hold = float(options["hold_duration"])
            except (TypeError, ValueError):
                hold = math.nan
            if not (math.isfinite(hold) and hold > 0):
                raise ValueError(
                    f"reset option hold_duration must be a finite positive number of seconds, "
                    f"got {options['hold_duration']!r}"
                )
        return target, angles, hold

    def step(self, action: Any):
        excitation = self._checked_excitation(action)
        self.plant.step(excitation)
        distance = self._distance()
        effort = _mean_square_clipped(excitation.tolist())
        reward, info, success = self.task.update(distance, effort)
        self._effort_sum += effort
        info["distance"] = distance
        info["is_success"] = success
        return self._observation(), reward, success, False, info

    @property
    def target(self) -> tuple[float, float]:
        """The episode's target (x, z), m."""
        return self._target

    def episode_metrics(self) -> dict[str, float]:
        """The episode so far: ``final_distance`` (m), ``reach_time`` (s, NaN if not reached) and
        ``effort`` (mean of mean(excitation^2) over its steps)."""
        steps = max(self.task.steps, 1)
        return {
            "final_distance": self._distance(),  # the hand has not moved since the last step
            "reach_time": self.task.reach_time,
            "effort": self._effort_sum / steps,
        }

    # -- helpers ------------------------------------------------------------------------------------
    def _distance(self) -> float:
        x, z = self.plant.hand_xz()
        dx, dz = x - self._target[0], z - self._target[1]
        return math.sqrt(dx * dx + dz * dz)  # the batched kernel's arithmetic, bit for bit

    def _sense(self) -> NDArray[np.float64]:
        """A fresh observation vector holding the current sensed values (hold time not yet set)."""
        vector = self._readout.read()
        if self._activation is not None:
            vector[self._activation] = self.plant.muscle_activation()
        return vector

    def _observation(self) -> dict[str, NDArray[np.float64]]:
        """This step's observation: sensed values (delayed and noisy if so configured), hold time."""
        cfg, vector = self.config, self._sense()
        ring = self._ring
        if ring is not None:
            rows, nv, ns = len(ring), self._n_vision, self._n_sensed
            self._head = (self._head + 1) % rows
            ring[self._head] = vector[:ns]
            vector[:nv] = ring[(self._head - cfg.visual_delay) % rows, :nv]
            vector[nv:ns] = ring[(self._head - cfg.proprioceptive_delay) % rows, nv:]
        if cfg.sensory_noise:
            vector[: self._n_sensed] += self.np_random.normal(0.0, cfg.sensory_noise, self._n_sensed)
        vector[self._hold_index] = self.task.hold_remaining
        return self._layout.assemble(vector)

    def _reachable(self, x: float, z: float) -> bool:
        return self.plant.inverse_kinematics(x, z, margin=self.config.joint_margin) is not None

    def _sample_workspace(self, away_from: tuple[float, float] | None = None) -> tuple[float, float]:
        """A point drawn uniformly from the reachable part of the workspace box (rejection sampling)."""
        cfg = self.config
        for _ in range(_MAX_SAMPLING_TRIES):
            x = float(self.np_random.uniform(*cfg.workspace_x))
            z = float(self.np_random.uniform(*cfg.workspace_z))
            if (
                away_from is not None
                and math.hypot(x - away_from[0], z - away_from[1]) < cfg.min_start_distance
            ):
                continue
            if self._reachable(x, z):
                return x, z
        raise RuntimeError(f"found no reachable start point {cfg.min_start_distance} m from {away_from}")

    def joint_angles(self) -> NDArray[np.float64]:
        """(shoulder, elbow) angles, rad."""
        return self.plant.joint_angles()


class ArmReachBatch(BatchKernel):
    """:class:`MuscleArmReachEnv`'s ``step()`` for a batch of envs (``muscle_envs.vector``).

    Mirrors the env's arithmetic in the same order, :class:`ReachTask` included, as array operations
    over the batch; tests/test_vector.py holds the two to bit-identical observations and rewards.
    A change to the env's step, observation or reward belongs in both.
    """

    min_batch = 8  # measured: bench/RESULTS.md, Vectorized throughput

    def __init__(self, envs: list[MuscleArmReachEnv]):
        env = envs[0]
        super().__init__(envs, env._layout.shown)
        self.config = cfg = env.config
        self.dt = env.plant.dt
        n, readout = self.n, env._readout
        self._addresses, self._scale = readout.addresses, readout.scale
        self.width = readout.size
        self._offsets = np.zeros((n, readout.size))  # per env: its episode's target (and place cells)
        self._hand = env.plant.hand_sensors().addresses  # hand (x, z) in sensordata
        self._activation, self._n_vision, self._n_sensed = env._activation, env._n_vision, env._n_sensed
        self._hold_index = env._hold_index
        self._hold_bonus = cfg.hold_bonus_rate * self.dt
        rows = max(cfg.proprioceptive_delay, cfg.visual_delay) + 1
        self._ring = np.zeros((n, rows, self._n_sensed)) if rows > 1 else None
        self._head = 0  # one head for all: a reset fills an env's rows alike, so any head serves
        self._target = np.zeros((n, 2))
        self._hold_steps = np.ones(n, dtype=np.int64)
        self._held_steps = np.zeros(n, dtype=np.int64)
        self._steps = np.zeros(n, dtype=np.int64)
        self._reach_step = np.full(n, -1, dtype=np.int64)  # -1: not reached yet
        self._holding = np.zeros(n, dtype=bool)
        self._bonus_paid = np.zeros(n, dtype=bool)
        self._effort_sum = np.zeros(n)
        self._distance = np.zeros(n)

    def load(self, i: int, obs: dict[str, NDArray[np.float64]]) -> NDArray[np.float64]:
        env = self.envs[i]
        self._offsets[i] = env._readout.offset
        self._target[i] = env.target
        self._hold_steps[i] = env.task.hold_steps
        self._held_steps[i] = self._steps[i] = 0
        self._reach_step[i] = -1
        self._holding[i] = self._bonus_paid[i] = False
        self._effort_sum[i] = 0.0
        self._distance[i] = env._distance()
        if self._ring is not None:
            self._ring[i] = env._sense()[: self._n_sensed]
        return self.vector(obs)

    def step(self, actions: NDArray) -> BatchStep:
        cfg, envs = self.config, self.envs
        if cfg.motor_noise:
            actions = actions + np.stack(
                [env.np_random.normal(0.0, cfg.motor_noise, actions.shape[1:]) for env in envs]
            )
        for plant, excitation in zip(self.plants, actions, strict=True):
            plant.step(excitation)
        sensed = self._sense()
        hand = sensed[:, self._hand]
        dx, dz = hand[:, 0] - self._target[:, 0], hand[:, 1] - self._target[:, 1]
        distance = self._distance = np.sqrt(dx * dx + dz * dz)
        # _mean_square_clipped: in float64, summed muscle by muscle (np.clip's dispatch costs ~9 us)
        clipped = np.minimum(np.maximum(actions, 0.0, dtype=np.float64), 1.0)
        squares = clipped * clipped
        effort = squares[:, 0].copy()
        for j in range(1, squares.shape[1]):
            effort += squares[:, j]
        effort /= squares.shape[1]

        # ReachTask.update, for every env at once (a boolean times a bonus: the bonus or 0.0)
        self._steps += 1
        leaving = self._holding & (distance > cfg.hold_threshold)
        entered = ~self._holding & (distance < cfg.reach_threshold)
        holding = self._holding = (self._holding & ~leaving) | entered
        self._held_steps[leaving] = 0
        first = entered & (self._reach_step < 0)
        self._reach_step[first] = self._steps[first]
        self._held_steps += holding
        success = holding & (self._held_steps >= self._hold_steps)
        terms = np.empty((self.n, 5))
        terms[:, 0] = -cfg.distance_weight * distance
        if cfg.reach_bonus_every_step:
            terms[:, 1] = (distance < cfg.reach_threshold) * cfg.reach_bonus
        else:
            terms[:, 1] = (entered & ~self._bonus_paid) * cfg.reach_bonus
            self._bonus_paid |= entered
        terms[:, 2] = holding * self._hold_bonus
        terms[:, 3] = success * cfg.success_bonus
        terms[:, 4] = -cfg.effort_weight * effort
        reward = terms[:, 0] + terms[:, 1] + terms[:, 2] + terms[:, 3] + terms[:, 4]
        self._effort_sum += effort

        # MuscleArmReachEnv._observation
        vector = sensed[:, self._addresses]
        np.multiply(vector, self._scale, out=vector)
        np.add(vector, self._offsets, out=vector)
        if self._activation is not None:
            for i, plant in enumerate(self.plants):
                vector[i, self._activation] = plant.muscle_activation()
        ring, nv, ns = self._ring, self._n_vision, self._n_sensed
        if ring is not None:
            rows = ring.shape[1]
            self._head = head = (self._head + 1) % rows
            ring[:, head] = vector[:, :ns]
            vector[:, :nv] = ring[:, (head - cfg.visual_delay) % rows, :nv]
            vector[:, nv:ns] = ring[:, (head - cfg.proprioceptive_delay) % rows, nv:]
        if cfg.sensory_noise:
            for i, env in enumerate(envs):
                vector[i, :ns] += env.np_random.normal(0.0, cfg.sensory_noise, ns)
        vector[:, self._hold_index] = (self._hold_steps - self._held_steps) * self.dt
        return BatchStep(vector, reward, success, np.zeros(self.n, dtype=bool), success, terms)

    def end_info(self, i: int) -> dict[str, Any]:
        return {}

    def episode_metrics(self, i: int) -> dict[str, float]:
        steps = max(int(self._steps[i]), 1)
        reach_step = int(self._reach_step[i])
        return {
            "final_distance": float(self._distance[i]),
            "reach_time": math.nan if reach_step < 0 else reach_step * self.dt,
            "effort": float(self._effort_sum[i]) / steps,
        }


MuscleArmReachEnv.batch_kernel = ArmReachBatch


def _finite_pair(name: str, value: Any) -> tuple[float, float]:
    """``value`` as two finite floats, or a ValueError naming reset option ``name``."""
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(math.isfinite(v) for v in pair):
        raise ValueError(f"reset option {name} must be two finite numbers, got {value!r}")
    return pair  # type: ignore[return-value]  # two, checked
