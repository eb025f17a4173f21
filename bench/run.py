"""The speed benchmark suite: one command, a markdown table per section, one JSON file.

    python bench/run.py                     # every section, ~9 min on 2 cores (run it on a quiet machine)
    python bench/run.py --quick             # ~1.5 min of rough figures: CI checks that it runs
    python bench/run.py --only vec scaling  # some sections (scaling reads physics, so physics runs too)
    python bench/run.py --repeats 5         # repeats of every measurement (default: per section)

Every figure is min / median / max over repeats. What is compared is measured in one process in
interleaved chunks, one chunk of each thing per round: load on a shared machine only ever slows a
chunk down, and then it hits all of them alike. Each ratio is given per round (min / median / max)
and as the ratio of the medians; a target is printed beside it, never asserted. torch runs with one
thread, as train_sb3.py sets it.

Sections:
  physics  the share of ``env.step()`` that is physics, for every registered id
           (bench/env_speed.py's ``measure()``).
  vec      env steps/s of the vectorized envs that training builds (``muscle_train.envs.make_vec_env``:
           dummy, subproc, batched; and batched_1thread, BatchedVecEnv with one physics thread) with
           random actions in [-1, 1], for MuscleArmReach-v0 and MyoLegsStand-v0 at 1-16 envs; the
           two-core physics limit, 2 x the single-core rate of raw ``mj_step`` calls on one MjData
           per control step; and the raw physics of ``mujoco.batch`` on BatchedVecEnv's threads
           (batch_physics: what batching can reach). Figure: bench/figures/vec_throughput.png.
  threads  BatchedVecEnv at 16 envs on 1, 2, ... physics threads (up to the cores available) against
           the raw ``mujoco.batch`` physics on the same threads and against DummyVecEnv, for the arm
           and the legs; and the share of BatchedVecEnv's time spent in the ``mujoco.batch`` call
           (on the states its episodes visit, resets included).
  scaling  the cost of one env step against the number of muscles (4, 6, 26, 80): a single env and
           its raw physics (from the physics section), and batched at 16 envs (measured here).
           Figure: bench/figures/cost_vs_muscles.png.
  ppo      PPO training fps (env steps / wall s of ``model.learn()``, construction excluded) with what
           train_sb3.py builds at its defaults (``new_run_config``, ``sb3.build_envs``, ``sb3.new_model``;
           no callbacks, so no evaluations), over 2 rollouts; also with ``vec_env: dummy`` (the
           defaults before BatchedVecEnv); and, on the arm, SB3's stock setup
           (``PPO("MultiInputPolicy")`` with default hyperparameters on 16 SubprocVecEnv envs, no
           normalization), over its one 32768-step rollout and update.
  profile  where PPO training time goes on the arm (cProfile of ``learn()``): env stepping, the
           normalizer, the policy in rollouts, the update; before (DummyVecEnv, SB3's VecNormalize)
           and after (the defaults: BatchedVecEnv, FastVecNormalize).
  policy   the forward cost per step of every policy in ``policies.POLICIES`` at batch 1 and 16
           (bench/policy_speed.py's ``forward_cost()``).
  fitness  CMA-ES's evaluation of one candidate (hyperparams.yml's default controller and
           fitness_episodes on the arm), env steps/s: the search's rollouts (``FitnessWorker.fitness``:
           one BatchedVecEnv batch in this process, actions through ``DeterministicActor``) against
           the same episodes through SB3 (``model.predict`` on the DummyVecEnv train_sb3.py and
           evaluate.py build).

``--quick``: fewer and shorter chunks, 1 and 2 envs in vec and scaling (ratios at 2 envs), one
rollout of each PPO setup and a small stock one (2 envs, n_steps 256). A section that fails raises.
Writes bench/results/suite.json (suite_quick.json with --quick; --only replaces just its sections),
the figures with a ``_quick`` suffix in quick mode.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import matplotlib
import matplotlib.ticker
import numpy as np
import torch
from env_speed import chunk_timers, measure
from policy_speed import forward_cost, policy_label
from results_io import RESULTS, save_results
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv, VecNormalize

import muscle_envs
from muscle_envs.plants.batch import BatchPlant, available_cores
from muscle_envs.vector import BatchedVecEnv
from muscle_train.cli import train as cli_train
from muscle_train.config import plain
from muscle_train.envs import make_vec_env
from muscle_train.rollouts import run_episodes
from muscle_train.rundir import versions
from muscle_train.trainers import sb3
from muscle_train.training import RunRequest, new_run_config
from policies import POLICIES, policy_spec

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

FIGURES = ROOT / "bench" / "figures"
ARM, LEGS = "MuscleArmReach-v0", "MyoLegsStand-v0"
KINDS = ("dummy", "subproc", "batched", "batched_1thread")
# Env steps per timed chunk in full mode, ~0.1-0.3 s of stepping on one core: the MyoLeg envs step
# ~7x slower than the arms (every registered id is one or the other).
CHUNK_STEPS = {"MyoLegs": 300, "MuscleArm": 2000}


def chunk_steps(env_id: str) -> int:
    return next(steps for prefix, steps in CHUNK_STEPS.items() if env_id.startswith(prefix))


SCALING_IDS = ("MuscleArmReach-v0", "MuscleArm6Reach-v1", "MyoLegs26Stand-v0", "MyoLegsStand-v0")
# Targets of the vectorization and training work, printed beside the figures (a ratio of medians).
TARGETS = {
    f"{ARM}: batched / subproc": 3.0,
    f"{ARM}: batched / dummy": 2.0,
    f"{LEGS}: fastest / limit": 0.9,
    f"{LEGS}: batched / raw batch physics, same threads": 0.94,
    f"{ARM}: batched / raw batch physics, same threads": 0.75,  # a stretch goal (issue 15)
    "batched / dummy, slowest n_envs": 1.0,
    "ours / stock": 2.0,
}

Timer = Callable[[], float]  # times one chunk, returns a rate or a duration


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much each section measures."""

    repeats: dict[str, int]  # rounds per section
    chunk_scale: float  # times chunk_steps()
    n_envs: tuple[int, ...]  # vec section; the last is where ratios and scaling are measured
    rollouts: int  # per timed learn() of our PPO setups
    stock: dict[str, int]  # n_envs, n_steps of SB3's stock PPO setup
    forward_steps: int  # policy forward calls per chunk
    quick: bool  # rough figures, written beside the full ones

    def steps(self, env_id: str) -> int:
        return max(1, round(chunk_steps(env_id) * self.chunk_scale))


FULL = Budget(
    repeats={"physics": 20, "vec": 7, "scaling": 10, "ppo": 2, "policy": 5, "fitness": 7},
    chunk_scale=1.0,
    n_envs=(1, 2, 4, 8, 16),
    rollouts=2,
    stock={"n_envs": 16, "n_steps": 2048},
    forward_steps=300,
    quick=False,
)
QUICK = Budget(
    repeats={"physics": 3, "vec": 2, "scaling": 2, "ppo": 1, "policy": 2, "fitness": 1},
    chunk_scale=0.1,
    n_envs=(1, 2),
    rollouts=1,
    stock={"n_envs": 2, "n_steps": 256},
    forward_steps=50,
    quick=True,
)


# -- measuring and reporting -------------------------------------------------------------------------
def interleaved(timers: dict[str, Timer], repeats: int, warmup: bool = True) -> dict[str, list[float]]:
    """Each timer once to warm up (if asked), then ``repeats`` rounds of each timer once, the order
    rotated each round (so that no timer always follows the same other one)."""
    for timer in timers.values() if warmup else ():
        timer()
    names = list(timers)
    results: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            results[name].append(timers[name]())
    return results


def spread(values: list[float], fmt: str = ".0f") -> str:
    """``min / median / max``."""
    return " / ".join(f"{f(values):{fmt}}" for f in (min, statistics.median, max))


def table(header: list[str], rows: list[list[str]]) -> None:
    print(f"| {' | '.join(header)} |\n|{'---|' * len(header)}")
    for row in rows:
        print(f"| {' | '.join(row)} |")


def ratio(what: str, num: list[float], den: list[float], target_key: str | None = None) -> dict[str, Any]:
    """Per-round ratios and the ratio of medians, with the target ``TARGETS[target_key]`` if any."""
    rounds = [a / b for a, b in zip(num, den, strict=True)]
    of_medians = statistics.median(num) / statistics.median(den)
    target = TARGETS.get(target_key or what)
    return {
        "what": what,
        "per_round": rounds,
        "of_medians": of_medians,
        "target": target,
        "met": None if target is None else of_medians >= target,
    }


def print_ratios(ratios: list[dict[str, Any]]) -> None:
    table(
        ["ratio", "of medians", "per round min / median / max", "target"],
        [
            [
                r["what"],
                f"{r['of_medians']:.2f}",
                spread(r["per_round"], ".2f"),
                "" if r["target"] is None else f">= {r['target']}: {'met' if r['met'] else 'NOT met'}",
            ]
            for r in ratios
        ],
    )


def log_axes(ax: plt.Axes, xs: list[int], **labels: str) -> None:
    """Log-log axes ticked at ``xs``, a grid and the legend."""
    ax.set(xscale="log", yscale="log", **labels)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def save_figure(fig: plt.Figure, name: str, quick: bool) -> None:
    path = FIGURES / f"{name}{'_quick' if quick else ''}.png"
    path.parent.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def build_vec_env(env_id: str, n_envs: int, kind: str) -> VecEnv:
    """A vectorized env as ``muscle_train.envs.make_vec_env`` builds it for training; ``batched_1thread`` is
    BatchedVecEnv with its physics on one thread (what vectorizing alone gives, on one core)."""
    if kind == "batched_1thread":
        venv = BatchedVecEnv(env_id, n_envs, n_threads=1)
        venv.seed(0)
        return venv
    return make_vec_env(env_id, {}, n_envs, kind, seed=0)


def rate_of(step: Callable[[np.ndarray], Any], inputs: np.ndarray, env_steps: int, per_call: int) -> Timer:
    """Times ``env_steps / per_call`` calls (at least 2) of ``step`` on ``inputs`` in turn; each call
    advances ``per_call`` envs by one step: env steps/s."""
    calls = max(2, round(env_steps / per_call))

    def chunk() -> float:
        start = time.perf_counter()
        for k in range(calls):
            step(inputs[k % len(inputs)])
        return calls * per_call / (time.perf_counter() - start)

    return chunk


def stepper(venv: VecEnv, env_steps: int) -> Timer:
    """Times ``venv.step`` with random actions in [-1, 1]: env steps/s."""
    n = venv.num_envs
    actions = np.random.default_rng(0).uniform(-1, 1, size=(64, n, *venv.action_space.shape))
    venv.reset()
    return rate_of(venv.step, actions.astype(np.float32), env_steps, n)


def physics_limit(env_id: str, steps: int) -> Timer:
    """Two cores' worth of raw physics: 2 / (seconds of ``frame_skip`` single-core ``mj_step`` calls
    per control step), in env steps/s."""
    _, env_chunk, raw_chunk = chunk_timers(env_id, steps)
    env_chunk()  # the raw chunks start from states the env visits
    return lambda: 2 / raw_chunk()


def batch_physics(env_id: str, n_envs: int, steps: int, n_threads: int | None = None) -> Timer:
    """The raw physics limit of batching: ``mujoco.batch`` stepping ``n_envs`` simulations of the env's
    model (persistent, ``frame_skip`` substeps and the forward stages per call, as BatchedVecEnv
    does; random controls, from the start state) on ``n_threads`` threads (default: as many as
    BatchedVecEnv uses), in env steps/s, with nothing else per step."""
    plant = gym.make(env_id).unwrapped.plant
    physics = BatchPlant(plant, n_envs, n_threads)
    for i in range(n_envs):
        physics.save(i)
    controls = np.random.default_rng(0).uniform(0, 1, (64, n_envs, plant.n_muscles))
    return rate_of(physics.step, controls, steps, n_envs)


def physics_in_run(venv: BatchedVecEnv, env_steps: int) -> Timer:
    """The share of ``venv.step``'s time spent in the ``mujoco.batch`` call (on the states the run
    visits, resets included), over a chunk of random actions in [-1, 1]."""
    batch, spent = venv.batch.plant.batch, [0.0]
    call = batch.step

    def timed(*args: Any, **kwargs: Any) -> None:
        start = time.perf_counter()
        call(*args, **kwargs)
        spent[0] += time.perf_counter() - start

    steps = stepper(venv, env_steps)

    def chunk() -> float:
        batch.step, spent[0] = timed, 0.0
        start = time.perf_counter()
        try:
            steps()
        finally:
            batch.step = call
        return spent[0] / (time.perf_counter() - start)

    return chunk


def step_vec_envs(
    builds: dict[str, tuple[str, int, str]], budget: Budget, repeats: int, extra: dict[str, Timer]
) -> dict[str, list[float]]:
    """Env steps/s of each ``name: (env_id, n_envs, kind)`` built by ``muscle_train.envs.make_vec_env``, and
    of the ``extra`` timers, interleaved; every venv is closed after."""
    venvs: dict[str, VecEnv] = {}
    try:
        for name, (env_id, n, kind) in builds.items():
            venvs[name] = build_vec_env(env_id, n, kind)
        timers = {name: stepper(venvs[name], budget.steps(builds[name][0])) for name in builds}
        return interleaved({**timers, **extra}, repeats)
    finally:
        for venv in venvs.values():
            venv.close()


# -- sections ----------------------------------------------------------------------------------------
Results = dict[str, dict[str, Any]]


def physics(budget: Budget, done: Results) -> dict[str, Any]:
    rows = [
        measure(env_id, budget.repeats["physics"], budget.steps(env_id)) for env_id in muscle_envs.ENV_IDS
    ]
    table(
        ["env", "muscles", "physics share min / median / max", "env step (us)", "raw physics (us)"],
        [
            [
                r["env_id"],
                str(r["n_muscles"]),
                f"{r['share_min']:.2f} / {r['share_median']:.2f} / {r['share_max']:.2f}",
                f"{r['env_step_us']:.1f}",
                f"{r['raw_physics_us']:.1f}",
            ]
            for r in rows
        ],
    )
    print("(env step and raw physics: medians)")
    return {"results": rows}


def vec(budget: Budget, done: Results) -> dict[str, Any]:
    kinds, top = KINDS, budget.n_envs[-1]
    results: dict[str, list[dict[str, Any]]] = {}
    ratios = []
    for env_id in (ARM, LEGS):
        rows = []
        for n in budget.n_envs:
            builds = {kind: (env_id, n, kind) for kind in kinds}
            limit = (
                {
                    "limit": physics_limit(env_id, budget.steps(env_id)),
                    "batch_physics": batch_physics(env_id, n, budget.steps(env_id)),
                }
                if n == top
                else {}
            )
            rows.append({"n_envs": n, **step_vec_envs(builds, budget, budget.repeats["vec"], limit)})
        results[env_id] = rows
        limit, measured = spread(rows[-1]["limit"]), spread(rows[-1]["batch_physics"])
        print(
            f"\n{env_id}, env steps/s min / median / max (two-core physics limit, 2 x one core: {limit}; "
            f"raw physics in two processes at {top} envs: {measured})\n"
        )
        table(["n_envs", *kinds], [[str(row["n_envs"]), *(spread(row[k]) for k in kinds)] for row in rows])
        ratios += vec_ratios(env_id, rows, kinds)
    print(f"\nratios at {top} envs\n")
    print_ratios(ratios)
    plot_vec(results, kinds, budget.quick)
    return {"results": results, "ratios": ratios}


def threads(budget: Budget, done: Results) -> dict[str, Any]:
    """BatchedVecEnv at the most envs on 1..cores physics threads, against the raw ``mujoco.batch``
    physics on the same threads and DummyVecEnv; and the share of its time spent in that physics."""
    n, counts = budget.n_envs[-1], list(range(1, available_cores() + 1))
    results: dict[str, Any] = {}
    ratios = []
    for env_id in (ARM, LEGS):
        steps = budget.steps(env_id)
        venvs = {t: BatchedVecEnv(env_id, n, n_threads=t) for t in counts}
        dummy = build_vec_env(env_id, n, "dummy")
        try:
            for venv in venvs.values():
                venv.seed(0)
            timers: dict[str, Timer] = {"dummy": stepper(dummy, steps)}
            for t in counts:
                timers[f"batched_{t}"] = stepper(venvs[t], steps)
                timers[f"physics_{t}"] = batch_physics(env_id, n, steps, t)
            timers["physics share in run"] = physics_in_run(venvs[counts[-1]], steps)
            rates = interleaved(timers, budget.repeats["vec"])
        finally:
            for venv in [*venvs.values(), dummy]:
                venv.close()
        results[env_id] = rates
        print(f"\n{env_id}, {n} envs, env steps/s min / median / max\n")
        table(
            ["threads", "BatchedVecEnv", "raw mujoco.batch physics", "DummyVecEnv (1 core)"],
            [
                [str(t), spread(rates[f"batched_{t}"]), spread(rates[f"physics_{t}"]), spread(rates["dummy"])]
                for t in counts
            ],
        )
        top = counts[-1]
        share = rates["physics share in run"]
        print(
            f"\nshare of BatchedVecEnv's time ({top} threads) in the mujoco.batch call: "
            f"{spread(share, '.2f')}"
        )
        for t in counts:
            ratios.append(
                ratio(
                    f"{env_id}: batched / raw batch physics, {t} thread{'s' * (t > 1)}",
                    rates[f"batched_{t}"],
                    rates[f"physics_{t}"],
                    f"{env_id}: batched / raw batch physics, same threads" if t == top else None,
                )
            )
        ratios.append(
            ratio(f"{env_id}: batched ({top} threads) / dummy", rates[f"batched_{top}"], rates["dummy"])
        )
        if top > 1:
            ratios.append(
                ratio(
                    f"{env_id}: batched, {top} threads / 1 thread",
                    rates[f"batched_{top}"],
                    rates["batched_1"],
                )
            )
    print()
    print_ratios(ratios)
    return {"n_envs": n, "threads": counts, "results": results, "ratios": ratios}


def vec_ratios(env_id: str, rows: list[dict[str, Any]], kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """At the most envs: the fastest kind / the limit, batched / each other kind and / the limit; and
    batched / dummy at the number of envs where batched gains least."""
    last = rows[-1]
    fastest = max(kinds, key=lambda kind: statistics.median(last[kind]))
    ratios = [
        ratio(
            f"{env_id}: fastest ({fastest}) / limit",
            last[fastest],
            last["limit"],
            f"{env_id}: fastest / limit",
        )
    ]
    ratios += [
        ratio(f"{env_id}: batched / {other}", last["batched"], last[other])
        for other in ("dummy", "subproc", "batched_1thread", "limit", "batch_physics")
    ]
    per_n = [
        ratio(
            f"{env_id}: batched / dummy at {row['n_envs']} envs (slowest n_envs)",
            row["batched"],
            row["dummy"],
            "batched / dummy, slowest n_envs",
        )
        for row in rows
    ]
    return [*ratios, min(per_n, key=lambda r: r["of_medians"])]


def plot_vec(results: dict[str, list[dict[str, Any]]], kinds: tuple[str, ...], quick: bool) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.2))
    for ax, (env_id, rows) in zip(axes, results.items(), strict=True):
        ns = [row["n_envs"] for row in rows]
        for kind in kinds:
            ax.plot(ns, [statistics.median(row[kind]) for row in rows], "o-", label=kind)
            ax.fill_between(ns, [min(row[kind]) for row in rows], [max(row[kind]) for row in rows], alpha=0.2)
        ax.axhline(
            statistics.median(rows[-1]["limit"]), ls="--", color="k", label="two-core limit (2 x one core)"
        )
        ax.axhline(
            statistics.median(rows[-1]["batch_physics"]),
            ls=":",
            color="k",
            label="raw physics, mujoco.batch (same threads)",
        )
        log_axes(ax, ns, xlabel="n_envs", ylabel="env steps / s", title=env_id)
    fig.suptitle("vectorized env throughput, random actions (median; band: min-max)", fontsize=10)
    save_figure(fig, "vec_throughput", quick)


def scaling(budget: Budget, done: Results) -> dict[str, Any]:
    single = {r["env_id"]: r for r in done["physics"]["results"]}
    n = budget.n_envs[-1]
    builds = {env_id: (env_id, n, "batched") for env_id in SCALING_IDS}
    rates = step_vec_envs(builds, budget, budget.repeats["scaling"], {})
    batched = {env_id: [1e6 / rate for rate in rates[env_id]] for env_id in SCALING_IDS}
    rows = [
        {
            "env_id": env_id,
            "n_muscles": single[env_id]["n_muscles"],
            "env_step_us": single[env_id]["env_step_us"],
            "raw_physics_us": single[env_id]["raw_physics_us"],
            "batched_us_per_env_step": batched[env_id],
        }
        for env_id in SCALING_IDS
    ]
    table(
        ["env", "muscles", "env step (us)", "raw physics (us)", f"batched at {n} envs, per env step (us)"],
        [
            [
                r["env_id"],
                str(r["n_muscles"]),
                f"{r['env_step_us']:.1f}",
                f"{r['raw_physics_us']:.1f}",
                spread(r["batched_us_per_env_step"], ".1f"),
            ]
            for r in rows
        ],
    )

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    muscles = [r["n_muscles"] for r in rows]
    ax.plot(muscles, [r["env_step_us"] for r in rows], "o-", label="env.step(), one env")
    ax.plot(muscles, [r["raw_physics_us"] for r in rows], "o--", label="raw physics (mj_step x frame_skip)")
    us = [r["batched_us_per_env_step"] for r in rows]
    ax.errorbar(
        muscles,
        [statistics.median(u) for u in us],
        yerr=[[statistics.median(u) - min(u) for u in us], [max(u) - statistics.median(u) for u in us]],
        fmt="o-",
        label=f"batched, {n} envs (wall time per env step)",
    )
    log_axes(ax, muscles, xlabel="muscles", ylabel="us per env step", title="cost against muscles")
    save_figure(fig, "cost_vs_muscles", budget.quick)
    return {"results": rows}


def ours(env_id: str, run_dir: Path, vec_env: str | None) -> tuple[BaseAlgorithm, str, int]:
    """PPO as train_sb3.py builds it for a new run at its defaults (``vec_env`` overridden through a
    hyperparameter file): (model, label, env steps per rollout)."""
    argv = ["--env", env_id, "--run_dir", str(run_dir), "--no_progress"]
    if vec_env is not None:
        run_dir.mkdir(parents=True)
        (run_dir / "hyperparams.yml").write_text(f"vec_env: {vec_env}\n")
        argv += ["--hyperparams", str(run_dir / "hyperparams.yml")]
    args = cli_train.parse_args(argv)
    config = new_run_config(cli_train.request_of(args))
    spec = policy_spec(config.policy, **config.hyperparams.get("policy_kwargs", {}))
    venv, eval_env = sb3.build_envs(config, run_dir, spec)
    eval_env.close()  # training evaluates with it; no callbacks run here
    model = sb3.new_model(config, spec, venv, run_dir, args.device)
    label = f"train_sb3.py defaults, {config.n_envs} {config.vec_env} envs"
    assert config.n_envs is not None
    return model, label, config.n_envs * config.hyperparams["n_steps"]


def stock(n_envs: int, n_steps: int) -> BaseAlgorithm:
    venv = sb3_make_vec_env(f"muscle_envs:{ARM}", n_envs=n_envs, seed=0, vec_env_cls=SubprocVecEnv)
    return PPO("MultiInputPolicy", venv, n_steps=n_steps, seed=0)  # 2048: SB3's default


def learner(model: BaseAlgorithm, timesteps: int) -> Timer:
    """Times ``model.learn(timesteps)``: env steps per wall-clock second."""

    def chunk() -> float:
        start = time.perf_counter()
        model.learn(total_timesteps=timesteps)
        return model.num_timesteps / (time.perf_counter() - start)

    return chunk


def ppo(budget: Budget, done: Results) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for env_id in (ARM, LEGS):
            models, labels, timers = {}, {}, {}
            for name, vec_env in (("ours", None), ("ours_dummy", "dummy")):
                models[name], labels[name], rollout = ours(env_id, Path(tmp) / f"{env_id}_{name}", vec_env)
                timers[name] = learner(models[name], rollout * budget.rollouts)
            if env_id == ARM:
                models["stock"] = stock(**budget.stock)
                labels["stock"] = (
                    f"SB3 stock PPO, {budget.stock['n_envs']} subproc envs, n_steps {budget.stock['n_steps']}"
                )
                timers["stock"] = learner(models["stock"], budget.stock["n_envs"] * budget.stock["n_steps"])
            fps = interleaved(timers, budget.repeats["ppo"], warmup=False)
            for model in models.values():
                model.get_env().close()
            results[env_id] = {name: {"setup": labels[name], "fps": fps[name]} for name in fps}
            print(f"\n{env_id}, PPO training env steps/s\n")
            table(["setup", "fps min / median / max"], [[labels[name], spread(fps[name])] for name in fps])
            if "stock" in fps:
                ratios += [
                    ratio(f"{env_id}: {name} / stock", fps[name], fps["stock"], "ours / stock")
                    for name in timers
                    if name != "stock"
                ]
            ratios.append(ratio(f"{env_id}: ours / ours_dummy", fps["ours"], fps["ours_dummy"]))
    print()
    print_ratios(ratios)
    return {"results": results, "ratios": ratios}


def cumulative(stats: dict, function: Callable) -> float:
    """Seconds ``function`` ran (its calls included) in a cProfile ``Stats.stats`` table."""
    code = function.__code__
    return sum(
        entry[3]
        for (file, line, name), entry in stats.items()
        if name == code.co_name and line == code.co_firstlineno and file == code.co_filename
    )


def profile(budget: Budget, done: Results) -> dict[str, Any]:
    """cProfile of PPO's ``learn()`` on the arm at the defaults, before (DummyVecEnv and SB3's
    VecNormalize) and after (BatchedVecEnv and FastVecNormalize): where the time goes."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, vec_env in (("before: dummy + VecNormalize", "dummy"), ("after: the defaults", None)):
            model, _, rollout = ours(ARM, Path(tmp) / label.split(":")[0], vec_env)
            normalizer = model.get_env()
            if vec_env == "dummy":  # SB3's own normalizer, with the same settings
                settings = (
                    "norm_obs",
                    "norm_reward",
                    "norm_obs_keys",
                    "clip_obs",
                    "clip_reward",
                    "gamma",
                    "epsilon",
                )
                normalizer = VecNormalize(
                    normalizer.venv, **{key: getattr(normalizer, key) for key in settings}
                )
                model.set_env(normalizer)
            model.learn(rollout)  # warm-up
            profiler = cProfile.Profile()
            start = time.perf_counter()
            profiler.enable()
            model.learn(rollout * budget.rollouts)
            profiler.disable()
            wall = time.perf_counter() - start
            stats = pstats.Stats(profiler).stats
            total = cumulative(stats, OnPolicyAlgorithm.learn)
            stepping = cumulative(stats, type(normalizer.venv).step_wait)
            normalized = cumulative(stats, type(normalizer).step_wait)
            rollouts = cumulative(stats, OnPolicyAlgorithm.collect_rollouts)
            parts = {
                "env stepping": stepping,
                "normalizer": normalized - stepping,
                "policy and buffer (rollouts)": rollouts - normalized,
                "PPO update": cumulative(stats, PPO.train),
            }
            parts["other"] = total - sum(parts.values())
            results[label] = {"fps_under_profiler": rollout * budget.rollouts / wall, "seconds": parts}
            model.get_env().close()
    names = list(next(iter(results.values()))["seconds"])
    table(
        ["setup", "fps (profiled)", *(f"{name} (%)" for name in names)],
        [
            [
                label,
                f"{r['fps_under_profiler']:.0f}",
                *(f"{100 * r['seconds'][name] / sum(r['seconds'].values()):.0f}" for name in names),
            ]
            for label, r in results.items()
        ],
    )
    return {"results": results}


def policy(budget: Budget, done: Results) -> dict[str, Any]:
    repeats, steps = budget.repeats["policy"], budget.forward_steps
    costs = {
        name: {batch: forward_cost(name, batch, repeats, steps) for batch in (1, 16)} for name in POLICIES
    }
    table(
        ["policy", "forward, batch 1 (us) min / median / max", "batch 16 (us)"],
        [[policy_label(name), spread(cost[1]), spread(cost[16])] for name, cost in costs.items()],
    )
    return {"results": {name: {str(batch): us for batch, us in cost.items()} for name, cost in costs.items()}}


def fitness(budget: Budget, done: Results) -> dict[str, Any]:
    from muscle_train.trainers import evolution

    config = new_run_config(RunRequest(env=ARM, algo="cmaes"))
    worker = evolution.FitnessWorker.create(config)
    weights = evolution.parameters_to_vector(worker.params).detach().numpy()
    n = worker.venv.num_envs
    sb3_venv = make_vec_env(ARM, {}, n, "dummy", config.seed)

    def search() -> float:
        start = time.perf_counter()
        steps = worker.fitness(weights, config.seed).env_steps  # the same episodes as through_sb3
        return steps / (time.perf_counter() - start)

    def through_sb3() -> float:
        start = time.perf_counter()
        sb3_venv.seed(config.seed)
        steps = sum(r["length"] for r in run_episodes(worker.model, sb3_venv, n))
        return steps / (time.perf_counter() - start)

    rates = interleaved({"search": search, "sb3": through_sb3}, budget.repeats["fitness"])
    sb3_venv.close()
    worker.venv.close()
    table(
        ["candidate evaluation", "env steps/s min / median / max"],
        [[name, spread(values)] for name, values in rates.items()],
    )
    ratios = [ratio("search / sb3", rates["search"], rates["sb3"])]
    print_ratios(ratios)
    controller = {
        "env": config.env,
        "seed": config.seed,
        "policy": config.policy,
        "hyperparams": config.hyperparams,
    }
    return {"controller": controller, "results": rates, "ratios": ratios}


SECTIONS: dict[str, Callable[[Budget, Results], dict[str, Any]]] = {
    "physics": physics,
    "vec": vec,
    "threads": threads,
    "scaling": scaling,
    "ppo": ppo,
    "profile": profile,
    "policy": policy,
    "fitness": fitness,
}


# -- the suite ---------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")
    return {"cpu": cpu, "cores": os.cpu_count(), **versions()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="short rough measurements (CI checks that it runs)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(SECTIONS), metavar="SECTION", help=", ".join(SECTIONS)
    )
    parser.add_argument("--repeats", type=int, default=None, help="rounds of every measurement")
    args = parser.parse_args()
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")
    budget = QUICK if args.quick else FULL
    if args.repeats is not None:
        budget = dataclasses.replace(budget, repeats=dict.fromkeys(budget.repeats, args.repeats))
    names = [name for name in SECTIONS if name in (args.only or SECTIONS)]
    if "scaling" in names and "physics" not in names:
        print("scaling reads the physics section's results: running physics too")
        names.insert(0, "physics")
    torch.set_num_threads(1)  # as train_sb3.py does

    suite_start = time.monotonic()
    done: Results = {}
    for name in names:
        print(f"\n## {name}\n", flush=True)
        start = time.monotonic()
        done[name] = SECTIONS[name](budget, done)
        done[name].update(
            wall_s=time.monotonic() - start,
            date=time.strftime("%Y-%m-%d %H:%M"),
            budget=dataclasses.asdict(budget),
        )
        print(f"\n({name}: {done[name]['wall_s']:.0f} s)")
    total = time.monotonic() - suite_start

    headlines = [r for name in names for r in done[name].get("ratios", []) if r["target"] is not None]
    print(f"\n## summary ({total:.0f} s; {'quick: rough figures' if args.quick else 'full'})\n")
    print_ratios(headlines)
    previous = RESULTS / f"suite{'_quick' if args.quick else ''}.json"
    sections = json.loads(previous.read_text())["sections"] if args.only and previous.is_file() else {}
    payload = {
        "machine": machine(),
        "sections": {**sections, **done},
        "wall_s": total,
    }
    save_results("suite", args.quick, plain(payload))


if __name__ == "__main__":
    main()
