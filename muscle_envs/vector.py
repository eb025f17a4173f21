"""BatchedVecEnv: a Stable-Baselines3 ``VecEnv`` that steps many copies of a muscle env as one batch.

DummyVecEnv and SubprocVecEnv step each env through its own Python objects (the env, its wrappers,
a Monitor; and with SubprocVecEnv a pipe round trip per env and step). For the arm, whose physics
costs ~30 us a step, that per-env Python is most of the time. BatchedVecEnv keeps one
:class:`~muscle_envs.core.BatchKernel` per process: the physics runs env by env (MuJoCo's own
step, nothing else), and observation, reward, episode ends and the Monitor's bookkeeping run once per
batch as array arithmetic. MuJoCo's Python calls hold the GIL, so to use more than one core the
envs are split between this process and worker processes (``n_workers``), each stepping its share
as a batch at the same time; actions and results cross in shared memory.

Observations, rewards, episode ends and resets are those of ``gym.make(env_id)`` under
``run_utils.make_env``'s wrappers (tests/test_vector.py compares them step by step): same seeds
(``seed + i`` for env i), same start states, the registered time limit, and actions rescaled
from ``action_range`` to the muscles' [0, 1] like Gymnasium's ``RescaleAction``. ``info`` is empty
except at an episode's end, where it holds what SB3 and train_sb3.py read: ``is_success``,
``episode`` (Monitor's ``r``, ``l``, ``t``), ``episode_metrics`` (``reward/<term>`` sums and
``task/<metric>``, as ``run_utils.EpisodeMetrics``), ``TimeLimit.truncated`` and
``terminal_observation``.

This module imports Stable-Baselines3; ``import muscle_envs`` does not import it.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
import weakref
from collections.abc import Callable, Sequence
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers.utils import rescale_box
from numpy.typing import NDArray
from stable_baselines3.common.monitor import Monitor, ResultsWriter
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

import muscle_envs
from muscle_envs.core import BatchKernel, LoopKernel, MuscleEnv

_EndOfEpisode = tuple[int, dict[str, Any], NDArray[np.float64]]  # env index, info, terminal observation
# Steps go through shared memory, signalled with semaphores that the waiting side first polls (a
# few us per step) and sleeps on only after _SPIN_SECONDS: waking a sleeping process costs 100-300
# us on a virtual machine, more than a whole arm step, while between two steps of a rollout (a
# policy forward pass, < 1 ms) polling costs nothing, and during a PPO update (seconds) it sleeps.
# The semaphores also order the memory writes on either side before the other side's reads.
_SPIN_SECONDS = 0.005


def _acquire(semaphore: Any, alive: Callable[[], bool], who: str) -> None:
    """Acquire ``semaphore``: poll it for ``_SPIN_SECONDS``, then sleep on it; raise if the process
    at the other end dies meanwhile."""
    deadline = time.perf_counter() + _SPIN_SECONDS
    while time.perf_counter() < deadline:
        if semaphore.acquire(False):
            return
    while not semaphore.acquire(timeout=1.0):
        if not alive():
            raise EOFError(f"{who} is gone")


def _mailbox_shapes(n_envs: int, n_actions: int, width: int) -> dict[str, tuple[int, ...]]:
    """The arrays of a step in shared memory, 8-byte entries each: the actions in, the vectors,
    rewards and episode ends out, and ``control`` (int64): [number of episode ends (their infos
    follow on the pipe; -1: an error), whether the actions were float32]."""
    shapes = {"control": (2,), "actions": (n_envs, n_actions), "vectors": (n_envs, width)}
    return shapes | {"rewards": (n_envs,), "dones": (n_envs,)}


def _mailbox_bytes(*shape: int) -> int:
    return 8 * sum(int(np.prod(array)) for array in _mailbox_shapes(*shape).values())


def _mailbox(buffer: Any, *shape: int) -> dict[str, NDArray]:
    arrays, offset = {}, 0
    for name, array in _mailbox_shapes(*shape).items():
        dtype = np.int64 if name == "control" else np.float64
        arrays[name] = np.ndarray(array, dtype, buffer=buffer, offset=offset)
        offset += arrays[name].nbytes
    return arrays


class _Batch:
    """The envs of one process and their kernel: what a worker (or the main process) runs.

    Does the work of the wrappers training puts around each env (``RescaleAction``, ``TimeLimit``,
    ``EpisodeMetrics``, ``Monitor``) for the whole batch, and resets envs whose episode ended.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        ranks: Sequence[int],
        action_range: tuple[float, float] | None,
        monitor_dir: Path | None,
        render_mode: str | None,
        vectorized: bool,
    ):
        envs = [gym.make(_qualified(env_id), render_mode=render_mode, **env_kwargs) for _ in ranks]
        raw = [env.unwrapped for env in envs]
        if not isinstance(raw[0], MuscleEnv):
            raise ValueError(f"{env_id} is not a muscle_envs env; BatchedVecEnv steps only those")
        self.kernel: BatchKernel = raw[0].batch_kernel(raw) if vectorized else LoopKernel(raw)
        self.envs: list[MuscleEnv] = raw
        self.max_steps = envs[0].spec.max_episode_steps or np.iinfo(np.int64).max
        self.action_space = raw[0].action_space
        self.observation_space = raw[0].observation_space
        self._to_excitation = None
        if action_range is not None:
            low, high = np.float32(action_range[0]), np.float32(action_range[1])
            self.action_space, _, self._to_excitation = rescale_box(self.action_space, low, high)
        n = len(raw)
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._returns = np.zeros(n)
        self._term_sums = np.zeros((n, len(self.kernel.reward_terms)))
        self.mailbox_shape = (int(np.prod(self.action_space.shape)), self.kernel.width)
        self._t_start = time.time()
        self._writers = None
        if monitor_dir is not None:
            header = {"t_start": self._t_start, "env_id": env_id}
            self._writers = [
                ResultsWriter(
                    str(monitor_dir / str(rank)),
                    header=header,
                    extra_keys=("is_success",),
                    override_existing=new_monitor_file(monitor_dir / str(rank)),
                )
                for rank in ranks
            ]

    def reset(
        self, seeds: Sequence[int | None], options: Sequence[dict | None]
    ) -> tuple[NDArray, list[dict]]:
        rows, infos = [], []
        for i, (seed, opts) in enumerate(zip(seeds, options, strict=True)):
            row, info = self._reset(i, seed, opts)
            rows.append(row)
            infos.append(info)
        return np.array(rows), infos

    def _reset(self, i: int, seed: int | None, options: dict | None) -> tuple[NDArray, dict]:
        self._elapsed[i] = 0
        self._returns[i] = 0.0
        self._term_sums[i] = 0.0
        return self.kernel.reset(i, seed, options)

    def step(self, actions: NDArray) -> tuple[NDArray, NDArray, NDArray, list[_EndOfEpisode]]:
        """Step every env with its (checked) action row; reset those whose episode ended."""
        if self._to_excitation is not None:
            actions = self._to_excitation(actions)
        result = self.kernel.step(actions)
        self._elapsed += 1
        self._returns += result.reward
        self._term_sums += result.terms
        timeout = self._elapsed >= self.max_steps
        truncated = result.truncated | timeout
        dones = result.terminated | truncated
        vectors, ends = result.observation, []
        for i in np.flatnonzero(dones):
            timed_out = bool(truncated[i] and not result.terminated[i])
            ends.append((int(i), self._end_info(i, bool(result.success[i]), timed_out), vectors[i].copy()))
            vectors[i], _ = self._reset(i, None, None)
        return vectors, result.reward, dones, ends

    def _end_info(self, i: int, success: bool, truncated: bool) -> dict[str, Any]:
        kernel = self.kernel
        sums = zip(kernel.reward_terms, self._term_sums[i].tolist(), strict=True)
        metrics = {f"reward/{key.removeprefix('reward_')}": value for key, value in sums}
        metrics.update((f"task/{key}", value) for key, value in kernel.episode_metrics(i).items())
        episode = {
            "r": round(float(self._returns[i]), 6),
            "l": int(self._elapsed[i]),
            "t": round(time.time() - self._t_start, 6),
            "is_success": success,
        }
        if self._writers is not None:
            self._writers[i].write_row(episode)
        return {
            "is_success": success,
            "TimeLimit.truncated": truncated,
            "episode": episode,
            "episode_metrics": metrics,
            **kernel.end_info(i),
        }

    def call(self, kind: str, name: str, args: tuple, kwargs: dict, indices: Sequence[int]) -> list[Any]:
        """``get_attr``, ``set_attr`` or ``env_method`` on the envs at ``indices`` (local numbering)."""
        envs = [self.envs[i] for i in indices]
        if kind == "get_attr":
            return [getattr(env, name) for env in envs]
        if kind == "set_attr":
            return [setattr(env, name, args[0]) for env in envs]
        return [getattr(env, name)(*args, **kwargs) for env in envs]

    def close(self) -> None:
        for env in self.envs:
            env.close()
        for writer in self._writers or []:
            writer.close()


def _choose_kernel(env_id: str, env_kwargs: dict[str, Any], kernel: str, smallest_share: int) -> bool:
    """Whether every process steps its batch with the env's vectorized kernel (see BatchedVecEnv)."""
    if kernel not in ("auto", "vectorized", "loop"):
        raise ValueError(f"kernel must be 'auto', 'vectorized' or 'loop', got {kernel!r}")
    if kernel == "loop":
        return False
    cls = gym.spec(env_id.rpartition(":")[2]).entry_point  # (the module is imported: muscle_envs)
    cls = gym.envs.registration.load_env_creator(cls) if isinstance(cls, str) else cls
    vectorized = getattr(cls, "batch_kernel", None)
    if kernel == "auto" and (vectorized is None or smallest_share < vectorized.min_batch):
        return False
    reason = "it has no vectorized kernel" if vectorized is None else None
    if reason is None:
        probe = gym.make(_qualified(env_id), **env_kwargs).unwrapped
        reason = vectorized.unsupported(probe)
        probe.close()
    if kernel == "vectorized":
        if reason is not None:
            raise ValueError(f"{env_id} cannot be stepped with kernel='vectorized': {reason}")
        return True
    return reason is None


def _close_at_exit(ref: weakref.ref) -> None:
    """Stop the workers and unlink the shared memory of a BatchedVecEnv still open at interpreter
    exit (only a weak reference is held, so an env that is gone is not kept alive)."""
    venv = ref()
    if venv is not None and not venv.closed:
        venv.close()


class WorkerDied(RuntimeError):
    """A BatchedVecEnv worker process ended without replying (killed, crashed, or failed to start)."""


def new_monitor_file(filename: str | Path) -> bool:
    """Whether SB3's Monitor (or ResultsWriter) at ``filename`` starts a new file (header first) rather
    than appending to the one a run wrote before it was resumed: episode logs are never truncated."""
    name = str(filename)
    if not name.endswith(Monitor.EXT):
        name = f"{name}.{Monitor.EXT}"
    return not Path(name).is_file()


def _qualified(env_id: str) -> str:
    """The id with its module (``muscle_envs:...``), so a fresh worker process can make it."""
    return env_id if ":" in env_id or env_id not in muscle_envs.ENV_IDS else f"muscle_envs:{env_id}"


def _worker(remote: Any, parent_remote: Any, command: Any, reply: Any, batch_args: tuple) -> None:
    """A worker process: build a :class:`_Batch`, then serve the main process. Each ``command``
    release is either a step (actions in shared memory) or, when the pipe holds one, another command
    (attach the shared memory, reset, call, close), answered on the pipe."""
    parent_remote.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    if "torch" in sys.modules:  # imported with the main module (forkserver, spawn): keep it to one thread
        sys.modules["torch"].set_num_threads(1)
    try:
        batch = _Batch(*batch_args)
        remote.send(("ok", None))
    except Exception as error:
        remote.send(("error", (error, traceback.format_exc())))
        return
    parent, memory, box = mp.parent_process(), None, {}
    while True:
        try:
            _acquire(command, parent.is_alive, "the main process")
            if not remote.poll():  # a step
                actions = box["actions"].astype(np.float32) if box["control"][1] else box["actions"].copy()
                try:
                    vectors, rewards, dones, ends = batch.step(actions)
                    box["vectors"][:], box["rewards"][:], box["dones"][:] = vectors, rewards, dones
                    box["control"][0] = len(ends)
                    if ends:
                        remote.send(ends)
                except Exception as error:
                    box["control"][0] = -1
                    remote.send(("error", (error, traceback.format_exc())))
                reply.release()
                continue
            name, data = remote.recv()
        except EOFError:  # the main process is gone
            break
        try:
            if name == "attach":
                memory = SharedMemory(name=data)  # the main process unlinks it
                box = _mailbox(memory.buf, len(batch.envs), *batch.mailbox_shape)
                remote.send(("ok", None))
            elif name == "reset":
                remote.send(("ok", batch.reset(*data)))
            elif name == "call":
                remote.send(("ok", batch.call(*data)))
            elif name == "close":
                batch.close()
                remote.send(("ok", None))
                break
        except Exception as error:
            remote.send(("error", (error, traceback.format_exc())))
    box.clear()
    if memory is not None:
        memory.close()
    remote.close()


class BatchedVecEnv(VecEnv):
    """``n_envs`` copies of a muscle env, stepped as batches: one in this process and, at the same
    time, one in each of ``n_workers`` worker processes.

    Args:
        env_id: a registered id with a batched implementation (every id of ``muscle_envs.ENV_IDS``).
        n_envs: number of envs.
        env_kwargs: env options, as for ``gym.make(env_id, **env_kwargs)``.
        action_range: the actions' range (``(-1, 1)``: what a Gaussian policy emits); each is mapped
            linearly onto the muscles' [0, 1], like Gymnasium's ``RescaleAction``. None: excitations.
        n_workers: extra processes; the envs are split evenly between this process and the workers.
            Default: one fewer than the CPU cores this process may use (at most ``n_envs - 1``).
        start_method: multiprocessing start method of the workers (default: ``forkserver`` where
            available; any works, the workers make the env from its module-qualified id).
        monitor_dir: write each env's episodes to ``<monitor_dir>/<i>.monitor.csv``, as SB3's Monitor.
        render_mode: passed to the envs (``get_images()`` calls each env's ``render()``).
        kernel: how each process steps its batch: ``"vectorized"`` (the env's ``batch_kernel``: array
            arithmetic, fastest for many envs), ``"loop"`` (each env's own ``step()``: any muscle env,
            any option, fastest for a few envs) or ``"auto"``: vectorized where the env has a kernel
            that supports its options and every process has at least its ``min_batch`` envs.

    Raises ``ValueError`` for an env that is not a muscle env, ``kernel="vectorized"`` where it
    cannot be, and actions of the wrong shape or with NaN/inf (nothing is stepped then).
    """

    def __init__(
        self,
        env_id: str,
        n_envs: int,
        env_kwargs: dict[str, Any] | None = None,
        action_range: tuple[float, float] | None = (-1.0, 1.0),
        n_workers: int | None = None,
        start_method: str | None = None,
        monitor_dir: Path | None = None,
        render_mode: str | None = None,
        kernel: str = "auto",
    ):
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        if n_workers is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            n_workers = min(cores, n_envs) - 1
        if not 0 <= n_workers < n_envs:
            raise ValueError(f"n_workers must be in 0..n_envs-1 ({n_envs - 1}), got {n_workers}")
        self.n_workers = n_workers
        # Contiguous shares, as even as possible: share 0 is stepped here, share w in worker w.
        bounds = np.linspace(0, n_envs, n_workers + 2).round().astype(int).tolist()
        self._shares = list(zip(bounds[:-1], bounds[1:], strict=True))
        env_kwargs = dict(env_kwargs or {})
        self.vectorized = _choose_kernel(env_id, env_kwargs, kernel, min(b - a for a, b in self._shares))
        settings = (env_kwargs, action_range, monitor_dir, render_mode, self.vectorized)
        self._remotes: list[Any] = []
        self._processes: list[mp.Process] = []
        self._commands: list[Any] = []  # semaphores: a command for worker w is waiting
        self._replies: list[Any] = []  # semaphores: worker w's step results are in its mailbox
        self._memories: list[SharedMemory] = []
        self._boxes: list[dict[str, NDArray]] = []
        self.closed = False
        self._was_reset = False  # step_async before reset() raises ResetNeeded
        if n_workers:
            method = start_method or ("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
            context = mp.get_context(method)
            for start, stop in self._shares[1:]:
                remote, worker_remote = context.Pipe()
                command, reply = context.Semaphore(0), context.Semaphore(0)
                batch_args = (env_id, settings[0], range(start, stop), *settings[1:])
                process = context.Process(
                    target=_worker, args=(worker_remote, remote, command, reply, batch_args), daemon=True
                )
                process.start()
                worker_remote.close()
                self._remotes.append(remote)
                self._processes.append(process)
                self._commands.append(command)
                self._replies.append(reply)
        try:
            start, stop = self._shares[0]
            self._batch = _Batch(env_id, settings[0], range(start, stop), *settings[1:])
            try:
                self._receive_all()  # the workers' envs are ready
            except WorkerDied as died:
                if method != "fork" and getattr(sys.modules["__main__"], "__file__", None):
                    died.add_note(
                        f"A worker started by {method!r} imports your main script again: make the "
                        'BatchedVecEnv under `if __name__ == "__main__":` (Python\'s multiprocessing '
                        "docs, 'Safe importing of main module'), or pass n_workers=0 (one process)"
                    )
                raise
            for worker, (start, stop) in enumerate(self._shares[1:]):
                shape = (stop - start, *self._batch.mailbox_shape)
                memory = SharedMemory(create=True, size=_mailbox_bytes(*shape))
                self._memories.append(memory)
                self._boxes.append(_mailbox(memory.buf, *shape))
                self._command(worker, "attach", memory.name)
            self._receive_all()
        except BaseException:
            self._stop_workers()
            raise
        if self._memories:  # a script that ends (or fails) without close(): release them at exit
            atexit.register(_close_at_exit, weakref.ref(self))
        super().__init__(n_envs, self._batch.observation_space, self._batch.action_space)
        self.render_mode = render_mode
        self._actions: NDArray | None = None

    # -- VecEnv API -----------------------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        seeds, options = self._seeds, [opts or None for opts in self._options]
        for worker, (start, stop) in enumerate(self._shares[1:]):
            self._command(worker, "reset", (seeds[start:stop], options[start:stop]))
        start, stop = self._shares[0]
        parts = [self._batch.reset(seeds[start:stop], options[start:stop]), *self._receive_all()]
        self.reset_infos = [info for part in parts for info in part[1]]
        self._reset_seeds()
        self._reset_options()
        self._was_reset = True
        return self._batch.kernel.observations(np.concatenate([part[0] for part in parts]))

    def step_async(self, actions: NDArray) -> None:
        if not self._was_reset:  # as each env's own step() would, whichever kernel steps them
            raise gym.error.ResetNeeded("call reset() before step()")
        self._actions = actions = self._checked(actions)
        for box, command, (start, stop) in zip(self._boxes, self._commands, self._shares[1:], strict=True):
            box["actions"][:] = actions[start:stop]  # float32 survives the float64 round trip exactly
            box["control"][1] = actions.dtype == np.float32
            command.release()

    def step_wait(self) -> VecEnvStepReturn:
        start, stop = self._shares[0]
        parts = [self._batch.step(self._actions[start:stop])]  # while the workers step theirs
        parts += [self._step_results(worker) for worker in range(len(self._boxes))]
        if len(parts) == 1:
            vectors, rewards, dones, _ = parts[0]
        else:
            vectors, rewards, dones = (np.concatenate([part[k] for part in parts]) for k in range(3))
        rewards = rewards.astype(np.float32)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for (start, _), part in zip(self._shares, parts, strict=True):
            for i, info, terminal in part[3]:
                info["terminal_observation"] = self._batch.kernel.observations(terminal)
                infos[start + i] = info
        return self._batch.kernel.observations(vectors), rewards, dones, infos

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._batch.close()
        self._stop_workers()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._call("get_attr", attr_name, (), {}, indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._call("set_attr", attr_name, (value,), {}, indices)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        return self._call("env_method", method_name, method_args, method_kwargs, indices)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        # The batch does Monitor's bookkeeping itself (info["episode"]), so it counts as Monitor-wrapped.
        return [wrapper_class is Monitor for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[NDArray | None]:
        return self.env_method("render")

    # -- helpers -------------------------------------------------------------------------------------
    def _checked(self, actions: Any) -> NDArray:
        actions = np.asarray(actions)
        expected = (self.num_envs, *self.action_space.shape)
        if actions.shape != expected:
            raise ValueError(f"actions have shape {actions.shape}; expected {expected} (one row per env)")
        if actions.dtype.kind not in "fiub":
            raise ValueError(f"actions must be numeric, got dtype {actions.dtype}")
        if not np.isfinite(actions).all():
            bad = ~np.isfinite(actions)
            env, entry = np.argwhere(bad)[0]
            raise ValueError(
                f"the action of env {env} is NaN or inf at entry {entry} ({bad.sum()} such entries in all); "
                "no env was stepped"
            )
        return actions

    def _receive_all(self) -> list[Any]:
        return [self._receive(worker) for worker in range(len(self._remotes))]

    def _receive(self, worker: int) -> Any:
        """Worker ``worker``'s reply; its exception is re-raised here, with its traceback as a note."""
        try:
            status, payload = self._remotes[worker].recv()
        except EOFError:
            self._processes[worker].join(timeout=5)  # its exit code, once it has exited
            code = self._processes[worker].exitcode
            raise WorkerDied(f"BatchedVecEnv worker {worker + 1} died (exit code {code})") from None
        if status == "error":
            error, trace = payload
            error.add_note(f"raised in BatchedVecEnv worker {worker + 1}:\n{trace}")
            raise error
        return payload

    def _call(self, kind: str, name: str, args: tuple, kwargs: dict, indices: VecEnvIndices) -> list[Any]:
        wanted = list(self._get_indices(indices))
        results = {}
        for share, (start, stop) in enumerate(self._shares):
            local = [i - start for i in wanted if start <= i < stop]
            if not local:
                continue
            if share == 0:
                values = self._batch.call(kind, name, args, kwargs, local)
            else:
                self._command(share - 1, "call", (kind, name, args, kwargs, local))
                values = self._receive(share - 1)
            results.update(zip((start + i for i in local), values, strict=True))
        return [results[i] for i in wanted]

    def _command(self, worker: int, name: str, data: Any) -> None:
        """Send a command other than a step (its answer comes back on the pipe: ``_receive``)."""
        self._remotes[worker].send((name, data))
        self._commands[worker].release()

    def _step_results(self, worker: int) -> tuple[NDArray, NDArray, NDArray, list[_EndOfEpisode]]:
        """Worker ``worker``'s step: copied out of its mailbox, with the infos of episode ends."""
        try:
            _acquire(
                self._replies[worker], self._processes[worker].is_alive, f"BatchedVecEnv worker {worker + 1}"
            )
        except EOFError:
            self._processes[worker].join(timeout=5)  # its exit code, once it has exited
            code = self._processes[worker].exitcode
            raise WorkerDied(f"BatchedVecEnv worker {worker + 1} died (exit code {code})") from None
        box = self._boxes[worker]
        ends = int(box["control"][0])
        if ends < 0:
            self._receive(worker)  # raises the worker's error
        infos = self._remotes[worker].recv() if ends else []
        return box["vectors"].copy(), box["rewards"].copy(), box["dones"].astype(bool), infos

    def _stop_workers(self) -> None:
        for worker, process in enumerate(self._processes):
            try:
                if process.is_alive():
                    self._command(worker, "close", None)
                    self._remotes[worker].recv()
            except (BrokenPipeError, EOFError, OSError):
                pass
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        self._boxes.clear()  # (views of the shared memory must go before it closes)
        for memory in self._memories:
            memory.close()
            memory.unlink()
        self._memories.clear()


class FastVecNormalize(VecNormalize):
    """``VecNormalize`` with the same statistics, results and saved fields, faster on ``Dict``
    observations of vectors: it updates and applies the statistics of all normalized keys at once,
    side by side, where ``VecNormalize`` runs some 15 numpy calls and a ``deepcopy`` per key and
    step (about 1 ms per step for the arm's seven keys, as long as stepping 16 arm envs).

    The per-key ``obs_rms`` stay the statistics (``sync_envs_normalization`` and saved files see
    ``VecNormalize``'s fields); the arithmetic is the same, element by element, so the numbers are
    bit-identical (tests/test_vector.py). Other observations take ``VecNormalize``'s own path.
    """

    def _batched_keys(self, obs: Any) -> list[str] | None:
        """The normalized keys, if ``obs`` is a dict of vectors (one per env, or one)."""
        if not (self.norm_obs and isinstance(obs, dict) and isinstance(self.obs_rms, dict)):
            return None
        keys = list(self.norm_obs_keys)
        stats = [self.obs_rms[key] for key in keys]
        together = all(rms.mean.ndim == 1 and rms.count == stats[0].count for rms in stats)
        return keys if together else None  # (the keys' statistics were updated together)

    def _update_obs_rms(self, obs: Any) -> None:
        keys = self._batched_keys(obs)
        if keys is None:
            if isinstance(obs, dict) and isinstance(self.obs_rms, dict):
                for key in self.obs_rms:
                    self.obs_rms[key].update(obs[key])
            else:
                self.obs_rms.update(obs)
            return
        # RunningMeanStd.update over the keys side by side: the same operations per element
        stats = [self.obs_rms[key] for key in keys]
        combined = RunningMeanStd(shape=())
        combined.mean = np.concatenate([rms.mean for rms in stats])
        combined.var = np.concatenate([rms.var for rms in stats])
        combined.count = stats[0].count
        combined.update(np.concatenate([obs[key] for key in keys], axis=-1))
        start = 0
        for rms in stats:
            stop = start + rms.mean.size
            rms.mean, rms.var, rms.count = combined.mean[start:stop], combined.var[start:stop], combined.count
            start = stop

    def normalize_obs(self, obs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        keys = self._batched_keys(obs)
        if keys is None:
            return super().normalize_obs(obs)
        stats = [self.obs_rms[key] for key in keys]
        mean = np.concatenate([rms.mean for rms in stats])
        var = np.concatenate([rms.var for rms in stats])
        stacked = np.concatenate([obs[key] for key in keys], axis=-1)
        scaled = np.clip((stacked - mean) / np.sqrt(var + self.epsilon), -self.clip_obs, self.clip_obs)
        scaled = scaled.astype(np.float32)
        normalized, start = {}, 0
        for key, rms in zip(keys, stats, strict=True):
            normalized[key] = scaled[..., start : start + rms.mean.size]
            start += rms.mean.size
        return {key: normalized[key] if key in normalized else np.array(value) for key, value in obs.items()}

    def step_wait(self) -> VecEnvStepReturn:
        # VecNormalize.step_wait, with the statistics updated by _update_obs_rms
        obs, rewards, dones, infos = self.venv.step_wait()
        self.old_obs = obs
        self.old_reward = rewards
        if self.training and self.norm_obs:
            self._update_obs_rms(obs)
        obs = self.normalize_obs(obs)
        if self.training:
            self._update_reward(rewards)
        rewards = self.normalize_reward(rewards)
        for i in np.flatnonzero(dones):
            if "terminal_observation" in infos[i]:
                infos[i]["terminal_observation"] = self.normalize_obs(infos[i]["terminal_observation"])
        self.returns[dones] = 0
        return obs, rewards, dones, infos

    def reset(self) -> VecEnvObs:
        obs = self.venv.reset()
        self.old_obs = obs
        self.returns = np.zeros(self.num_envs)
        if self.training and self.norm_obs:
            self._update_obs_rms(obs)
        return self.normalize_obs(obs)
