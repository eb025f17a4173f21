"""BatchPlant: n simulations of one plant's model, stepped together on ``mujoco.batch``'s threads."""

from __future__ import annotations

import os
from typing import Any

import mujoco
import numpy as np
from mujoco import batch as mujoco_batch
from numpy.typing import NDArray

from muscle_envs.plants.base import INSTABILITY_WARNINGS, MusclePlant

_INTEGRATION = mujoco.mjtState.mjSTATE_INTEGRATION
_INSTABILITY = np.array(INSTABILITY_WARNINGS)


def available_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class BatchPlant:
    """``n`` copies of ``plant``'s body in one ``mujoco.batch.Batch`` (persistent: one ``MjData``
    each), with the step, views and state changes of :class:`~muscle_envs.plants.base.MusclePlant`
    that task code uses, one row per simulation.

    Each control step is one call, ``frame_skip`` substeps per simulation on ``n_threads`` native
    threads (the GIL released), ending with the forward stages at the new state (``stage`` ACC): every
    sensor, contact force and muscle quantity describes the state after the step exactly, as
    ``MusclePlant.step`` leaves them, and the trajectories are bit-identical to it (tests/test_vector.py).

    ``plant`` itself (its ``MjData``) is the staging area: a new episode's state is set up there with
    the plant's own methods (``set_state``, inverse kinematics, ...), then :meth:`save` copies it into
    a simulation; :meth:`load` copies a simulation back out (to render it, or to read it by name).

    Args:
        plant: the plant whose model (and methods) to use.
        n: number of simulations.
        n_threads: native threads (default: the CPU cores this process may use, at most ``n``).
    """

    def __init__(self, plant: MusclePlant, n: int, n_threads: int | None = None):
        if n < 1:
            raise ValueError(f"a batch needs at least one simulation, got n={n}")
        if n_threads is None:
            n_threads = min(available_cores(), n)
        if n_threads < 1:
            raise ValueError(f"n_threads must be >= 1, got {n_threads}")
        self.plant = plant
        self.model = plant.model
        self.n = n
        self.n_threads = n_threads
        self.frame_skip = plant.frame_skip
        self.batch = mujoco_batch.Batch(plant.model, n, n_threads, persistent=True)
        self._state = self.batch.state  # (n, integration state size), live
        self._ctrl = self.batch.bind("ctrl")
        self._act = self.batch.bind("act")
        self._xfrc = self.batch.bind("xfrc_applied")
        self.sensordata = self.batch.bind("sensordata")  # (n, nsensordata), refreshed by every call
        self._warnings = self.batch.warning  # (n, warnings, 2): (lastinfo, number) per warning, live
        self._stable = np.zeros(n, dtype=bool)
        self._stable.flags.writeable = False
        self._counts = np.zeros(n, dtype=np.int64)  # instability warnings so far, per simulation
        self._stale: set[int] = set()  # simulations saved since the last call: derived fields stale
        self._index = plant._index
        self._act_index = plant._act_index

    def step(self, excitation: NDArray) -> NDArray[np.bool_]:
        """One control step of every simulation, row i of ``excitation`` for simulation i; returns
        which went unstable (MuJoCo reset their state), if the plant's ``detect_instability`` is set."""
        self._ctrl[:, self._index] = excitation
        self.batch.step(nstep=self.frame_skip, stage=mujoco.mjtStage.mjSTAGE_ACC)
        self._stale.clear()
        if not self.plant.detect_instability:
            return self._stable
        # MuJoCo's counters only grow (a state written into a simulation leaves them as they are)
        counts = self._warnings[:, _INSTABILITY, 1].sum(axis=1)
        unstable, self._counts = counts > self._counts, counts
        return unstable

    def muscle_activation(self) -> NDArray[np.float64]:
        """(n, muscles): each simulation's activations (a copy)."""
        return np.array(self._act[:, self._act_index])

    def view(self, name: str) -> NDArray:
        """``MjData`` field ``name`` of every simulation, (n, ...): live (``mujoco.batch``'s bind)."""
        return self.batch.bind(name)

    def apply_force(self, body: int, force: NDArray) -> None:
        """Apply ``force`` (n, 3), world frame, N, at ``body`` of each simulation until changed."""
        self._xfrc[:, body, :3] = force

    def restart(self, unstable: NDArray[np.bool_], *state: Any) -> None:
        """``plant.set_state(*state)`` for each simulation whose entry of ``unstable`` is true (their
        derived quantities computed: they are read right after)."""
        if unstable.any():
            ids = np.flatnonzero(unstable)
            self.plant.set_state(*state)
            for i in ids.tolist():
                self._save_row(i)
            self.batch.forward(ids)

    def save(self, i: int) -> None:
        """Make the staging ``plant.data`` simulation ``i``'s state (the next step starts from it)."""
        self._save_row(i)
        self._stale.add(i)

    def load(self, i: int) -> mujoco.MjData:
        """Copy simulation ``i`` (state and derived quantities) into the staging ``plant.data``."""
        if i in self._stale:  # saved since the last step: compute what the staging data had
            self.batch.forward([i])
            self._stale.discard(i)
        return self.batch.get_data(i, self.plant.data)

    def _save_row(self, i: int) -> None:
        mujoco.mj_getState(self.model, self.plant.data, self._state[i], _INTEGRATION)
