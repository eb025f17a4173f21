"""MuscleArmReach-v0 and MuscleArm6Reach-v1: reach a target with a muscle-driven arm and hold it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from muscle_envs import observations as obs_keys
from muscle_envs.core import MuscleEnv, ObservationLayout, Outcome, make_config
from muscle_envs.lanes import Lanes, OneLane
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


class ReachTask:
    """Reach-and-hold logic of seed 001: phases, hold timer and reward terms, written once over lanes
    (``muscle_envs.lanes``: one env, or a batch of envs at once).

    The hand *reaches* when it comes within ``reach_threshold`` of the target, then *holds* while it
    stays within ``hold_threshold``; leaving breaks the hold and resets its timer. Holding for the
    episode's hold time is a success. It reads only the hand-target distance and the effort, so it
    can be tested without physics (``OneLane(None, EpisodeState.one(ReachTask.fields), rng)``).
    """

    terms = ("reward_distance", "reward_reach", "reward_hold", "reward_success", "reward_effort")
    # per-episode variables: reach_step is the step on which the hand first reached (-1: not yet)
    fields = {
        "hold_steps": 1,
        "held_steps": 0,
        "holding": False,
        "steps": 0,
        "reach_step": -1,
        "bonus_paid": False,
    }

    def __init__(self, config: ArmReachConfig, dt: float):
        self.config = config
        self.dt = dt
        self._hold_bonus = config.hold_bonus_rate * dt

    def reset(self, episode: Any, hold_steps: int) -> None:
        episode.hold_steps = hold_steps
        episode.held_steps = episode.steps = 0
        episode.holding = episode.bonus_paid = False
        episode.reach_step = -1

    def hold_remaining(self, episode: Any) -> Any:
        """Time the hand must still hold the target, s."""
        return (episode.hold_steps - episode.held_steps) * self.dt

    def reach_time(self, episode: Any) -> float:
        """Time from the episode's start to the first reach, s (NaN if not reached yet)."""
        return math.nan if episode.reach_step < 0 else episode.reach_step * self.dt

    def update(self, lanes: OneLane | Lanes, distance: Any, effort: Any) -> tuple[Any, tuple[Any, ...], Any]:
        """Advance one control step. Returns (reward, weighted reward terms, success).

        ``x ^ True`` is ``not x`` for a bool and for a bool array alike (no function call: this runs
        on every step of every env).
        """
        cfg, episode = self.config, lanes.episode
        episode.steps = steps = episode.steps + 1
        holding = episode.holding
        leaving = holding & (distance > cfg.hold_threshold)
        entered = (holding ^ True) & (distance < cfg.reach_threshold)
        episode.holding = holding = (holding ^ leaving) | entered  # (leaving implies holding)
        episode.held_steps = held = episode.held_steps * (leaving ^ True) + holding
        episode.reach_step = lanes.where(entered & (episode.reach_step < 0), steps, episode.reach_step)
        success = holding & (held >= episode.hold_steps)

        if cfg.reach_bonus_every_step:  # seed 001's weighting: lingering near the target pays
            reach = (distance < cfg.reach_threshold) * cfg.reach_bonus
        else:  # default: once per episode, so completing the hold is the optimum
            reach = (entered & (episode.bonus_paid ^ True)) * cfg.reach_bonus
            episode.bonus_paid = episode.bonus_paid | entered
        terms = (
            -cfg.distance_weight * distance,
            reach,
            holding * self._hold_bonus,
            success * cfg.success_bonus,
            -cfg.effort_weight * effort,
        )
        return terms[0] + terms[1] + terms[2] + terms[3] + terms[4], terms, success  # (reward_of, unrolled)


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

    reward_terms = ReachTask.terms

    def __init__(self, render_mode: str | None = None, config: ArmReachConfig | None = None, **options: Any):
        cfg = make_config(ArmReachConfig, config, options)
        plant = ArmPlant(cfg.model, cfg.frame_skip)
        super().__init__(plant, render_mode, camera="side", render_size=cfg.render_size)
        self.config = cfg
        self.plant: ArmPlant = plant
        self.task = ReachTask(cfg, plant.dt)
        n = plant.n_muscles

        # Each step's observation is one fresh vector, [vision | muscle length, velocity, force |
        # activation | hold_remaining | target | place cells], and the Dict's entries are views of it.
        # A SensorReadout gathers the named sensors into a new array (three numpy calls) whose extra
        # entries hold the per-episode target and place code, as the episode's own offset; activation
        # and the hold timer are written in. With delays, sensed values also go into a ring buffer,
        # one row per control step, and a delay picks a row.
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
        self._hand_x, self._hand_z = plant.hand_sensors().addresses.tolist()  # in sensordata
        self._n_vision = 2 if cfg.vision else 0
        self._activation = layout.slice(obs_keys.MUSCLE_ACTIVATION) if cfg.muscle_activation else None
        self._n_sensed = layout.slice(obs_keys.HOLD_REMAINING).start
        self._hold_index = self._n_sensed
        self._ring_rows = max(cfg.proprioceptive_delay, cfg.visual_delay) + 1
        self._head = 0  # the ring's newest row: one for all the envs of a batch (resets fill every row)
        gx, gz = cfg.place_cell_grid
        cx, cz = np.meshgrid(
            np.linspace(*cfg.workspace_x, gx), np.linspace(*cfg.workspace_z, gz), indexing="ij"
        )
        self.place_cell_centres = np.stack([cx.ravel(), cz.ravel()], axis=1)  # (gx*gz, 2), m

        if not any(
            self._reachable(x, z)
            for x in np.linspace(*cfg.workspace_x, 21)
            for z in np.linspace(*cfg.workspace_z, 21)
        ):
            raise ValueError(
                f"no point of the workspace x {cfg.workspace_x}, z {cfg.workspace_z} is reachable with a "
                f"joint margin of {cfg.joint_margin} rad"
            )
        fields = {
            **ReachTask.fields,
            "target_x": 0.0,  # m
            "target_z": 0.0,
            "offset": self._readout.offset,  # the readout's, with the target (and place cells) in
            "distance": 0.0,  # hand to target, m, at the last step
            "effort_sum": 0.0,
        }
        if self._ring_rows > 1:
            fields["ring"] = np.zeros((self._ring_rows, self._n_sensed))
        self._start_lanes(fields)

    # -- episode ------------------------------------------------------------------------------------
    def _reset_episode(self, options: dict[str, Any]) -> tuple[NDArray[np.float64], dict[str, Any]]:
        cfg, plant, episode = self.config, self.plant, self.lanes.episode
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
        self.task.reset(episode, hold_steps=max(1, round(hold / plant.dt)))
        episode.target_x, episode.target_z = target
        episode.effort_sum = 0.0
        episode.offset[...] = self._readout.offset
        episode.offset[self._layout.slice(obs_keys.TARGET)] = target
        if cfg.target_encoding == "place_cells":
            sq = np.sum((self.place_cell_centres - np.asarray(target)) ** 2, axis=1)
            cells = np.exp(-sq / (2.0 * cfg.place_cell_sigma**2))
            episode.offset[self._layout.slice(obs_keys.TARGET_PLACE_CELLS)] = cells
        episode.distance = self._distance(self.lanes)
        return self._observation(self.lanes, start=True), {"distance": episode.distance, "is_success": False}

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

    def _step(self, lanes: OneLane | Lanes, excitation: NDArray) -> Outcome:
        cfg, episode = self.config, lanes.episode
        if cfg.motor_noise:
            excitation = excitation + lanes.normal(cfg.motor_noise, self.plant.n_muscles)
        lanes.plant.step(excitation)
        episode.distance = distance = self._distance(lanes)
        effort = lanes.mean_square_clipped(excitation)
        episode.effort_sum = episode.effort_sum + effort
        reward, terms, success = self.task.update(lanes, distance, effort)
        return Outcome(
            self._observation(lanes), reward, terms, success, False, success, {"distance": distance}
        )

    @property
    def target(self) -> tuple[float, float]:
        """The episode's target (x, z), m."""
        episode = self.lanes.episode
        return episode.target_x, episode.target_z

    def episode_metrics(self) -> dict[str, float]:
        """The episode so far: ``final_distance`` (m), ``reach_time`` (s, NaN if not reached) and
        ``effort`` (mean of mean(excitation^2) over its steps)."""
        episode = self.lanes.episode
        return {
            "final_distance": float(episode.distance),  # the hand has not moved since the last step
            "reach_time": self.task.reach_time(episode),
            "effort": episode.effort_sum / max(episode.steps, 1),
        }

    # -- helpers ------------------------------------------------------------------------------------
    def _distance(self, lanes: OneLane | Lanes) -> Any:
        """Hand-target distance, m, from the hand sensor."""
        sensed, episode = lanes.plant.sensordata, lanes.episode
        dx = lanes.entry(sensed, self._hand_x) - episode.target_x
        dz = lanes.entry(sensed, self._hand_z) - episode.target_z
        return lanes.sqrt(dx * dx + dz * dz)

    def _observation(self, lanes: OneLane | Lanes, start: bool = False) -> NDArray[np.float64]:
        """The observation vector(s) now: sensed values (delayed and noisy if so configured), hold
        time. ``start``: the first of an episode, which every delay sees."""
        cfg, episode = self.config, lanes.episode
        vector = self._readout.read(lanes.plant.sensordata, episode.offset)
        if self._activation is not None:
            vector[..., self._activation] = lanes.plant.muscle_activation()
        nv, ns = self._n_vision, self._n_sensed
        if self._ring_rows > 1:
            ring, rows = episode.ring, self._ring_rows
            if start:
                ring[...] = vector[..., None, :ns]
            else:
                self._head = head = (self._head + 1) % rows
                ring[..., head, :] = vector[..., :ns]
                vector[..., :nv] = ring[..., (head - cfg.visual_delay) % rows, :nv]
                vector[..., nv:ns] = ring[..., (head - cfg.proprioceptive_delay) % rows, nv:]
        if cfg.sensory_noise:
            vector[..., :ns] += lanes.normal(cfg.sensory_noise, ns)
        vector[..., self._hold_index] = self.task.hold_remaining(episode)
        return vector

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


def _finite_pair(name: str, value: Any) -> tuple[float, float]:
    """``value`` as two finite floats, or a ValueError naming reset option ``name``."""
    try:
        pair = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(math.isfinite(v) for v in pair):
        raise ValueError(f"reset option {name} must be two finite numbers, got {value!r}")
    return pair  # type: ignore[return-value]  # two, checked
