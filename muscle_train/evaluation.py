"""Evaluation of a trained policy: success rate, return, episode length and the task's own metrics,
and the video and figures of its episodes.

A :class:`Source` says what to evaluate. :func:`run_source` takes it from a run directory, whose
config.yml rebuilds the env exactly as training built it; runs of every training method load alike
(SB3 algorithms, distilled students: RecurrentPPO models with their own normalizer, CMA-ES searches:
models without a normalizer). :func:`file_source` takes a model file and its normalizer, with the env
from a config.yml beside the model or given. The saved VecNormalize statistics are frozen
(``training=False``) and rewards are reported unnormalized; recurrent policies carry their state
through each episode. The policy's [-1, 1] actions are mapped onto the env's [0, 1] excitations
(RescaleAction), as in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from rich.table import Table
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from muscle_train import rundir
from muscle_train.config import POLICY_ACTION_RANGE, RunConfig, RunError
from muscle_train.envs import check_env_id, check_env_options, make_env
from muscle_train.rollouts import record_video, run_episodes, summarize

EVAL_ENVS = 10  # episodes run side by side (one process); results depend only on the seed
DEFAULT_SEED = 12345  # evaluate.py's seed of the evaluation episodes


@dataclass(frozen=True)
class Source:
    """What to evaluate: the env (id, options, action range) and the files."""

    env: str
    env_kwargs: dict[str, Any]
    action_range: tuple[float, float] | None
    model_path: Path
    normalizer_path: Path | None
    config: RunConfig | None = None  # the run's, which the model is rebuilt from without unpickling
    trust: bool = False  # load what only pickled code can restore (rundir.TRUST_HINT)

    @property
    def observation_keys(self) -> tuple[str, ...] | None:
        """The observation keys the model sees (its run's; None: all)."""
        return None if self.config is None else self.config.observation_keys


def run_source(
    run_dir: Path,
    which: str = "final",
    env: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    trust: bool = False,
) -> Source:
    """The ``final`` or ``best`` model of a run directory, on the env its config.yml describes
    (``env`` replaces its id, ``env_kwargs`` change single options of it).

    Raises:
        RunError: not a run directory, no such model, or an env id or option that no longer exists.
    """
    config = rundir.load_config(run_dir)
    model_path, normalizer_path = rundir.run_files(run_dir, which, config)
    return _source(config, env or config.env, env_kwargs or {}, model_path, normalizer_path, trust)


def file_source(
    model_path: Path,
    normalizer_path: Path | None = None,
    env: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
    trust: bool = False,
) -> Source:
    """A model file and its normalizer; the env from a config.yml beside the model, else ``env``
    (either may be overridden by ``env`` and ``env_kwargs``). Without a config.yml the model can only
    be loaded by running its pickled entries: ``trust``."""
    beside = model_path.parent / rundir.CONFIG_FILE
    config = rundir.load_config(model_path.parent) if beside.is_file() else None
    if config is None and env is None:
        raise RunError(f"no {rundir.CONFIG_FILE} beside {model_path}: say which env with --env ID")
    env_id = env or config.env  # type: ignore[union-attr]  # one of them is set (checked above)
    return _source(config, env_id, env_kwargs or {}, model_path, normalizer_path, trust)


def _source(
    config: RunConfig | None,
    env_id: str,
    env_kwargs: dict[str, Any],
    model_path: Path,
    normalizer_path: Path | None,
    trust: bool,
) -> Source:
    check_env_id(env_id)
    kwargs = {**(config.env_kwargs if config is not None else {}), **env_kwargs}
    check_env_options(env_id, kwargs)
    # a model without a config.yml was trained as every run is, in POLICY_ACTION_RANGE
    action_range = config.action_range if config is not None else POLICY_ACTION_RANGE
    return Source(env_id, kwargs, action_range, model_path, normalizer_path, config, trust)


def build(
    source: Source, n_envs: int, seed: int, render_mode: str | None = None
) -> tuple[VecEnv, BaseAlgorithm]:
    """The evaluation envs (frozen normalizer) and the model, each checked against the other."""

    def factory() -> gym.Env:
        return make_env(
            source.env,
            source.env_kwargs,
            source.action_range,
            render_mode,
            observation_keys=source.observation_keys,
        )

    venv: VecEnv = DummyVecEnv([factory] * n_envs)
    if source.normalizer_path is not None:
        venv = rundir.load_normalizer(source.normalizer_path, venv, trust=source.trust)
    venv.seed(seed)
    return venv, rundir.load_model(source.model_path, venv, source.config, source.trust)


def evaluate(
    source: Source, episodes: int, deterministic: bool = True, seed: int = DEFAULT_SEED
) -> dict[str, Any]:
    """Run ``episodes`` episodes (seeded with ``seed``) and summarize them: ``success_rate``,
    ``mean_reward``, ``std_reward``, ``mean_episode_length`` and the task's metrics."""
    if episodes < 1:
        raise RunError(f"the number of evaluation episodes (--episodes) must be >= 1, got {episodes}")
    venv, model = build(source, min(EVAL_ENVS, episodes), seed)
    try:
        conditions = venv.get_attr("conditions", indices=[0])[0]
        records = run_episodes(model, venv, episodes, deterministic)
    finally:
        venv.close()
    results = {
        "env": source.env,
        "model": str(source.model_path),
        "deterministic": deterministic,
        "seed": seed,
        **summarize(records),
    }
    labels = tuple(f"task/{metric}" for metric in conditions)  # (the mean of a label says nothing)
    for label in labels:
        results.pop(label, None)
    for metric, names in conditions.items():  # e.g. results["by_task"]["Figure8"]: its summary
        results[f"by_{metric}"] = by_condition(records, f"task/{metric}", names, labels)
    return results


def by_condition(
    records: list[dict[str, Any]], key: str, names: tuple[str, ...], labels: tuple[str, ...] = ()
) -> dict[str, Any]:
    """:func:`summarize` of the episodes of each value of the episode metric ``key`` (an index into
    ``names``), in ``names``' order, for the values that occurred; the ``labels`` metrics (condition
    indices, whose means say nothing) left out."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(int(record[key]), []).append(record)
    return {
        names[value]: {k: v for k, v in summarize(groups[value]).items() if k not in labels}
        for value in sorted(groups)
    }


def write_video(
    source: Source, path: Path, episodes: int, deterministic: bool = True, seed: int = DEFAULT_SEED
) -> Path:
    """Render ``episodes`` episodes to an MP4 at ``path``."""
    venv, model = build(source, 1, seed, render_mode="rgb_array")
    try:
        return record_video(model, venv, path, episodes, deterministic)
    finally:
        venv.close()


def write_plots(
    source: Source, folder: Path, episodes: int, deterministic: bool = True, seed: int = DEFAULT_SEED
) -> list[Path]:
    """The figures of :mod:`muscle_train.plots` for ``episodes`` episodes, written into ``folder``."""
    from muscle_train import plots  # matplotlib only when figures are wanted

    venv, model = build(source, 1, seed)
    try:
        return plots.write_all(model, venv, folder, episodes, deterministic)
    finally:
        venv.close()


def write_analysis(
    source: Source, folder: Path, episodes: int, deterministic: bool = True, seed: int = DEFAULT_SEED
) -> dict[str, Any]:
    """Record ``episodes`` episodes into ``folder/recording.npz`` and run the analyses of
    :mod:`muscle_analysis` on them (``folder/analysis.json`` and a figure per analysis)."""
    from muscle_train.analysis import analyse_run  # matplotlib, scikit-learn only when asked for

    venv, model = build(source, 1, seed)
    meta = {"env": source.env, "env_kwargs": source.env_kwargs, "model": str(source.model_path)}
    try:
        return analyse_run(model, venv, folder, episodes, deterministic, meta)
    finally:
        venv.close()


def results_table(results: dict[str, Any]) -> Table:
    """An :func:`evaluate` result as a table for the terminal (rich)."""
    mode = "deterministic" if results["deterministic"] else "stochastic"
    table = Table(title=f"{results['env']}: {results['n_episodes']} episodes, {mode} actions")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("success rate", f"{results['success_rate']:.1%}")
    table.add_row("return", f"{results['mean_reward']:.2f} ± {results['std_reward']:.2f}")
    table.add_row("episode length (steps)", f"{results['mean_episode_length']:.1f}")
    for key, value in results.items():
        if "/" in key:
            table.add_row(key, "n/a" if value is None else f"{value:.4g}")
    return table


def condition_tables(results: dict[str, Any]) -> list[Table]:
    """A table per condition of the env (``by_<metric>`` of an :func:`evaluate` result): episodes,
    success rate and the task metrics, one row per value."""
    tables = []
    for key, groups in results.items():
        if not key.startswith("by_") or not groups:
            continue
        first = next(iter(groups.values()))
        metrics = [name for name in first if name.startswith("task/")]
        table = Table(title=f"per {key[3:]}")
        for column in (key[3:], "episodes", "success", *(m.removeprefix("task/") for m in metrics)):
            table.add_column(column, justify="left" if column == key[3:] else "right")
        for name, summary in groups.items():
            cells = [f"{summary[m]:.3g}" if summary[m] is not None else "n/a" for m in metrics]
            table.add_row(name, str(summary["n_episodes"]), f"{summary['success_rate']:.0%}", *cells)
        tables.append(table)
    return tables
