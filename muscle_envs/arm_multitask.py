"""MuscleArmMultiTask-v0: seed 004's ten delayed movement tasks on the 6-muscle arm."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numpy.typing import NDArray

from muscle_envs import observations as obs_keys
from muscle_envs.core import MuscleEnv, ObservationLayout, Outcome, make_config, reward_of
from muscle_envs.lanes import Lanes, OneLane
from muscle_envs.plants.arm import ArmPlant

SEED_RADIUS = 0.25  # m: the length of every path in seed 004 (its reach distance)
HALF_TIMES = (50, 100, 150)  # movement steps of the half tasks; speed signal 1 - T / 150
FULL_TIMES = (100, 200, 300)  # of the full tasks; speed signal 1 - T / 300
DELAYS = (25, 50, 75)  # delay-epoch steps
_PLANES = ("horizontal", "vertical")


Shape = Callable[[int], NDArray[np.float64]]  # n points of a path, relative to its start, along +x


def _line(n: int) -> NDArray[np.float64]:
    """A straight reach of ``SEED_RADIUS`` along +x, ``n`` points (seed 004: ``linspace``)."""
    s = np.linspace(0.0, 1.0, n)
    return np.stack([s * SEED_RADIUS, np.zeros(n)], axis=1)


def _line_back(n: int) -> NDArray[np.float64]:
    return _line(n)[::-1]


def _arc(start: float, end: float) -> Shape:
    """Points on the circle of radius R/2 through the start and (R, 0), from angle ``start`` to ``end``
    (seed 004's ``_arc_points``: the angle advances evenly)."""

    def points(n: int) -> NDArray[np.float64]:
        angle = np.linspace(start, end, n)
        return (np.stack([np.cos(angle), np.sin(angle)], axis=1) + [1.0, 0.0]) * SEED_RADIUS * 0.5

    return points


def _sinusoid(sign: float) -> Shape:
    """x advances evenly to R, y = sign R/2 sin(2 pi x/R) (seed 004's ``_sinusoid_points``)."""

    def points(n: int) -> NDArray[np.float64]:
        x = np.linspace(0.0, 1.0, n)
        y = sign * np.sin(np.linspace(0.0, 2 * np.pi, n))
        return np.stack([x * SEED_RADIUS, y * SEED_RADIUS * 0.5], axis=1)

    return points


def _sinusoid_back(sign: float) -> Shape:
    """From (R, 0) back to the start, the mirror image of ``_sinusoid(sign)`` (a figure-8's return)."""

    def points(n: int) -> NDArray[np.float64]:
        x = np.linspace(1.0, 0.0, n)
        y = -sign * np.sin(np.linspace(2 * np.pi, 0.0, n))
        return np.stack([x * SEED_RADIUS, y * SEED_RADIUS * 0.5], axis=1)

    return points


def _then(out: Shape, back: Shape) -> Shape:
    """``out`` over the first half of the points, then ``back`` over the second (seed 004 times its
    out-and-back paths so: T/2 points each, the far point twice)."""

    def points(n: int) -> NDArray[np.float64]:
        return np.concatenate([out(n // 2), back(n // 2)])

    return points


class Task(NamedTuple):
    """One of seed 004's tasks: its path's shape (``n`` points relative to the start, along +x before
    rotation, as seed 004 times them), whether it is a full task, and where its target is."""

    name: str
    shape: Shape
    full: bool  # full tasks take twice as long; their target is the path's midpoint


# The motifs of seed 004's ComposableEnv: the half tasks' paths out to (R, 0) ("forward"), and the
# full tasks' returns from there ("backward"), each named after its task.
FORWARD_MOTIFS: dict[str, Shape] = {
    "HalfReach": _line,
    "HalfCircleClk": _arc(np.pi, 0.0),
    "HalfCircleCClk": _arc(np.pi, 2 * np.pi),
    "Sinusoid": _sinusoid(1.0),
    "SinusoidInv": _sinusoid(-1.0),
}
BACKWARD_MOTIFS: dict[str, Shape] = {
    "FullReach": _line_back,
    "FullCircleClk": _arc(0.0, -np.pi),
    "FullCircleCClk": _arc(2 * np.pi, 3 * np.pi),
    "Figure8": _sinusoid_back(1.0),
    "Figure8Inv": _sinusoid_back(-1.0),
}

TASKS = (
    *(Task(name, shape, False) for name, shape in FORWARD_MOTIFS.items()),
    Task("FullReach", _then(_line, _line_back), True),
    Task("FullCircleClk", _arc(np.pi, -np.pi), True),  # evenly in angle over all T points
    Task("FullCircleCClk", _arc(np.pi, 3 * np.pi), True),
    Task("Figure8", _then(_sinusoid(1.0), _sinusoid_back(1.0)), True),
    Task("Figure8Inv", _then(_sinusoid(-1.0), _sinusoid_back(-1.0)), True),
)
TASK_NAMES = tuple(task.name for task in TASKS)

# Seed 004's ComposableEnv: every forward motif followed by every backward motif but its own task's
# (those five pairs are the full tasks), in the order of its rule input (itertools.product).
COMPOSITES = tuple(
    Task(f"{out}+{back}", _then(FORWARD_MOTIFS[out], BACKWARD_MOTIFS[back]), True)
    for (i, out), (j, back) in itertools.product(enumerate(FORWARD_MOTIFS), enumerate(BACKWARD_MOTIFS))
    if i != j
)
COMPOSITE_NAMES = tuple(task.name for task in COMPOSITES)


_MAX_STEPS = max(FULL_TIMES)
SPEED_NAMES = ("fast", "middle", "slow")  # of the speed indices 0, 1, 2


@dataclass(frozen=True)
class ArmMultiTaskConfig:
    """Options of the multi-task env (documented in :class:`MuscleArmMultiTaskEnv`)."""

    catalog: ClassVar[tuple[Task, ...]] = TASKS  # the env's tasks, in the order of the rule input
    plane: str = "horizontal"
    frame_skip: int = 5
    tasks: tuple[str, ...] = TASK_NAMES
    directions: int = 8
    test: bool = False
    speeds: tuple[int, ...] = (0, 1, 2)
    delays: tuple[int, ...] = DELAYS
    stable_steps: int = 25
    hold_steps: int = 25
    path_scale: float = 0.8
    start_posture: tuple[float, float] = (0.61, 1.64)
    position_weight: float = 1.0
    activation_weight: float = 1e-2
    muscle_force: bool = False
    privileged: bool = False
    success_error: float = 0.02
    premature_limit: float = 0.01
    render_size: tuple[int, int] = (480, 360)

    def __post_init__(self) -> None:
        for name in ("tasks", "speeds", "delays", "start_posture", "render_size"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _require(self.plane in _PLANES, f"plane must be one of {_PLANES}, got {self.plane!r}")
        names = [task.name for task in self.catalog]
        unknown = sorted(set(self.tasks) - set(names))
        _require(not unknown, f"unknown task(s) {unknown}; tasks are {names}")
        _require(len(self.tasks) > 0, "tasks must name at least one task")
        _require(self.frame_skip >= 1 and self.directions >= 1, "frame_skip and directions must be >= 1")
        _require(
            all(0 <= i < len(HALF_TIMES) for i in self.speeds) and self.speeds,
            f"speeds are indices into the movement times {HALF_TIMES} / {FULL_TIMES}: 0, 1 or 2",
        )
        _require(all(d >= 0 for d in self.delays) and self.delays, "delays: one or more steps >= 0")
        _require(self.stable_steps >= 1 and self.hold_steps >= 1, "stable_steps and hold_steps must be >= 1")
        _require(0 < self.path_scale, "path_scale must be positive")
        _require(len(self.start_posture) == 2, "start_posture is (shoulder, elbow), rad")

    @property
    def n_directions(self) -> int:
        """Directions the paths are rotated to: ``directions``, or 32 in test mode (seed 004)."""
        return 32 if self.test else self.directions


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class MuscleArmMultiTaskEnv(MuscleEnv):
    """Seed 004's ten delayed movement tasks on the 6-muscle arm: follow a path, cued, after a delay.

    The arm is ``arm6`` (``MuscleArm6Reach-v1``'s body: 4 monoarticular and 2 biarticular muscles). By
    default it moves in a horizontal plane without gravity, like MotorNet's arm in seed 004
    (``plane="horizontal"``: the model's gravity is off; coordinates stay the model's (x, z), x
    forward, z to the side); ``plane="vertical"`` keeps gravity. The shoulder is at (0, 0.5) m.

    ## Tasks
    Each episode is one task in one direction at one speed, in four epochs of 10 ms control steps:
    *stable* (``stable_steps``, 25), *delay* (one of ``delays``: 25, 50 or 75), *movement* (T steps)
    and *hold* (``hold_steps``, 25). The hand should stay at its start until the go cue (the end of the
    delay), follow the path during the movement, and hold the path's end. Paths start at the hand, are
    drawn along +x and rotated to one of ``directions`` directions (8, evenly spaced from 0; 32 with
    ``test=True``), and follow seed 004's code point by point (``numpy.linspace`` over T points):

    | rule | task | path (R = ``path_scale`` x 0.25 m) | T, steps |
    |---|---|---|---|
    | 0 | HalfReach | straight to (R, 0) | 50 / 100 / 150 |
    | 1 | HalfCircleClk | half circle of radius R/2 over +y to (R, 0) | 50 / 100 / 150 |
    | 2 | HalfCircleCClk | the same under -y | 50 / 100 / 150 |
    | 3 | Sinusoid | x evenly to R, y = R/2 sin(2 pi x / R) | 50 / 100 / 150 |
    | 4 | SinusoidInv | y = -R/2 sin(2 pi x / R) | 50 / 100 / 150 |
    | 5 | FullReach | straight out to (R, 0) and back, T/2 steps each | 100 / 200 / 300 |
    | 6 | FullCircleClk | the whole circle of radius R/2, from the top | 100 / 200 / 300 |
    | 7 | FullCircleCClk | the whole circle, from the bottom | 100 / 200 / 300 |
    | 8 | Figure8 | a sinusoid out and its mirror image back | 100 / 200 / 300 |
    | 9 | Figure8Inv | the same, mirrored | 100 / 200 / 300 |

    The sinusoid and figure-8 advance evenly in x, so their speed varies along the path; the circles
    advance evenly in angle. **Scale:** seed 004's paths are 0.25 m long in every direction, which
    needs hand distances from the shoulder spanning 0.5 m; ``arm6`` (0.309 + 0.333 m, elbow 0-143 deg)
    spans 0.205-0.642 m, so no start fits them. The paths are scaled by ``path_scale`` = 0.8 (R = 0.2
    m), from ``start_posture`` = (0.61, 1.64) rad: the largest one factor that keeps every point of
    every path of every task, in all 32 directions, 0.1 rad inside both joints' limits is 0.813, at
    (0.615, 1.64) rad (``scripts/fit_multitask_posture.py`` finds it; tests/test_arm_multitask.py
    checks the default).

    ## Action Space
    ``Box(0, 1, (6,), float32)``: muscle excitations, as ``MuscleArm6Reach-v1``.

    ## Observation Space
    A ``Dict`` of float64 vectors (units: ``muscle_envs.observations``):

    | key | shape | meaning |
    |---|---|---|
    | `rule` | (10,) | one-hot task (the rule column of the table above) |
    | `speed` | (1,) | 0 during the stable epoch, then 1 - T/150 (half tasks) or 1 - T/300 (full tasks) |
    | `go_cue` | (1,) | 0 until the movement epoch starts, then 1 |
    | `target` | (2,) | 0 during the stable epoch, then the path's end (its midpoint for the full tasks), m |
    | `vision` | (2,) | hand (x, z), m |
    | `muscle_length` | (6,) | L0 |
    | `muscle_velocity` | (6,) | L0/s |
    | `muscle_force` | (6,) | Fmax (only with `muscle_force=True`) |
    | `desired_position` | (2,) | the path's point now, m (only with `privileged=True`: for teachers) |
    | `desired_velocity` | (2,) | its velocity, m/s (only with `privileged=True`) |

    The path's point *now* is its start until the movement epoch, then point k of T at movement step
    k, then its end.

    ## Rewards
    Per step, with ``e`` the hand minus the path's point now (m):

    | term | value |
    |---|---|
    | `reward_position` | ``-position_weight * (|e_x| + |e_z|)`` (seed 004's L1 loss) |
    | `reward_activation` | ``-activation_weight * mean(activation^2)`` (seed 004: 1e-2) |

    ## Starting State
    The arm at rest at ``start_posture``, activations 0. Task, direction, speed and delay are drawn
    uniformly from ``tasks``, the directions, ``speeds`` and ``delays``. ``reset`` options fix any of
    them: ``{"task": name or rule index, "direction": index, "speed": index, "delay": steps}``; a bad
    one raises ``ValueError`` before anything changes.

    ## Episode End
    ``terminated`` after the hold epoch (stable + delay + T + hold steps): an episode is one trial.
    ``info["is_success"]`` at the end: a mean position error over the movement and hold epochs of at
    most ``success_error`` (2 cm) and a movement of less than ``premature_limit`` (1 cm) before the
    go cue.

    ## Info
    The reward terms, ``position_error`` (m, Euclidean, now) and ``is_success``; at reset, ``task``
    (its name), ``direction``, ``movement_steps`` and ``delay_steps``.

    ## Episode Metrics
    ``episode_metrics()``: ``position_error_cm`` (mean over the movement and hold epochs so far; NaN
    before the movement), ``premature_movement_cm`` (the hand's largest distance from its start before
    the go cue), ``task`` (the rule index; ``TASK_NAMES`` names it) and ``speed`` (0, 1, 2: fast,
    middle, slow). evaluate.py reports its results per task and per speed (``conditions``).
    ``step_labels()`` labels each step of a recording (``muscle_analysis``) with the task, the speed
    and the ``epoch`` of the last observation (0-3: stable, delay, movement, hold).

    ## Arguments
    ``gym.make("MuscleArmMultiTask-v0", **options)`` overrides fields of ``ArmMultiTaskConfig``.

    | option | default | meaning |
    |---|---|---|
    | `plane` | "horizontal" | "horizontal" (no gravity) or "vertical" |
    | `frame_skip` | 5 | 2 ms physics steps per control step (10 ms) |
    | `tasks` | all ten | the tasks episodes are drawn from |
    | `directions` | 8 | directions in training |
    | `test` | False | 32 directions (seed 004's test set) |
    | `speeds` | (0, 1, 2) | indices into the movement times (50/100/150 or 100/200/300 steps) |
    | `delays` | (25, 50, 75) | delay epochs to draw from, steps |
    | `stable_steps` | 25 | stable epoch, steps |
    | `hold_steps` | 25 | hold epoch, steps |
    | `path_scale` | 0.8 | paths' size against seed 004's (R = 0.25 m) |
    | `start_posture` | (0.61, 1.64) | shoulder, elbow at the start, rad |
    | `position_weight` | 1.0 | weight of the L1 position error, 1/m |
    | `activation_weight` | 0.01 | weight of the mean squared activation |
    | `muscle_force` | False | add `muscle_force` |
    | `privileged` | False | add `desired_position` and `desired_velocity` |
    | `success_error` | 0.02 | largest mean position error of a success, m |
    | `premature_limit` | 0.01 | movement before the go cue that fails a trial, m |
    | `render_size` | (480, 360) | width, height of rendered frames, pixels |

    ## Version History
    - v0: initial release.
    """

    reward_terms = ("reward_position", "reward_activation")
    config_class: ClassVar[type[ArmMultiTaskConfig]] = ArmMultiTaskConfig  # (its catalog: the tasks)
    conditions = {"task": TASK_NAMES, "speed": SPEED_NAMES}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass names only its config class; its task names follow from the catalog."""
        super().__init_subclass__(**kwargs)
        cls.conditions = {"task": tuple(task.name for task in cls.config_class.catalog), "speed": SPEED_NAMES}

    epochs = ("stable", "delay", "movement", "hold")

    def __init__(
        self, render_mode: str | None = None, config: ArmMultiTaskConfig | None = None, **options: Any
    ):
        cfg = make_config(self.config_class, config, options)
        plant = ArmPlant("arm6", cfg.frame_skip)
        if cfg.plane == "horizontal":
            plant.model.opt.gravity[:] = 0.0
        super().__init__(plant, render_mode, camera="side", render_size=cfg.render_size)
        self.config = cfg
        self.plant: ArmPlant = plant
        if not plant.within_joint_range(*cfg.start_posture):
            raise ValueError(f"start_posture {cfg.start_posture} is outside the joint range")
        self.start_hand = plant.forward_kinematics(*cfg.start_posture)
        n = plant.n_muscles
        self.catalog = cfg.catalog
        self._task_ids = tuple(self.conditions["task"].index(name) for name in cfg.tasks)
        angles = np.linspace(0.0, 2 * np.pi, cfg.n_directions + 1)[:-1]
        self.direction_angles = angles  # rad, in the plane's (x, z) coordinates

        # [vision | muscle length, velocity (, force) | rule | speed | go_cue | target (| desired
        # position, velocity)]: sensors gathered by a SensorReadout, the rule a per-episode constant
        # in the episode's offset, the rest written each step.
        reach = plant.upper_arm_length + plant.forearm_length
        x0, z0 = plant.shoulder_position
        near, far = np.array([x0 - reach, z0 - reach]), np.array([x0 + reach, z0 + reach])
        layout = ObservationLayout()
        layout.add(obs_keys.VISION, 2)
        quantities = ("length", "velocity", "force") if cfg.muscle_force else ("length", "velocity")
        for quantity in quantities:
            layout.add(f"muscle_{quantity}", n)
        layout.add(obs_keys.RULE, len(self.catalog), 0.0, 1.0)
        layout.add(obs_keys.SPEED, 1, 0.0, 1.0)
        layout.add(obs_keys.GO_CUE, 1, 0.0, 1.0)
        layout.add(obs_keys.TARGET, 2, np.minimum(near, 0.0), far)
        if cfg.privileged:
            layout.add(obs_keys.DESIRED_POSITION, 2, near, far)
            layout.add(obs_keys.DESIRED_VELOCITY, 2)
        self.observation_space = layout.build()
        self._layout = layout
        groups = [plant.hand_sensors(), *(plant.muscle_sensors(q) for q in quantities)]
        self._readout = plant.readout(groups, extra=layout.size - sum(len(g.addresses) for g in groups))
        self._hand_x, self._hand_z = plant.hand_sensors().addresses.tolist()
        self._rule = layout.slice(obs_keys.RULE)
        self._speed = layout.slice(obs_keys.SPEED).start
        self._go = layout.slice(obs_keys.GO_CUE).start
        self._target = layout.slice(obs_keys.TARGET).start
        self._desired = layout.slice(obs_keys.DESIRED_POSITION).start if cfg.privileged else None
        self._start_lanes(
            {
                "path": np.zeros((_MAX_STEPS, 2)),  # the path's points, world (x, z); its end repeats
                "offset": self._readout.offset,  # with the rule's one-hot
                "task": 0,
                "direction": 0,
                "speed_index": 0,
                "move_start": 0,  # first step of the movement epoch (the go cue)
                "move_steps": 1,  # T
                "episode_steps": 1,
                "speed": 0.0,  # the speed signal after the stable epoch
                "target_x": 0.0,
                "target_z": 0.0,
                "steps": 0,
                "error_sum": 0.0,  # Euclidean position error summed over the movement and hold, m
                "error_steps": 0,
                "premature": 0.0,  # largest distance from the start before the go cue, m
            }
        )

    # -- episode ------------------------------------------------------------------------------------
    def _reset_episode(self, options: dict[str, Any]) -> tuple[NDArray[np.float64], dict[str, Any]]:
        cfg, plant, episode, rng = self.config, self.plant, self.lanes.episode, self.np_random
        task, direction, speed, delay = self._checked_reset_options(options)  # before anything changes
        if task is None:
            task = self._task_ids[int(rng.integers(len(self._task_ids)))]
        if direction is None:
            direction = int(rng.integers(cfg.n_directions))
        if speed is None:
            speed = cfg.speeds[int(rng.integers(len(cfg.speeds)))]
        if delay is None:
            delay = cfg.delays[int(rng.integers(len(cfg.delays)))]
        spec = self.catalog[task]
        steps = self.movement_steps(task, speed)
        path = self.path(task, direction, steps)
        target = path[steps // 2] if spec.full else path[-1]

        plant.set_state(np.asarray(cfg.start_posture, dtype=np.float64))
        plant.set_target_marker(*target)
        episode.path[:steps] = path
        episode.path[steps:] = path[-1]
        episode.offset[...] = self._readout.offset
        episode.offset[self._rule.start + task] = 1.0
        episode.task, episode.direction, episode.speed_index = task, direction, speed
        episode.move_start = cfg.stable_steps + delay
        episode.move_steps = steps
        episode.episode_steps = cfg.stable_steps + delay + steps + cfg.hold_steps
        episode.speed = 1.0 - steps / self.movement_steps(task, len(HALF_TIMES) - 1)  # 1 - T / T_slowest
        episode.target_x, episode.target_z = float(target[0]), float(target[1])
        episode.steps = episode.error_steps = 0
        episode.error_sum = episode.premature = 0.0
        info = {
            "task": spec.name,
            "direction": direction,
            "movement_steps": steps,
            "delay_steps": delay,
            "position_error": 0.0,
            "is_success": False,
        }
        return self._observation(self.lanes), info

    def task_spec(self, task: int | str) -> Task:
        """The task of a name or a rule index."""
        return self.catalog[self.conditions["task"].index(task) if isinstance(task, str) else task]

    def movement_steps(self, task: int | str, speed: int) -> int:
        """The movement epoch's length, steps, of a task (name or rule index) at a speed (0-2)."""
        return (FULL_TIMES if self.task_spec(task).full else HALF_TIMES)[speed]

    def path(self, task: int | str, direction: int, steps: int) -> NDArray[np.float64]:
        """The ``steps`` points, world (x, z) in m, of a task's path in a direction (an index of
        :attr:`direction_angles`) from this env's start."""
        spec = self.task_spec(task)
        angle = self.direction_angles[direction]
        c, s = math.cos(angle), math.sin(angle)
        rotation = np.array([[c, -s], [s, c]])
        return spec.shape(steps) @ rotation.T * self.config.path_scale + np.asarray(self.start_hand)

    def _checked_reset_options(self, options: dict[str, Any]) -> tuple[int | None, ...]:
        """(task, direction, speed, delay) of the reset options, None where not given."""
        cfg, names = self.config, self.conditions["task"]
        unknown = sorted(set(options) - {"task", "direction", "speed", "delay"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; use task, direction, speed, delay")
        task = options.get("task")
        if task is not None:
            if isinstance(task, str):
                if task not in names:
                    raise ValueError(f"reset option task {task!r} is not one of {list(names)}")
                task = names.index(task)
            elif not (isinstance(task, int | np.integer) and 0 <= task < len(names)):
                raise ValueError(
                    f"reset option task must be a task name or a rule index 0-{len(names) - 1}, got {task!r}"
                )
            task = int(task)
        values = [task]
        for name, size in (("direction", cfg.n_directions), ("speed", len(HALF_TIMES))):
            value = options.get(name)
            if value is not None and not (isinstance(value, int | np.integer) and 0 <= value < size):
                raise ValueError(f"reset option {name} must be an index 0..{size - 1}, got {value!r}")
            values.append(None if value is None else int(value))
        delay = options.get("delay")
        if delay is not None and not (isinstance(delay, int | np.integer) and delay >= 0):
            raise ValueError(f"reset option delay must be a number of steps >= 0, got {delay!r}")
        values.append(None if delay is None else int(delay))
        return tuple(values)

    def _step(self, lanes: OneLane | Lanes, excitation: NDArray) -> Outcome:
        cfg, episode = self.config, lanes.episode
        lanes.plant.step(excitation)
        episode.steps = steps = episode.steps + 1
        desired = lanes.row(episode.path, self._path_index(lanes, 0))
        vector = self._observation(lanes, desired)
        hand_x, hand_z = lanes.entry(vector, 0), lanes.entry(vector, 1)
        ex, ez = hand_x - lanes.entry(desired, 0), hand_z - lanes.entry(desired, 1)
        error = lanes.sqrt(ex * ex + ez * ez)
        activation = lanes.plant.muscle_activation()
        terms = (
            -cfg.position_weight * (abs(ex) + abs(ez)),
            -cfg.activation_weight * lanes.sum_squares(activation) / activation.shape[-1],
        )
        moving = steps >= episode.move_start
        episode.error_sum = episode.error_sum + moving * error
        episode.error_steps = episode.error_steps + moving
        dx, dz = hand_x - self.start_hand[0], hand_z - self.start_hand[1]
        moved = lanes.logical_not(moving) * lanes.sqrt(dx * dx + dz * dz)
        episode.premature = lanes.where(moved > episode.premature, moved, episode.premature)
        done = steps >= episode.episode_steps
        mean_error = episode.error_sum / lanes.where(episode.error_steps > 0, episode.error_steps, 1)
        success = done & (mean_error <= cfg.success_error) & (episode.premature < cfg.premature_limit)
        return Outcome(vector, reward_of(terms), terms, done, False, success, {"position_error": error})

    def episode_metrics(self) -> dict[str, float]:
        """The episode so far: ``position_error_cm`` (mean over the movement and hold; NaN before),
        ``premature_movement_cm``, and its conditions: ``task`` (the rule index) and ``speed`` (0-2:
        fast, middle, slow)."""
        episode = self.lanes.episode
        error = episode.error_sum / episode.error_steps if episode.error_steps else math.nan
        return {
            "position_error_cm": 100.0 * error,
            "premature_movement_cm": 100.0 * episode.premature,
            "task": float(episode.task),
            "speed": float(episode.speed_index),
        }

    def step_labels(self) -> dict[str, int]:
        """The task, speed and ``epoch`` (0-3: stable, delay, movement, hold) of the last observation."""
        episode = self.lanes.episode
        bounds = (self.config.stable_steps, episode.move_start, episode.move_start + episode.move_steps)
        return {**super().step_labels(), "epoch": int(np.searchsorted(bounds, episode.steps, side="right"))}

    @property
    def task(self) -> str:
        """The episode's task."""
        return self.conditions["task"][self.lanes.episode.task]

    # -- helpers ------------------------------------------------------------------------------------
    def _path_index(self, lanes: OneLane | Lanes, ahead: int) -> Any:
        """Index in the path of its point ``ahead`` steps from now (the start until the movement)."""
        episode = lanes.episode
        index = episode.steps + ahead - episode.move_start
        return lanes.clip(index, 0, episode.move_steps - 1)

    def _observation(self, lanes: OneLane | Lanes, desired: NDArray | None = None) -> NDArray[np.float64]:
        """The observation vector(s) now; ``desired``: the path's point now, if known."""
        episode, steps = lanes.episode, lanes.episode.steps
        vector = self._readout.read(lanes.plant.sensordata, episode.offset)
        shown = steps >= self.config.stable_steps  # speed and target appear after the stable epoch
        vector[..., self._speed] = shown * episode.speed
        vector[..., self._go] = (steps >= episode.move_start) * 1.0
        vector[..., self._target] = shown * episode.target_x
        vector[..., self._target + 1] = shown * episode.target_z
        if self._desired is not None:
            now = desired if desired is not None else lanes.row(episode.path, self._path_index(lanes, 0))
            following = lanes.row(episode.path, self._path_index(lanes, 1))
            d = self._desired
            vector[..., d : d + 2] = now
            vector[..., d + 2 : d + 4] = (following - now) / self.plant.dt
        return vector


@dataclass(frozen=True)
class ArmComposableConfig(ArmMultiTaskConfig):
    """Options of the composable env (documented in :class:`MuscleArmComposableEnv`)."""

    catalog: ClassVar[tuple[Task, ...]] = COMPOSITES
    tasks: tuple[str, ...] = COMPOSITE_NAMES


class MuscleArmComposableEnv(MuscleArmMultiTaskEnv):
    """Seed 004's ComposableEnv on the 6-muscle arm: new out-and-back paths composed of the ten tasks'
    halves, to probe compositional generalization.

    Everything is as in :class:`MuscleArmMultiTaskEnv` (arm, plane, epochs, cues, observation, reward,
    metrics, options, reset options) but the tasks. Each path goes out to the far point (R, 0) along
    one of the five *forward motifs* (the half tasks' paths: HalfReach, HalfCircleClk, HalfCircleCClk,
    Sinusoid, SinusoidInv) and returns to the start along one of the five *backward motifs* (the
    second halves of the full tasks: FullReach's straight return, FullCircleClk's and FullCircleCClk's
    lower and upper half circles, Figure8's and Figure8Inv's mirrored sinusoids). The five pairs of a
    forward motif with its own task's return are the full tasks themselves and are left out, as in
    seed 004, which leaves 20 tasks named ``"forward+backward"`` (e.g. ``"HalfReach+Figure8"``: a
    straight reach out, a sinusoid back). T/2 points each way, with the full tasks' movement times
    (100 / 200 / 300 steps), speed signal 1 - T/300, and the far point as ``target``.

    ## Observation Space
    As ``MuscleArmMultiTask-v0``'s, but ``rule`` has 20 entries: the one-hot index of the task in
    ``COMPOSITE_NAMES`` (seed 004's order: ``itertools.product`` of the forward and the backward
    motifs, its own task's pair skipped).

    ## Arguments
    ``gym.make("MuscleArmComposable-v0", **options)`` takes ``MuscleArmMultiTask-v0``'s options;
    ``tasks`` (default: all 20) names composite tasks. Every composite path is made of points of
    the ten tasks' paths, so the multi-task env's start posture and path scale fit it too.

    ## Version History
    - v0: initial release.
    """

    config_class = ArmComposableConfig
