"""Task code written once for one env and for a batch of envs: *lanes*, one per env.

An env's step after the physics (observation, reward, episode end) is written once, over lanes.
:class:`OneLane` is a single ``gym.Env``: per-env quantities are Python numbers and per-env vectors
1-D arrays, so an operation costs a fraction of a microsecond, where numpy pays ~1 us per call
whatever the size. :class:`Lanes` is a batch of n envs: the same quantities are numpy arrays with a
leading axis of n, and every operation runs once for all of them. The code reads the same for both:
arithmetic and comparison operators and ``&``/``|`` work on either, vectors are indexed from the
end (``v[..., part]``, ``v.take(index, axis=-1)``), and what is spelled differently (a square root,
a choice, an entry of each env's vector, random draws from each env's own generator) is a method
of the lanes object. Transcendental functions are numpy's in both (``math.exp`` and ``numpy.exp``
can differ in the last bit; numpy gives one result for a number and for an array's entry), so one
env and a batch agree bit for bit.

A lanes object also carries what the code reads and writes: ``plant`` (the physics: a
:class:`~muscle_envs.plants.base.MusclePlant`, or a :class:`~muscle_envs.plants.batch.BatchPlant`
over ``mujoco.batch``) and ``episode`` (the env's per-episode variables: targets, timers, sums; see
:class:`EpisodeState`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Generator = np.random.Generator


class EpisodeState:
    """An env's per-episode variables, declared as ``{name: default}``: a Python number (bool, int,
    float) for a per-env quantity, an array for a per-env vector.

    :meth:`one` holds them as given (numbers and 1-D arrays) for a single env; :meth:`many` as
    arrays with a leading axis of n, one row per env; :meth:`lane` is one row of those, read and
    written like a single env's. Task code assigns whole variables (``state.steps = state.steps + 1``,
    ``state.ring[...] = rows``); an array variable of a batch is replaced, never resized.
    """

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)

    @classmethod
    def one(cls, fields: dict[str, Any]) -> EpisodeState:
        return cls({name: np.array(v, dtype=np.float64) if np.ndim(v) else v for name, v in fields.items()})

    @classmethod
    def many(cls, fields: dict[str, Any], n: int) -> EpisodeState:
        arrays = {}
        for name, default in fields.items():
            default = np.asarray(default, dtype=np.float64 if np.ndim(default) else None)
            arrays[name] = np.empty((n, *default.shape), dtype=default.dtype)
            arrays[name][...] = default
        return cls(arrays)

    def lane(self, i: int) -> LaneState:
        """Row ``i`` of a batch's variables."""
        return LaneState(self, i)


class LaneState:
    """One env's row of a batch's :class:`EpisodeState`: numbers read as Python numbers, vectors as
    views of the row; assignments write the row."""

    __slots__ = ("_state", "_i")

    def __init__(self, state: EpisodeState, i: int):
        object.__setattr__(self, "_state", state)
        object.__setattr__(self, "_i", i)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._state, name)[self._i]
        return value.item() if value.ndim == 0 else value

    def __setattr__(self, name: str, value: Any) -> None:
        getattr(self._state, name)[self._i] = value


class OneLane:
    """One env: its plant, its episode variables, and operations on Python numbers.

    ``rng`` returns the env's generator (``env.np_random``, which ``reset(seed=...)`` replaces).
    """

    n: int | None = None  # one env: no batch axis
    sqrt = staticmethod(math.sqrt)  # correctly rounded, as numpy's

    def __init__(self, plant: Any, episode: EpisodeState | LaneState, rng: Callable[[], Generator]):
        self.plant = plant
        self.episode = episode
        self._rng = rng

    @staticmethod
    def exp(x: float) -> float:
        return float(np.exp(x))  # numpy's (math.exp can differ in the last bit), as a Python float

    @staticmethod
    def arccos(x: float) -> float:
        return float(np.arccos(x))

    @staticmethod
    def where(condition: Any, a: Any, b: Any) -> Any:
        return a if condition else b

    @staticmethod
    def logical_not(x: Any) -> bool:
        return not x

    @staticmethod
    def clip(x: float, low: float, high: float) -> float:
        return low if x < low else high if x > high else x

    @staticmethod
    def entry(vector: NDArray, j: int) -> float:
        """Entry ``j`` of the env's vector."""
        return vector.item(j)

    @staticmethod
    def any(mask: Any) -> bool:
        return bool(mask)

    @staticmethod
    def row(matrix: NDArray, index: int) -> NDArray:
        """Row ``index`` of the env's matrix (a per-env (rows, k) variable)."""
        return matrix[index]

    @staticmethod
    def sum_squares(vectors: NDArray) -> Any:
        """Sum of squares over the last axis (numpy's pairwise sum, row by row the same in a batch)."""
        return (vectors * vectors).sum(-1)

    @staticmethod
    def mean_square_clipped(values: NDArray) -> float:
        """mean(clip(values, 0, 1)^2), summed entry by entry in float64. For a handful of muscles
        plain Python takes ~0.4 us, where ``np.clip`` alone costs several (its dispatch)."""
        total = 0.0
        for x in values.tolist():
            x = 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
            total += x * x
        return total / values.shape[-1]

    def normal(self, scale: float, size: int) -> NDArray[np.float64]:
        """``size`` draws of N(0, scale^2) from the env's generator."""
        return self._rng().normal(0.0, scale, size)

    def each(self, mask: Any) -> Sequence[tuple[EpisodeState | LaneState, Generator]]:
        """(episode variables, generator) of the env if ``mask`` holds: per-env code for rare events."""
        return ((self.episode, self._rng()),) if mask else ()


class Lanes:
    """A batch of ``len(rngs)`` envs: plant, episode variables and operations over numpy arrays.

    ``rngs[i]`` is env i's generator; draws are made env by env in order, as n single envs would.
    """

    sqrt = staticmethod(np.sqrt)
    exp = staticmethod(np.exp)
    arccos = staticmethod(np.arccos)
    where = staticmethod(np.where)
    logical_not = staticmethod(np.logical_not)
    any = staticmethod(np.any)
    sum_squares = staticmethod(OneLane.sum_squares)

    def __init__(self, plant: Any, episode: EpisodeState, rngs: list[Generator]):
        self.plant = plant
        self.episode = episode
        self.rngs = rngs
        self.n = len(rngs)
        self._envs = np.arange(self.n)

    @staticmethod
    def clip(x: NDArray, low: float, high: float) -> NDArray:
        return np.minimum(np.maximum(x, low), high)  # np.clip's dispatch costs ~10x more

    @staticmethod
    def entry(vectors: NDArray, j: int) -> NDArray:
        return vectors[:, j]

    def row(self, matrices: NDArray, index: NDArray) -> NDArray:
        """Row ``index[i]`` of env i's matrix, for every env: (n, k)."""
        return matrices[self._envs, index]

    @staticmethod
    def mean_square_clipped(values: NDArray) -> NDArray[np.float64]:
        # OneLane's arithmetic, column by column: the same float64 operations in the same order
        clipped = np.minimum(np.maximum(values, 0.0, dtype=np.float64), 1.0)
        squares = clipped * clipped
        total = squares[:, 0].copy()
        for j in range(1, squares.shape[1]):
            total += squares[:, j]
        total /= squares.shape[1]
        return total

    def normal(self, scale: float, size: int) -> NDArray[np.float64]:
        return np.stack([rng.normal(0.0, scale, size) for rng in self.rngs])

    def each(self, mask: NDArray[np.bool_]) -> Iterator[tuple[LaneState, Generator]]:
        for i in np.flatnonzero(mask).tolist():
            yield self.episode.lane(i), self.rngs[i]
