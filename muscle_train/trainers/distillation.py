"""Distillation: a recurrent student imitates a trained teacher (behavioural cloning, then DAgger).

    muscle-train --teacher logs/MuscleArmReach-v0/ppo_0_20261121-131723           # sensory_rnn student
    muscle-train --teacher RUN_DIR --policy gru --hyperparams my_distill.yml

1. **Demonstrations.** The teacher (any training run: its model and its normalizer, recurrent or
   not) runs ``demo_episodes`` episodes. Each step's raw observation and the teacher's deterministic
   action are kept, episode by episode.
2. **Fit.** The student (a recurrent policy of policies/) learns the teacher's actions: MSE between its
   deterministic action and the teacher's, by truncated backpropagation through time (windows of
   ``seq_len`` steps; the state carries on through each whole episode).
3. **DAgger** (``dagger_rounds`` > 0). The student runs ``dagger_episodes`` episodes itself and the
   teacher labels every state the student visited (a recurrent teacher's state follows the
   student's trajectory). These join the data set, and the student is fitted again. Plain cloning
   fails where the student's own small errors take it to states the teacher never visited.

After each fit the student is evaluated (evaluations.csv, best_model.zip; the step axis counts the
env steps collected). At the end teacher and student are evaluated on the same ``compare_episodes``
episodes (the evaluation's default seed) and the ratios are written to distillation.json.

The student's observation normalizer copies the teacher's statistics for the entries both
normalize; entries only the student normalizes (a sensory teacher keeps the muscle entries raw)
get statistics from the demonstrations. It is frozen and saved as the run's vec_normalize.pkl. The
student itself is saved as a RecurrentPPO model, so evaluate.py loads the run like any other and
RecurrentPPO could fine-tune it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger, configure
from stable_baselines3.common.vec_env import VecEnv, VecNormalize
from tqdm import tqdm

from muscle_envs.observations import PRIVILEGED
from muscle_envs.vector import FastVecNormalize
from muscle_train import evaluation, rundir
from muscle_train.callbacks import Evaluation, SignalFlag
from muscle_train.config import RunConfig, RunError, Session, plain
from muscle_train.envs import (
    EVAL_SEED_OFFSET,
    VecFilterKeys,
    make_eval_env,
    make_run_vec_env,
    normalized_keys,
    qualified_id,
)
from muscle_train.rollouts import episode_record, episode_targets, summarize
from muscle_train.trainers.base import RunRequest, Trainer
from policies import POLICIES, actor_means, initial_state, policy_spec

REPORT_FILE = "distillation.json"
ROUND_SEED_OFFSET = 1_000  # round r collects with seed + r * this


@dataclass(frozen=True)
class Settings:
    """Distillation settings (the ``distill`` entries of hyperparams.yml).

    Attributes:
        demo_episodes: teacher episodes collected before the first fit.
        dagger_rounds: rounds of DAgger after the first fit (0: plain behavioural cloning).
        dagger_episodes: student episodes the teacher relabels in each round.
        epochs: passes over the whole data set per fit.
        seq_len: steps per window of truncated backpropagation through time.
        batch_size: episodes per minibatch.
        learning_rate: Adam's step size.
        max_grad_norm: gradient norm clipping.
        teacher_model: ``final`` or ``best``: which of the teacher run's models.
        compare_episodes: episodes of the final teacher/student comparison.
        policy_kwargs: the student's policy arguments (merged over the policy's own).
    """

    demo_episodes: int = 200
    dagger_rounds: int = 3
    dagger_episodes: int = 100
    epochs: int = 20
    seq_len: int = 50
    batch_size: int = 16
    learning_rate: float = 1e-3
    max_grad_norm: float = 1.0
    teacher_model: str = "final"
    compare_episodes: int = 100
    policy_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        counts = ("demo_episodes", "epochs", "seq_len", "batch_size", "compare_episodes")
        for name in counts:
            if getattr(self, name) < 1:
                raise RunError(f"distill: {name} must be >= 1, got {getattr(self, name)}")
        if self.dagger_rounds < 0 or (self.dagger_rounds and self.dagger_episodes < 1):
            raise RunError("distill: dagger_rounds must be >= 0 and dagger_episodes >= 1")
        if self.teacher_model not in ("final", "best"):
            raise RunError(f"distill: teacher_model must be final or best, got {self.teacher_model!r}")


@dataclass
class Episode:
    """One episode's observations (raw, as the env gave them; each (time, ...)) and the teacher's
    actions for them ((time, action_dim), in the policy's [-1, 1] range)."""

    observations: dict[str, np.ndarray]
    actions: np.ndarray

    def __len__(self) -> int:
        return len(self.actions)


class Controller:
    """A model acting on raw observations of a vector of envs through its own frozen normalizer
    (``None``: it reads them raw), carrying its recurrent state across steps; it sees only ``keys``
    of the observations if given (a student, not its teacher's privileged keys)."""

    def __init__(
        self, model: BaseAlgorithm, normalizer: VecNormalize | None, keys: tuple[str, ...] | None = None
    ):
        self.model = model
        self.normalizer = normalizer
        self.keys = keys
        self.state: Any = None

    def act(self, observations: dict[str, np.ndarray], starts: np.ndarray) -> np.ndarray:
        """Deterministic actions (n_envs, action_dim); ``starts`` marks envs at an episode's first step."""
        if self.keys is not None:
            observations = {key: observations[key] for key in self.keys}
        if self.normalizer is not None:
            observations = self.normalizer.normalize_obs(observations)
        actions, self.state = self.model.predict(
            observations, state=self.state, episode_start=starts, deterministic=True
        )
        return actions


def collect(
    venv: VecEnv,
    teacher: Controller,
    n_episodes: int,
    seed: int,
    actor: Controller | None = None,
    stop: SignalFlag | None = None,
    progress: bool = False,
) -> tuple[list[Episode], list[dict[str, Any]]]:
    """Run ``n_episodes`` on ``venv`` (raw observations, spread evenly over its envs) with ``actor``
    acting (default: the teacher) and the teacher labelling every step. When ``stop`` is
    requested, returns the episodes completed so far. ``progress``: a bar over episodes.

    Returns the labelled episodes and one record per episode of the actor's performance
    (:func:`~muscle_train.rollouts.episode_record`, as :func:`~muscle_train.rollouts.run_episodes` gives).
    """
    n = venv.num_envs
    targets = episode_targets(n_episodes, n)
    counts = np.zeros(n, dtype=int)
    returns, lengths = np.zeros(n), np.zeros(n, dtype=int)
    observations: list[list[dict[str, np.ndarray]]] = [[] for _ in range(n)]
    labels: list[list[np.ndarray]] = [[] for _ in range(n)]
    episodes: list[Episode] = []
    records: list[dict[str, Any]] = []
    teacher.state = None
    if actor is not None:
        actor.state = None
    venv.seed(seed)
    obs = venv.reset()
    starts = np.ones(n, dtype=bool)
    who = "teacher" if actor is None else "student"
    bar = tqdm(total=n_episodes, desc=f"{who} episodes", unit="ep", disable=not progress, leave=False)
    while (counts < targets).any() and not (stop is not None and stop.requested):
        taught = teacher.act(obs, starts)
        actions = taught if actor is None else actor.act(obs, starts)
        for i in np.flatnonzero(counts < targets):
            observations[i].append({key: value[i].copy() for key, value in obs.items()})  # buffers are reused
            labels[i].append(taught[i])
        obs, rewards, dones, infos = venv.step(actions)
        returns += rewards
        lengths += 1
        for i in np.flatnonzero(dones):
            if counts[i] < targets[i]:
                steps = observations[i]
                stacked = {key: np.stack([step[key] for step in steps]) for key in steps[0]}
                episodes.append(Episode(stacked, np.stack(labels[i]).astype(np.float32)))
                records.append(episode_record(returns[i], lengths[i], infos[i]))
                counts[i] += 1
                bar.update(1)
            observations[i], labels[i] = [], []
            returns[i], lengths[i] = 0.0, 0
        starts = dones
    bar.close()
    return episodes, records


class Dataset:
    """The aggregated episodes, their observations (``keys`` of them, if given) normalized for the
    student (float32)."""

    def __init__(self, normalizer: VecNormalize | None, keys: tuple[str, ...] | None = None):
        self.normalizer = normalizer
        self.keys = keys
        self.episodes: list[Episode] = []

    def add(self, episodes: list[Episode]) -> None:
        for episode in episodes:
            obs = episode.observations
            if self.keys is not None:
                obs = {key: obs[key] for key in self.keys}
            if self.normalizer is not None:
                obs = self.normalizer.normalize_obs(obs)
            obs = {key: np.asarray(value, dtype=np.float32) for key, value in obs.items()}
            self.episodes.append(Episode(obs, episode.actions))

    @property
    def steps(self) -> int:
        return sum(len(e) for e in self.episodes)

    def batch(self, indices: np.ndarray) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Episodes ``indices`` padded to the longest: observations (time, batch, ...), actions
        (time, batch, action_dim) and the mask of real steps (time, batch)."""
        chosen = [self.episodes[i] for i in indices]
        length = max(len(e) for e in chosen)
        mask = np.zeros((length, len(chosen)), dtype=np.float32)
        actions = np.zeros((length, len(chosen), chosen[0].actions.shape[1]), dtype=np.float32)
        obs = {
            key: np.zeros((length, len(chosen), *value.shape[1:]), dtype=np.float32)
            for key, value in chosen[0].observations.items()
        }
        for j, episode in enumerate(chosen):
            t = len(episode)
            mask[:t, j] = 1.0
            actions[:t, j] = episode.actions
            for key, value in episode.observations.items():
                obs[key][:t, j] = value
        as_tensor = torch.from_numpy
        return {key: as_tensor(value) for key, value in obs.items()}, as_tensor(actions), as_tensor(mask)


def sequence_loss(
    policy: Any,
    obs: dict[str, torch.Tensor],
    actions: torch.Tensor,
    mask: torch.Tensor,
    seq_len: int,
    optimizer: torch.optim.Optimizer | None = None,
    max_grad_norm: float = math.inf,
) -> float:
    """Mean squared error between the policy's deterministic actions and ``actions`` over the real
    steps of one padded batch, window by window of ``seq_len`` steps (the state carries over,
    detached). With an ``optimizer``, one gradient step per window."""
    state = initial_state(policy, mask.shape[1])
    total, weight = 0.0, 0.0
    for start in range(0, mask.shape[0], seq_len):
        window = slice(start, start + seq_len)
        means, state = actor_means(policy, {k: v[window] for k, v in obs.items()}, state)  # (T, B, A)
        state = (state[0].detach(), state[1].detach())
        steps = mask[window].sum()
        error = ((means - actions[window]) ** 2).mean(dim=-1)  # (T, B)
        loss = (error * mask[window]).sum() / steps
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
            optimizer.step()
        total += loss.item() * steps.item()
        weight += steps.item()
    return total / weight


def fit(
    policy: Any,
    dataset: Dataset,
    settings: Settings,
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    stop: SignalFlag | None = None,
    progress: bool = True,
    description: str = "fit",
) -> list[float]:
    """``settings.epochs`` passes over ``dataset`` in shuffled minibatches of episodes. Returns each
    epoch's mean training loss. Stops early (between minibatches) when ``stop`` is requested."""
    losses = []
    bar = tqdm(range(settings.epochs), desc=description, unit="epoch", disable=not progress, leave=False)
    for _ in bar:
        order = rng.permutation(len(dataset.episodes))
        total, steps = 0.0, 0
        for first in range(0, len(order), settings.batch_size):
            obs, actions, mask = dataset.batch(order[first : first + settings.batch_size])
            loss = sequence_loss(
                policy, obs, actions, mask, settings.seq_len, optimizer, settings.max_grad_norm
            )
            total += loss * mask.sum().item()
            steps += int(mask.sum().item())
            if stop is not None and stop.requested:
                break
        losses.append(total / steps)
        bar.set_postfix(loss=f"{losses[-1]:.4g}")
        if stop is not None and stop.requested:
            break
    return losses


def student_normalizer(
    venv: VecEnv, teacher_normalizer: VecNormalize | None, raw_keys: tuple[str, ...], demos: list[Episode]
) -> FastVecNormalize:
    """A frozen normalizer for the student around ``venv``: it normalizes every entry the student
    does not need raw (``envs.normalized_keys``). Statistics: the teacher's where it has them, else
    the demonstrations'."""
    keys = normalized_keys(venv.observation_space, raw_keys) or []
    gamma = teacher_normalizer.gamma if teacher_normalizer is not None else 0.99
    normalizer = FastVecNormalize(venv, norm_obs_keys=keys, training=False, norm_reward=False, gamma=gamma)
    taught = (
        teacher_normalizer.obs_rms if teacher_normalizer is not None and teacher_normalizer.norm_obs else {}
    )
    for key in keys:
        if key in taught:
            normalizer.obs_rms[key] = taught[key].copy()
        else:
            normalizer.obs_rms[key].update(np.concatenate([e.observations[key] for e in demos]))
    if teacher_normalizer is not None:
        normalizer.clip_obs, normalizer.epsilon = teacher_normalizer.clip_obs, teacher_normalizer.epsilon
    return normalizer


def load_teacher(config: RunConfig, settings: Settings, venv: VecEnv, trust: bool = False) -> Controller:
    """The teacher run's model and its normalizer (frozen), acting on ``venv``'s raw observations
    (those of its keys the teacher was trained on)."""
    assert config.teacher is not None  # DistillationTrainer.adapt
    teacher_dir = Path(config.teacher)
    teacher_config = rundir.load_config(teacher_dir)
    keys = teacher_config.observation_keys
    view = venv if keys is None else VecFilterKeys(venv, keys)
    model_path, normalizer_path = rundir.run_files(teacher_dir, settings.teacher_model, teacher_config)
    normalizer = rundir.load_normalizer(normalizer_path, view, trust=trust) if normalizer_path else None
    model = rundir.load_model(model_path, view if normalizer is None else normalizer, teacher_config, trust)
    return Controller(model, normalizer, keys)


def distil(config: RunConfig, run_dir: Path, session: Session) -> dict[str, Any] | None:
    """Distil the teacher of ``config`` into a student in ``run_dir``; returns the student's final
    evaluation."""
    assert config.n_envs is not None and config.vec_env is not None  # hyperparams.yml's distill entry
    settings = Settings(**config.hyperparams)
    spec = policy_spec(config.policy, **settings.policy_kwargs)
    seed = config.seed
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    progress = session.progress
    logger: Logger = configure(str(run_dir / rundir.TENSORBOARD_DIR / "distill"), ["tensorboard"])

    keys = config.observation_keys  # the student's (the teacher sees every key of venv)
    venv = make_run_vec_env(config.replace(observation_keys=None), config.n_envs, config.vec_env)
    student_view = venv if keys is None else VecFilterKeys(venv, keys)
    eval_env = make_eval_env(config)
    flag = SignalFlag()
    try:
        teacher = load_teacher(config, settings, venv, session.trust)
        print(f"collecting {settings.demo_episodes} teacher episodes", flush=True)
        with flag:
            demos, teacher_records = collect(
                venv, teacher, settings.demo_episodes, seed, stop=flag, progress=progress
            )
        if flag.requested:
            print("interrupted while collecting the demonstrations; no student was trained")
            raise flag.interrupted()
        normalizer = student_normalizer(student_view, teacher.normalizer, spec.raw_observation_keys, demos)
        eval_env = VecNormalize(
            eval_env, training=False, norm_reward=False, norm_obs_keys=normalizer.norm_obs_keys
        )
        model = RecurrentPPO(
            spec.policy,
            normalizer,
            policy_kwargs=spec.kwargs_for(normalizer),
            seed=seed,
            device=session.device,
        )
        policy = model.policy
        optimizer = torch.optim.Adam(policy.parameters(), lr=settings.learning_rate)
        evaluator = Evaluation(
            eval_env, run_dir, config.n_eval_episodes, seed + EVAL_SEED_OFFSET, session.evaluation_hooks
        )
        dataset = Dataset(normalizer, keys)
        dataset.add(demos)
        collected = sum(len(e) for e in demos)
        teacher_summary = summarize(teacher_records)
        logger.record("distill/teacher_success_rate", teacher_summary["success_rate"])
        rounds = []
        with flag:
            for round_ in range(settings.dagger_rounds + 1):
                if round_ > 0:
                    student = Controller(model, normalizer, keys)
                    visited, records = collect(
                        venv,
                        teacher,
                        settings.dagger_episodes,
                        seed + round_ * ROUND_SEED_OFFSET,
                        student,
                        flag,
                        progress,
                    )
                    dataset.add(visited)
                    collected += sum(len(e) for e in visited)
                    if flag.requested:
                        break
                    on_policy = summarize(records)
                    logger.record("distill/dagger_success_rate", on_policy["success_rate"])
                policy.set_training_mode(True)
                losses = fit(policy, dataset, settings, optimizer, rng, flag, progress, f"round {round_}")
                policy.set_training_mode(False)
                summary = evaluator(model, normalizer, collected, logger)
                logger.record("distill/loss", losses[-1])
                logger.record("distill/round", round_)
                logger.record("distill/dataset_steps", dataset.steps)
                logger.dump(collected)
                rounds.append(
                    {"round": round_, "dataset_steps": dataset.steps, "loss": losses[-1], **summary}
                )
                print(
                    f"round {round_}: {len(dataset.episodes)} episodes ({dataset.steps:,} steps), "
                    f"loss {losses[-1]:.4g}, student success {summary['success_rate']:.0%} "
                    f"(teacher {teacher_summary['success_rate']:.0%} on its demonstrations)",
                    flush=True,
                )
                rundir.save_model_and_normalizer(
                    model, normalizer, run_dir / rundir.MODEL_FILE, run_dir / rundir.NORMALIZER_FILE
                )
                if flag.requested:
                    break
    finally:
        venv.close()
        eval_env.close()
    if flag.requested:
        saved = f"the student of round {len(rounds) - 1} is saved" if rounds else "no student was saved"
        print(f"interrupted during round {len(rounds)}; {saved}")
        raise flag.interrupted()
    report = compare(config, run_dir, settings, rounds, session.trust)
    rundir.atomic_write_text(run_dir / REPORT_FILE, json.dumps(plain(report), indent=2))
    print_report(report)
    return report["student"]


def compare(
    config: RunConfig, run_dir: Path, settings: Settings, rounds: list[dict[str, Any]], trust: bool = False
) -> dict[str, Any]:
    """Teacher and student evaluated as ``evaluate.py RUN_DIR`` does, on the same episodes; their
    ratios."""
    assert config.teacher is not None  # DistillationTrainer.adapt
    results = {}
    for role, path, which in (
        ("teacher", Path(config.teacher), settings.teacher_model),
        ("student", run_dir, "final"),
    ):
        source = evaluation.run_source(path, which, trust=trust and role == "teacher")
        results[role] = evaluation.evaluate(source, settings.compare_episodes)
    teacher, student = results["teacher"], results["student"]
    return {
        "teacher_run": config.teacher,
        "settings": asdict(settings),
        "rounds": rounds,
        "teacher": teacher,
        "student": student,
        "success_ratio": ratio(student["success_rate"], teacher["success_rate"]),
        "reward_ratio": ratio(student["mean_reward"], teacher["mean_reward"]),
    }


def ratio(student: float, teacher: float) -> float | None:
    """student / teacher; None when the teacher's figure is not positive (no meaningful ratio)."""
    return student / teacher if teacher > 0 else None


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    n = report["student"]["n_episodes"]
    table = Table(title=f"student vs teacher, {n} evaluation episodes each (the same ones)")
    for column in ("", "teacher", "student", "student / teacher"):
        table.add_column(column, justify="right")
    for name, key, ratio_key in (
        ("success rate", "success_rate", "success_ratio"),
        ("return", "mean_reward", "reward_ratio"),
    ):
        value = report[ratio_key]
        table.add_row(
            name,
            f"{report['teacher'][key]:.3g}",
            f"{report['student'][key]:.3g}",
            "n/a" if value is None else f"{value:.3f}",
        )
    Console().print(table)


def student_keys(teacher: RunConfig) -> tuple[str, ...] | None:
    """The observation keys a student of ``teacher`` sees: the teacher's, without the privileged ones
    (``muscle_envs.observations.PRIVILEGED``: what tells a teacher the answer); None: all of them."""
    if teacher.observation_keys is not None:
        keys = teacher.observation_keys
    else:
        env = gym.make(qualified_id(teacher.env), **teacher.env_kwargs)
        space = env.observation_space
        env.close()
        if not isinstance(space, gym.spaces.Dict):
            return None
        keys = tuple(space.spaces)
    kept = tuple(key for key in keys if key not in PRIVILEGED)
    return None if kept == keys and teacher.observation_keys is None else kept


class DistillationTrainer(Trainer):
    """``--algo distill``: a recurrent student imitates a teacher run (:func:`distil`)."""

    algos = ("distill",)
    # the student's policy, the envs that collect episodes, and the periodic evaluation's size
    run_settings = ("policy", "n_envs", "vec_env", "n_eval_episodes")
    resumable = False  # a run keeps no state to continue from: start a new one
    takes_teacher = True

    def arguments(self, algo: str) -> list[str]:
        return [f.name for f in dataclasses.fields(Settings)]

    def adapt(self, request: RunRequest) -> tuple[RunRequest, dict[str, Any]]:
        """The student learns on its teacher's env, from normalized observations (its own frozen
        normalizer, see :func:`student_normalizer`)."""
        if request.teacher is None:
            raise RunError("distill needs a teacher run (--teacher RUN_DIR)")
        teacher = rundir.load_config(request.teacher)
        if (request.env and request.env != teacher.env) or request.env_kwargs:
            raise RunError(
                f"the student learns on its teacher's env ({teacher.env} with {teacher.env_kwargs}); "
                "drop --env and --env_kwargs"
            )
        request = request.replace(env=teacher.env, env_kwargs=dict(teacher.env_kwargs))
        return request, {
            "teacher": str(request.teacher),
            "normalize": {"norm_obs": True, "norm_reward": False},
            "observation_keys": student_keys(teacher),
        }

    def check_policy(self, algo: str, policy: str) -> None:
        if not POLICIES[policy].recurrent:
            students = sorted(n for n, spec in POLICIES.items() if spec.recurrent)
            raise RunError(f"a distillation student is recurrent: one of {students}, not {policy!r}")

    def check(self, config: RunConfig) -> None:
        Settings(**config.hyperparams)  # a bad value is reported in one line, before any work

    def train(
        self, config: RunConfig, run_dir: Path, session: Session, wandb_run: Any
    ) -> dict[str, Any] | None:
        return distil(config, run_dir, session)


TRAINER = DistillationTrainer()
