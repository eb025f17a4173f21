"""CMA-ES: gradient-free search over a controller's weights (seed 000), with the ``cma`` package.

    muscle-train --algo cmaes                              # sensory_rnn, 32 ReLU units
    muscle-train --algo cmaes --policy rnn --hyperparams my_cmaes.yml
    muscle-train --resume logs/MuscleArmReach-v0/cmaes_0_20261121-150000

The search covers the parameters the policy's deterministic action depends on (the actor: its
features, core, reflexes and action head; not the critic nor the action noise). It starts from the
policy's own initialization. Each generation, ``cma`` proposes ``popsize`` weight vectors; worker
processes (``n_workers``, default one per core) run each for ``fitness_episodes`` episodes with
deterministic actions. The fitness is the mean episode return. Each generation draws new episodes
(``fresh_episodes``), the same for every candidate of that generation (common random numbers: the
ranking compares candidates on equal terms), so the search cannot fit a few targets by heart; with
``fresh_episodes: false`` every generation reuses one fixed set (seed 000's protocol, which over-fits:
bench/RESULTS.md).

Every ``eval_every`` generations, the distribution's mean (cma's favourite solution) is evaluated
on held-out episodes (evaluations.csv, best_model.zip, ``eval/`` in TensorBoard and W&B), and every
``checkpoint_every`` generations the search state is saved (cmaes_state.pkl: cma's object with its
random generator) together with final_model.zip (the mean). A resumed search is the search an
uninterrupted run would have made (tested). Ctrl-C or SIGTERM stop after the
current generation and save; ``--resume RUN_DIR`` continues the same search. The model files are
ordinary SB3 models (RecurrentPPO's, or PPO's for a feed-forward policy) without a normalizer:
the evaluation loads them like any other run.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import pickle
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import cma
import numpy as np
import torch
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger, configure
from stable_baselines3.common.vec_env import VecEnv
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters
from tqdm import tqdm

from muscle_envs.vector import BatchedVecEnv
from muscle_train import rundir
from muscle_train.callbacks import Evaluation, SignalFlag
from muscle_train.config import RunConfig, RunError, Session
from muscle_train.envs import EVAL_SEED_OFFSET, make_eval_env, make_run_vec_env
from muscle_train.rollouts import run_episodes
from muscle_train.trainers.base import RunRequest, Trainer
from policies import PolicySpec, actor_means, initial_state, policy_spec

STATE_FILE = "cmaes_state.pkl"
FITNESS_SEED_OFFSET = 1_000_000  # fresh fitness episodes are seeded from the run's seed + this


@dataclass(frozen=True)
class Settings:
    """CMA-ES settings (the ``cmaes`` entries of hyperparams.yml).

    Attributes:
        generations: generations to run.
        popsize: candidates per generation (None: cma's default, 4 + 3 ln(number of weights)).
        sigma0: initial step size, in the units of the weights.
        fitness_episodes: episodes per candidate, the same for every candidate of a generation.
        fresh_episodes: new episodes each generation (else one fixed set throughout).
        diagonal: a diagonal covariance (sep-CMA-ES): linear rather than quadratic cost in the number
            of weights, for controllers beyond a few thousand weights.
        min_std: a floor under the search's step in every weight (cma's ``minstd``; 0: none), so a
            noisy ranking cannot contract the search to a point before it finds what it looks for.
        n_workers: processes evaluating the population (None: one per CPU core).
        eval_every: evaluate the distribution's mean every this many generations (and at the end).
        checkpoint_every: save the search state and the mean's model every this many generations.
        policy_kwargs: the controller's policy arguments (merged over the policy's own).
    """

    generations: int = 300
    popsize: int | None = None
    sigma0: float = 0.1
    fitness_episodes: int = 8
    fresh_episodes: bool = True
    diagonal: bool = False
    min_std: float = 0.0
    n_workers: int | None = None
    eval_every: int = 10
    checkpoint_every: int = 10
    policy_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("generations", "fitness_episodes", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise RunError(f"cmaes: {name} must be >= 1, got {getattr(self, name)}")
        if self.popsize is not None and self.popsize < 2:
            raise RunError(f"cmaes: popsize must be >= 2, got {self.popsize}")
        if self.sigma0 <= 0:
            raise RunError(f"cmaes: sigma0 must be > 0, got {self.sigma0}")
        if not 0 <= self.min_std < self.sigma0:
            raise RunError(
                f"cmaes: min_std must be >= 0 and below sigma0 ({self.sigma0}), got {self.min_std}"
            )
        if self.n_workers is not None and self.n_workers < 1:
            raise RunError(f"cmaes: n_workers must be >= 1, got {self.n_workers}")


def build_model(config: RunConfig, spec: PolicySpec, venv: VecEnv, device: str = "cpu") -> BaseAlgorithm:
    """The controller as an SB3 model (its algorithm's defaults; only the policy matters), initialized
    from the run's seed: the same weights in every process."""
    return spec.algorithm(
        spec.policy, venv, policy_kwargs=spec.kwargs_for(venv), seed=config.seed, device=device
    )


def actor_parameters(policy: Any) -> list[nn.Parameter]:
    """The parameters the deterministic action depends on, in ``policy.parameters()`` order: those
    that receive a gradient from the action mean of a sample observation."""
    tensors, _ = policy.obs_to_tensor(policy.observation_space.sample())
    policy.zero_grad(set_to_none=True)
    if isinstance(policy, RecurrentActorCriticPolicy):
        sequence = {k: v[None] for k, v in tensors.items()} if isinstance(tensors, dict) else tensors[None]
        means, _ = actor_means(policy, sequence, initial_state(policy, 1))  # (1, 1, action_dim)
    else:
        means = policy.get_distribution(tensors).mode()  # (1, action_dim)
    means.sum().backward()
    params = [p for p in policy.parameters() if p.grad is not None]
    policy.zero_grad(set_to_none=True)
    return params


# -- the workers -------------------------------------------------------------------------------------
class DeterministicActor:
    """``model.predict(..., deterministic=True)`` for the rollouts of a search: the same actions
    (:func:`policies.actor_means`, clipped to the action space; tested), without SB3's per-call
    conversions and checks, which cost as much as a small controller itself."""

    def __init__(self, policy: Any):
        self.policy = policy
        self.recurrent = isinstance(policy, RecurrentActorCriticPolicy)
        space = policy.action_space
        self.low, self.high = torch.as_tensor(space.low), torch.as_tensor(space.high)

    @torch.no_grad()
    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True
    ):
        tensors = (
            {key: torch.as_tensor(value) for key, value in observation.items()}
            if isinstance(observation, dict)
            else torch.as_tensor(observation)
        )
        if not self.recurrent:
            actions = self.policy.get_distribution(tensors).mode()  # (n_envs, action_dim)
        else:
            n = len(episode_start)
            if state is None:
                state = initial_state(self.policy, n)
            keep = torch.as_tensor(1.0 - episode_start, dtype=torch.float32).view(1, n, 1)
            state = (state[0] * keep, state[1] * keep)  # a fresh state where an episode starts
            sequence = (
                {k: v[None] for k, v in tensors.items()} if isinstance(tensors, dict) else tensors[None]
            )
            means, state = actor_means(self.policy, sequence, state)  # (1, n_envs, action_dim)
            actions = means[0]
        return torch.clamp(actions, self.low, self.high).numpy(), state


def set_weights(params: list[nn.Parameter], x: np.ndarray) -> None:
    """Load the flat weight vector ``x`` (a candidate) into ``params``."""
    with torch.no_grad():
        vector_to_parameters(torch.as_tensor(x, dtype=torch.float32), params)


class Fitness(NamedTuple):
    """A candidate's result over the fixed episodes."""

    mean_return: float
    success_rate: float
    env_steps: int
    error: str  # why the candidate failed ("" if it did not)


@dataclass
class FitnessWorker:
    """What evaluating a candidate needs: ``fitness_episodes`` envs stepped as one batch in this
    process (the same episodes, from the run's seed on, as a DummyVecEnv of those envs would give),
    the model, an actor that runs it, and the searched parameters.

    Each worker process of the search holds one (:func:`start_worker`); :func:`fitness` uses it.
    """

    venv: VecEnv
    model: BaseAlgorithm
    actor: DeterministicActor
    params: list[nn.Parameter]

    @classmethod
    def create(cls, config: RunConfig) -> FitnessWorker:
        settings = Settings(**config.hyperparams)
        spec = policy_spec(config.policy, **settings.policy_kwargs)
        venv = BatchedVecEnv(
            config.env, settings.fitness_episodes, config.env_kwargs, config.action_range, n_threads=1
        )
        model = build_model(config, spec, venv)
        return cls(venv, model, DeterministicActor(model.policy), actor_parameters(model.policy))

    def fitness(self, candidate: np.ndarray, seed: int) -> Fitness:
        """The :class:`Fitness` of the weights ``candidate`` over the episodes seeded ``seed`` onwards.

        A candidate whose actions stop being finite (a recurrent core whose activity explodes: the
        policy's distribution or the env refuses them) scores NaN, which cma ranks last, and ``error``
        says why (else it is empty).
        """
        set_weights(self.params, candidate)
        self.venv.seed(seed)
        try:
            records = run_episodes(self.actor, self.venv, self.venv.num_envs)
        except ValueError as err:
            return Fitness(math.nan, 0.0, 0, str(err))
        returns = [r["return"] for r in records]
        success = [r["is_success"] for r in records]
        return Fitness(
            float(np.mean(returns)), float(np.mean(success)), sum(r["length"] for r in records), ""
        )


_worker: FitnessWorker | None = None  # this worker process's, set by start_worker


def start_worker(config: RunConfig) -> None:
    """Worker initializer: one torch thread; Ctrl-C is the main process's job; the fitness envs
    and a controller to load candidates into."""
    global _worker
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = FitnessWorker.create(config)


def fitness(candidate: np.ndarray, seed: int) -> Fitness:
    """:meth:`FitnessWorker.fitness` of this worker process (what the process pool maps)."""
    assert _worker is not None, "start_worker() runs first in every worker process"
    return _worker.fitness(candidate, seed)


def episode_seed(config: RunConfig, settings: Settings, generation: int) -> int:
    """The first seed of generation ``generation``'s (0-based) fitness episodes: the run's seed, plus,
    with fresh episodes, a new block of ``fitness_episodes`` seeds per generation, away from the
    periodic evaluation's (``EVAL_SEED_OFFSET``)."""
    if not settings.fresh_episodes:
        return config.seed
    return config.seed + FITNESS_SEED_OFFSET + generation * settings.fitness_episodes


# -- the search --------------------------------------------------------------------------------------
def save_state(path: Path, es: cma.CMAEvolutionStrategy, env_steps: int) -> None:
    """The search state, written atomically: cma's object and the NumPy random state it draws from."""
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "wb") as f:
        # cma draws a few numbers from NumPy's legacy global state directly
        random_state = np.random.get_state()  # noqa: NPY002
        pickle.dump({"es": es, "numpy_random": random_state, "env_steps": env_steps}, f)
    os.replace(tmp, path)


def check_trusted(path: Path, session: Session) -> None:
    """The search state is a pickle (cma's object has no other format): loading it runs code from
    the file, so resuming needs ``session.trust``."""
    if not session.trust:
        raise RunError(f"{path} is a pickle (the CMA-ES search state); {rundir.TRUST_HINT}")


def missing_state(path: Path) -> RunError:
    return RunError(f"{path.parent} has no {path.name}: is it a CMA-ES run that saved a generation?")


def load_state(path: Path) -> tuple[cma.CMAEvolutionStrategy, int]:
    """The search state :func:`save_state` wrote (it also restores NumPy's global random state)."""
    if not path.is_file():
        raise missing_state(path)
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
        es, random_state, env_steps = state["es"], state["numpy_random"], state["env_steps"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, AttributeError, ValueError) as err:
        raise RunError(f"{path} is not a readable CMA-ES state ({type(err).__name__}: {err})") from None
    np.random.set_state(random_state)  # noqa: NPY002 (see save_state)
    return es, int(env_steps)


def new_search(x0: np.ndarray, settings: Settings, seed: int) -> cma.CMAEvolutionStrategy:
    options = {
        # cma samples from np.random's global state by default, which pickling its options copies:
        # a resumed search would then draw from a copy and from the global state in turn. Its own
        # generator is pickled with it and draws as one stream (the global state is saved too, for
        # the few draws cma makes from it directly).
        "randn": np.random.RandomState(seed).randn,
        "verbose": -9,
        "CMA_diagonal": settings.diagonal,
        "minstd": settings.min_std,
        # the budget is ours (generations); cma's own stopping rules (flat fitness...) would end early
        "tolfun": 0,
        "tolflatfitness": math.inf,
        "tolfunhist": 0,
        "tolstagnation": math.inf,
    }
    if settings.popsize is not None:
        options["popsize"] = settings.popsize
    return cma.CMAEvolutionStrategy(x0, settings.sigma0, options)


def search(config: RunConfig, run_dir: Path, session: Session) -> dict[str, Any] | None:
    """Run (or, with ``session.resume``, continue) the search of ``config`` in ``run_dir``; returns the
    last evaluation."""
    settings = Settings(**config.hyperparams)
    spec = policy_spec(config.policy, **settings.policy_kwargs)
    seed = config.seed
    venv = make_run_vec_env(config, 1)
    eval_env = make_eval_env(config)
    model = build_model(config, spec, venv, session.device)
    params = actor_parameters(model.policy)
    state_path = run_dir / STATE_FILE
    if session.resume:
        check_trusted(state_path, session)
        es, env_steps = load_state(state_path)
        if es.N != sum(p.numel() for p in params):
            raise RunError(f"{state_path} searches {es.N} weights, the controller has another number")
        print(f"resuming {run_dir} at generation {es.countiter}")
    else:
        es, env_steps = new_search(parameters_to_vector(params).detach().double().numpy(), settings, seed), 0
    evaluation = Evaluation(
        eval_env, run_dir, config.n_eval_episodes, seed + EVAL_SEED_OFFSET, session.evaluation_hooks
    )
    logger: Logger = configure(str(run_dir / rundir.TENSORBOARD_DIR / "cmaes"), ["tensorboard"])
    n_workers = settings.n_workers or os.cpu_count() or 1
    print(
        f"CMA-ES on {config.env}: {es.N:,} weights ({config.policy}), {es.popsize} candidates x "
        f"{settings.fitness_episodes} episodes per generation, {n_workers} workers -> {run_dir}",
        flush=True,
    )
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    flag = SignalFlag()
    bar = tqdm(
        total=settings.generations,
        initial=es.countiter,
        unit="gen",
        disable=not session.progress,
        dynamic_ncols=True,
    )
    last_saved = es.countiter
    try:
        with flag, ProcessPoolExecutor(n_workers, context, start_worker, (config,)) as pool:
            while es.countiter < settings.generations and not flag.requested:
                started = time.monotonic()
                candidates = es.ask()
                chunk = math.ceil(len(candidates) / n_workers)
                seeds = [episode_seed(config, settings, es.countiter)] * len(candidates)
                results = list(pool.map(fitness, candidates, seeds, chunksize=chunk))
                returns = np.array([r.mean_return for r in results])
                diverged = int(np.isnan(returns).sum())
                if diverged == len(returns):
                    raise RunError(
                        f"every candidate of generation {es.countiter + 1} failed "
                        f"(a smaller sigma0 may help): {results[0].error}"
                    )
                es.tell(candidates, list(-returns))  # cma minimizes; NaN ranks last
                env_steps += sum(r.env_steps for r in results)
                generation = es.countiter
                best = int(np.nanargmax(returns))
                logger.record("fitness/best", returns[best])
                logger.record("fitness/mean", np.nanmean(returns))
                logger.record("fitness/diverged", diverged)
                logger.record("fitness/best_success_rate", results[best].success_rate)
                logger.record("fitness/best_ever", -es.result.fbest)
                logger.record("cmaes/sigma", es.sigma)
                stds = es.stds  # each weight's own step, sigma x sqrt(its variance): what min_std floors
                logger.record("cmaes/std_min", float(np.min(stds)))
                logger.record("cmaes/std_median", float(np.median(stds)))
                logger.record("cmaes/std_max", float(np.max(stds)))
                logger.record("cmaes/generation", generation)
                logger.record("time/generation_s", time.monotonic() - started)
                logger.record("time/env_steps", env_steps)
                if generation % settings.eval_every == 0 or generation == settings.generations:
                    set_weights(params, es.result.xfavorite)
                    try:
                        evaluation(model, venv, env_steps, logger)
                    except ValueError as err:  # non-finite actions, as in fitness()
                        print(f"generation {generation}: the mean's evaluation failed ({err}); skipped")
                logger.dump(env_steps)
                if generation % settings.checkpoint_every == 0:
                    checkpoint(run_dir, es, env_steps, model, params, venv)
                    last_saved = generation
                bar.update(1)
                bar.set_postfix(
                    best=f"{-es.result.fbest:.1f}", mean=f"{np.nanmean(returns):.1f}", sigma=f"{es.sigma:.3g}"
                )
    finally:
        bar.close()
        if es.countiter != last_saved or not (run_dir / rundir.MODEL_FILE).is_file():
            checkpoint(run_dir, es, env_steps, model, params, venv)
        venv.close()
        eval_env.close()
    if flag.requested:
        print(
            f"\ninterrupted at generation {es.countiter}; resume with: muscle-train --resume {run_dir}"
            f"  (or python train_sb3.py --resume {run_dir})"
        )
        raise flag.interrupted()
    else:
        print(
            f"best fitness {-es.result.fbest:.2f} after {es.countiter} generations ({env_steps:,} env steps)"
        )
    return evaluation.last


def checkpoint(
    run_dir: Path,
    es: cma.CMAEvolutionStrategy,
    env_steps: int,
    model: BaseAlgorithm,
    params: list[nn.Parameter],
    venv: VecEnv,
) -> None:
    """The search state and the distribution mean's model (final_model.zip)."""
    set_weights(params, es.result.xfavorite)
    rundir.save_model_and_normalizer(
        model, venv, run_dir / rundir.MODEL_FILE, run_dir / rundir.NORMALIZER_FILE
    )
    save_state(run_dir / STATE_FILE, es, env_steps)


class EvolutionTrainer(Trainer):
    """``--algo cmaes``: CMA-ES over a controller's weights (:func:`search`)."""

    algos = ("cmaes",)
    run_settings = ("policy", "n_eval_episodes")
    resumable = True  # --resume continues from cmaes_state.pkl

    def arguments(self, algo: str) -> list[str]:
        return [f.name for f in dataclasses.fields(Settings)]

    def adapt(self, request: RunRequest) -> tuple[RunRequest, dict[str, Any]]:
        request, fixed = super().adapt(request)
        return request, {**fixed, "normalize": False}  # the weights are searched against raw observations

    def check_policy(self, algo: str, policy: str) -> None:
        """Any policy: the search covers whatever weights its deterministic action depends on."""

    def check(self, config: RunConfig) -> None:
        Settings(**config.hyperparams)  # a bad value is reported in one line, before any work

    def check_resume(self, run_dir: Path, config: RunConfig, session: Session) -> None:
        if not (run_dir / STATE_FILE).is_file():
            raise missing_state(run_dir / STATE_FILE)
        check_trusted(run_dir / STATE_FILE, session)

    def train(
        self, config: RunConfig, run_dir: Path, session: Session, wandb_run: Any
    ) -> dict[str, Any] | None:
        return search(config, run_dir, session)


TRAINER = EvolutionTrainer()
