"""Training callbacks: evaluation, checkpoints, episode metrics, the progress bar, and the signal flag
that lets every trainer stop at a safe point on Ctrl-C or SIGTERM.

Metric names are grouped as TensorBoard and W&B show them: ``rollout/`` (SB3's own), ``reward/<term>``
and ``task/<metric>`` (training episodes, from :class:`muscle_train.envs.EpisodeMetrics`), ``eval/`` (the
periodic evaluation), ``time/``.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization, unwrap_vec_normalize
from tqdm import tqdm

from muscle_train import rundir
from muscle_train.config import EvaluationHook, Interrupted
from muscle_train.rollouts import run_episodes, summarize


class SignalFlag:
    """Ctrl-C and SIGTERM set ``requested`` (while installed) instead of interrupting, so that a
    training loop can stop at its next safe point, save and close its workers. A second Ctrl-C
    interrupts at once (``KeyboardInterrupt``)."""

    def __init__(self):
        self.requested = False
        self.signum: int | None = None  # the signal that asked (SIGINT or SIGTERM)
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._request)

    def _request(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum

    def interrupted(self) -> Interrupted:
        """The exception a trainer raises, once it has saved, when a signal stopped it."""
        return Interrupted(self.signum or signal.SIGINT)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __enter__(self) -> SignalFlag:
        self.install()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.restore()


class StopOnSignal(BaseCallback):
    """Ends training at the next env step after Ctrl-C or SIGTERM (a :class:`SignalFlag`), so that
    nothing is cut off mid-step (a vectorized env waiting for its workers' replies) and the run can
    be saved and closed normally."""

    def __init__(self):
        super().__init__()
        self.flag = SignalFlag()

    @property
    def requested(self) -> bool:
        return self.flag.requested

    def _on_training_start(self) -> None:
        self.flag.install()

    def _on_step(self) -> bool:
        return not self.flag.requested

    def _on_training_end(self) -> None:
        self.flag.restore()


class EpisodeMetricsCallback(BaseCallback):
    """Logs each finished training episode's metrics (``reward/<term>``, ``task/<metric>``), averaged
    over the episodes between two log dumps."""

    def _on_step(self) -> bool:
        dones = self.locals["dones"]
        if dones.any():
            infos = self.locals["infos"]
            for i in np.flatnonzero(dones):
                for key, value in infos[i].get("episode_metrics", {}).items():
                    if not math.isnan(value):  # e.g. the reach time of an episode that never reached
                        self.logger.record_mean(key, value)
        return True


class StepSchedule(BaseCallback):
    """A training setting that follows the step counter: set when training starts and before each
    rollout (:meth:`_set`), so a resumed run picks it up where it was."""

    def _on_training_start(self) -> None:
        self._set()

    def _on_rollout_start(self) -> None:
        self._set()

    def _on_step(self) -> bool:
        return True

    def _set(self) -> None:
        raise NotImplementedError


class ActionStdSchedule(StepSchedule):
    """PPO's exploration noise on a schedule instead of learnt: the Gaussian policy's ``log_std``
    stops training and moves linearly from the policy's ``log_std_init`` to ``log(final)`` at
    ``total_timesteps`` (set before each rollout, and at the end), so that a small final std leaves
    the action mean, what a deterministic evaluation runs, close to the policy that was trained.
    Follows the step counter, so a resumed run continues the schedule."""

    def __init__(self, final: float, total_timesteps: int):
        super().__init__()
        self.final, self.total_timesteps = final, total_timesteps

    def _on_training_start(self) -> None:
        self.model.policy.log_std.requires_grad_(False)  # (Adam skips a parameter without a gradient)
        super()._on_training_start()

    def _on_training_end(self) -> None:
        self._set()

    def _set(self) -> None:
        start = float(self.model.policy.log_std_init)
        fraction = min(1.0, self.model.num_timesteps / self.total_timesteps)
        with torch.no_grad():
            self.model.policy.log_std.fill_(start + (math.log(self.final) - start) * fraction)


class FreezeNormalizer(StepSchedule):
    """VecNormalize's statistics (observations and returns) update until ``fraction`` of
    ``total_timesteps``, then stay as they are for the rest of training: checked before each rollout,
    so they freeze at the first rollout that starts there. Follows the step counter, so a resumed
    run past that point stays frozen."""

    def __init__(self, fraction: float, total_timesteps: int):
        super().__init__()
        self.until = fraction * total_timesteps

    def _set(self) -> None:
        normalizer = unwrap_vec_normalize(self.training_env)
        if normalizer is not None and self.model.num_timesteps >= self.until:
            normalizer.training = False


class PushRamp(StepSchedule):
    """The training envs' pelvis pushes on a ramp (the run setting ``push_ramp``): off until
    ``start`` x ``total_timesteps``, then growing linearly to the env's full ``push_force`` at ``end``
    x ``total_timesteps`` (each env's ``set_push_scale``, before each rollout), full after that. The
    scale the first env holds is logged as ``train/push_scale``. Follows the step counter, so a
    resumed run continues the ramp."""

    def __init__(self, start: float, end: float, total_timesteps: int):
        super().__init__()
        self.start, self.end = start * total_timesteps, end * total_timesteps

    def scale(self, num_timesteps: int) -> float:
        """The fraction of ``push_force`` the pushes apply after ``num_timesteps`` steps."""
        if num_timesteps >= self.end:
            return 1.0
        if num_timesteps <= self.start:
            return 0.0
        return (num_timesteps - self.start) / (self.end - self.start)

    def _set(self) -> None:
        self.training_env.env_method("set_push_scale", self.scale(self.model.num_timesteps))
        self.logger.record("train/push_scale", self.training_env.get_attr("push_scale", indices=0)[0])


class Evaluation:
    """A run's evaluations: ``n_episodes`` on ``eval_env`` (re-seeded with ``seed`` each time, so the
    curve shows the policy improving, not the luck of the draw), logged as ``eval/...``, appended to
    evaluations.csv, and the best model so far (highest success rate, then mean return) kept as
    best_model.zip with its normalizer. Used by PPO-style training (:class:`EvalCallback`),
    distillation and CMA-ES alike.

    A resumed run continues its curve: wall time goes on from the last row and the best model so
    far stays the best until a better one comes. ``hooks`` are called with (step, summary) after
    each evaluation is recorded (MLflow, an Optuna trial's pruner).
    """

    def __init__(
        self,
        eval_env: VecEnv,
        run_dir: Path,
        n_episodes: int,
        seed: int,
        hooks: tuple[EvaluationHook, ...] = (),
    ):
        self.eval_env = eval_env
        self.run_dir = run_dir
        self.n_episodes = n_episodes
        self.seed = seed
        self.hooks = hooks
        rows = rundir.read_csv(run_dir / rundir.EVALUATIONS_FILE)
        self._start = time.monotonic() - (float(rows[-1]["wall_time_s"]) if rows else 0.0)
        scores = [(float(row["success_rate"]), float(row["mean_reward"])) for row in rows]
        self.best: tuple[float, float] | None = max(scores) if scores else None
        self.last: dict[str, Any] | None = None

    @property
    def wall_time(self) -> float:
        """Seconds of training, across resumes."""
        return time.monotonic() - self._start

    def __call__(self, model: Any, train_env: VecEnv, step: int, logger: Any) -> dict[str, Any]:
        """Evaluate ``model`` with ``train_env``'s normalization statistics at ``step``; logs to
        ``logger`` (an SB3 logger) without dumping it."""
        sync_envs_normalization(train_env, self.eval_env)
        self.eval_env.seed(self.seed)
        summary = summarize(run_episodes(model, self.eval_env, self.n_episodes))
        self.last = summary
        for key, value in summary.items():
            if key != "n_episodes" and value is not None:
                name = key.replace("episode_length", "ep_length")  # SB3's names: eval/mean_ep_length
                logger.record(f"eval/{name}", value)
        row = {"step": step, "wall_time_s": round(self.wall_time, 2), **summary}
        rundir.append_csv(self.run_dir / rundir.EVALUATIONS_FILE, row)
        score = (summary["success_rate"], summary["mean_reward"])
        if self.best is None or score > self.best:
            self.best = score
            rundir.save_model_and_normalizer(
                model,
                train_env,
                self.run_dir / rundir.BEST_MODEL_FILE,
                self.run_dir / rundir.BEST_NORMALIZER_FILE,
            )
        for hook in self.hooks:
            hook(step, summary)
        return summary


class EvalCallback(BaseCallback):
    """Every ``eval_freq`` env steps (and once at the end), an :class:`Evaluation` of the model with
    the training env's normalization statistics (``hooks``: :class:`Evaluation`'s). ``video``
    (optional) is called as ``video(model, step)`` after an evaluation every ``video_every``
    evaluations and at the end.
    """

    def __init__(
        self,
        eval_env: VecEnv,
        run_dir: Path,
        eval_freq: int,
        n_episodes: int,
        seed: int,
        video: Callable[[Any, int], None] | None = None,
        video_every: int = 5,
        hooks: tuple[EvaluationHook, ...] = (),
    ):
        super().__init__()
        self.evaluation = Evaluation(eval_env, run_dir, n_episodes, seed, hooks)
        self.eval_freq = eval_freq
        self.video = video
        self.video_every = video_every
        self._evaluations = 0
        self._next = 0
        self._last_step = -1

    @property
    def best(self) -> tuple[float, float] | None:
        return self.evaluation.best

    @property
    def last(self) -> dict[str, Any] | None:
        return self.evaluation.last

    def _init_callback(self) -> None:
        steps = self.model.num_timesteps  # a resumed run starts where it stopped
        self._next = (steps // self.eval_freq + 1) * self.eval_freq if self.eval_freq else math.inf
        self._last_step = steps

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.eval_freq
            self.evaluate()
        return True

    def _on_training_end(self) -> None:
        if self.num_timesteps != self._last_step:
            self.evaluate(final=True)

    def evaluate(self, final: bool = False) -> dict[str, Any]:
        summary = self.evaluation(self.model, self.training_env, self.num_timesteps, self.logger)
        self._evaluations += 1
        self._last_step = self.num_timesteps
        if self.video is not None and (final or self._evaluations % self.video_every == 0):
            self.video(self.model, self.num_timesteps)
        self.logger.dump(self.num_timesteps)
        return summary


class CheckpointCallback(BaseCallback):
    """Every ``freq`` env steps, ``checkpoints/step_<N>/`` with the model and its normalizer, written
    atomically; the latest ``keep`` stay."""

    def __init__(self, run_dir: Path, freq: int, keep: int):
        super().__init__()
        self.run_dir = run_dir
        self.freq = freq
        self.keep = keep
        self._next = math.inf

    def _init_callback(self) -> None:
        self._next = (self.model.num_timesteps // self.freq + 1) * self.freq if self.freq else math.inf

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.freq
            rundir.save_checkpoint(self.model, self.training_env, self.run_dir, self.keep)
        return True


class ProgressBarCallback(BaseCallback):
    """A tqdm bar over env steps with the rate (steps/s), ETA and the latest evaluation's success
    rate. Starts from the model's step counter, so a resumed run shows its real progress."""

    def __init__(self, total_timesteps: int, evaluation: EvalCallback | None = None):
        super().__init__()
        self.total = total_timesteps
        self.evaluation = evaluation
        self.bar: tqdm | None = None
        self._shown_eval: dict[str, Any] | None = None

    def _on_training_start(self) -> None:
        self.bar = tqdm(
            total=self.total,
            initial=self.num_timesteps,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            smoothing=0.05,
            mininterval=0.5,
        )

    def _on_step(self) -> bool:
        assert self.bar is not None
        self.bar.update(self.num_timesteps - self.bar.n)
        last = self.evaluation.last if self.evaluation is not None else None
        if last is not None and last is not self._shown_eval:
            self._shown_eval = last
            self.bar.set_postfix(
                eval_success=f"{last['success_rate']:.0%}", eval_return=f"{last['mean_reward']:.1f}"
            )
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.update(self.num_timesteps - self.bar.n)
            self.bar.close()
