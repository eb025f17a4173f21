"""Optuna studies (muscle_train.sweeps) on the embedded SQLite storage and on a real PostgreSQL server,
and MLflow tracking to its embedded store and to a real `mlflow server`: tiny trials, real processes."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import yaml

from muscle_train import rundir
from muscle_train.config import MlflowOptions, RunError, Session
from muscle_train.sweeps import (
    TIE_BREAK,
    Dimension,
    StudySpec,
    TrialReporter,
    objective_value,
    read_search_space,
    resolve,
    run_study,
    run_trial,
    storage_of,
    trial_settings,
)
from muscle_train.training import RunRequest, new_run_config, resume_run, start_run

ROOT = Path(__file__).resolve().parents[1]
QUIET = Session(progress=False)
# A run of a few seconds: two evaluations of two episodes.
TINY = {
    "n_envs": 2,
    "vec_env": "dummy",
    "total_timesteps": 1024,
    "n_steps": 256,
    "batch_size": 256,
    "n_epochs": 1,
    "eval_freq": 512,
    "n_eval_episodes": 2,
    "checkpoint_freq": 0,
    "policy_kwargs": {"net_arch": [16]},
}
SPACE = {
    "ppo": {
        "learning_rate": {"low": 1.0e-4, "high": 1.0e-3, "log": True},
        "policy_kwargs.net_arch": {"choices": {"tiny": [8], "small": [16, 16]}},
        "env_kwargs.effort_weight": {"low": 0.0, "high": 1.0},
    }
}
DEADLINE_S = 300  # every wait on a worker process is bounded


def write_yaml(path: Path, value) -> Path:
    path.write_text(yaml.safe_dump(value))
    return path


@pytest.fixture()
def files(tmp_path):
    return write_yaml(tmp_path / "tiny.yml", TINY), write_yaml(tmp_path / "space.yml", SPACE)


# -- PostgreSQL ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_url():
    """The URL of .ci/run's throwaway cluster (MUSCLE_TEST_POSTGRES_URL), else one started here with
    scripts/postgres.sh (initdb in a temporary folder, a loopback port) and stopped at the end."""
    given = os.environ.get("MUSCLE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    started = subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), "start"], capture_output=True, text=True
    )
    if started.returncode != 0:
        if "not found" in started.stderr:
            pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        raise RuntimeError(f"scripts/postgres.sh start failed: {started.stderr}")
    url, folder = started.stdout.split()
    try:
        yield url
    finally:
        subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "stop", folder], check=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path):
    """A fresh study storage: the embedded default's SQLite file, or a new database on the server."""
    if request.param == "sqlite":
        return None  # the default: <logs>/studies/optuna.db
    base = request.getfixturevalue("postgres_url")
    name = f"t{os.getpid()}_{time.monotonic_ns()}"
    engine = sqlalchemy.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def study_of(tmp_path: Path, storage: str | None, name: str):
    """The stored study; KeyError while the workers have not made it yet."""
    database = tmp_path / "logs" / "studies" / "optuna.db"
    if storage is None and not database.exists():
        raise KeyError(name)
    return optuna.load_study(study_name=name, storage=storage or f"sqlite:///{database}")


def worker_command(tiny: Path, space: Path, storage: str | None, n_trials: int) -> list[str]:
    command = [sys.executable, "-m", "muscle_train", "train", "--optimize", "--n_trials", str(n_trials)]
    command += ["--hyperparams", str(tiny), "--search_space", str(space), "--heartbeat", "1"]
    command += ["--study_name", "workers", "--no_progress"]
    return command + (["--storage", storage] if storage else [])


def start_worker(command: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_until(condition, what: str, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"the worker exited ({process.returncode}) before {what}:\n{log.read_text()}"
            )
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def trials_of(tmp_path, storage, pid: int | None = None, state=None):
    try:
        trials = study_of(tmp_path, storage, "workers").get_trials(deepcopy=False)
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # not created yet, or being created
        return []
    return [
        t
        for t in trials
        if (pid is None or t.user_attrs.get("worker", "").endswith(f":{pid}"))
        and (state is None or t.state == state)
    ]


def test_two_workers_share_a_study_and_a_killed_workers_trial_fails(tmp_path, files, storage):
    """Two processes of one command: their trials land in one study, numbered once each; SIGKILL on
    one leaves its running trial failed (heartbeat), and the other finishes the study. Running the
    killed command again joins the same, finished study."""
    tiny, space = files
    command = worker_command(tiny, space, storage, n_trials=5)
    a = start_worker(command, tmp_path, tmp_path / "a.log")
    b = start_worker(command, tmp_path, tmp_path / "b.log")
    try:
        state = optuna.trial.TrialState

        def a_completed_one_and_runs_another():
            return trials_of(tmp_path, storage, a.pid, state.COMPLETE) and trials_of(
                tmp_path, storage, a.pid, state.RUNNING
            )

        killed = None
        for _ in range(20):  # bounded: A is caught between two trials at most a few times
            wait_until(a_completed_one_and_runs_another, "worker A ran a trial", a, tmp_path / "a.log")
            a.send_signal(signal.SIGSTOP)  # frozen: a trial it has running now stays unfinished
            time.sleep(0.2)  # (a write it had already sent lands first)
            running = trials_of(tmp_path, storage, a.pid, state.RUNNING)
            if running:
                killed = running[0].number
                break
            a.send_signal(signal.SIGCONT)  # it had just finished one: let it start the next
            time.sleep(0.05)
        assert killed is not None, "worker A was never caught with a trial running"
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=60)
        killed_at = time.monotonic()
        assert b.wait(timeout=DEADLINE_S) == 0, (tmp_path / "b.log").read_text()
    finally:
        for process in (a, b):
            if process.poll() is None:
                process.kill()
    trials = trials_of(tmp_path, storage)
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))  # none twice, none skipped
    complete = [t for t in trials if t.state == state.COMPLETE]
    # 5, or 6 when both workers found 4 finished at the same moment and each started the fifth
    assert 5 <= len(complete) <= 6
    workers = {t.user_attrs["worker"] for t in complete}
    assert any(w.endswith(f":{a.pid}") for w in workers) and any(w.endswith(f":{b.pid}") for w in workers)
    # B finished the study while the killed trial was still running, or after failing it
    assert trials[killed].state in (state.RUNNING, state.FAIL)

    time.sleep(max(0.0, killed_at + 3.5 - time.monotonic()))  # three silent heartbeats
    for trial in complete:  # each trial is a run directory evaluate.py loads, tagged with its trial
        config = rundir.load_config(Path(trial.user_attrs["run_dir"]))
        assert config.study == {"name": "workers", "trial": trial.number}
        assert config.hyperparams["learning_rate"] == trial.params["learning_rate"]
        assert config.env_kwargs["effort_weight"] == trial.params["env_kwargs.effort_weight"]

    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_S)
    assert again.returncode == 0, again.stderr
    after = trials_of(tmp_path, storage)
    assert len(after) == len(trials)  # nothing was missing
    assert after[killed].state == state.FAIL  # the silent trial is failed by the next worker to look
    report = json.loads((tmp_path / "logs" / "studies" / "workers" / "study.json").read_text())
    assert report["complete"] == len(complete) and report["fail"] == 1 and report["running"] == 0
    assert report["best"]["value"] == max(t.value for t in complete)


def test_running_a_killed_command_again_runs_the_missing_trials(tmp_path, files, storage):
    tiny, space = files
    command = worker_command(tiny, space, storage, n_trials=3)
    log = tmp_path / "first.log"
    first = start_worker(command, tmp_path, log)
    state = optuna.trial.TrialState
    try:
        wait_until(
            lambda: (
                trials_of(tmp_path, storage, first.pid, state.COMPLETE)
                and trials_of(tmp_path, storage, first.pid, state.RUNNING)
            ),
            "the first trial",
            first,
            log,
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    again = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_S)
    assert again.returncode == 0, again.stderr
    trials = trials_of(tmp_path, storage)
    assert [t.state for t in trials].count(state.COMPLETE) == 3
    assert [t.state for t in trials].count(state.FAIL) == 1  # the killed one, failed by its silence


# -- in one process -----------------------------------------------------------------------------------
def spec_of(tmp_path: Path, tiny: Path, space: Path, **changes) -> StudySpec:
    request = RunRequest(env="MuscleArmReach-v0", hyperparams_file=tiny)
    return StudySpec(request, **{"n_trials": 2, "logs": tmp_path / "logs", "search_space": space, **changes})


def test_best_hyperparams_file_reproduces_the_best_trials_settings(tmp_path, files):
    tiny, space = files
    spec = spec_of(tmp_path, tiny, space, study_name="best", n_trials=3)
    spec = spec.replace(request=spec.request.replace(total_timesteps=768))  # as --total_timesteps 768
    summary, folder = run_study(spec, QUIET, n_jobs=2)
    assert summary["complete"] == 3 and len({t["run_dir"] for t in summary["top"]}) == 3
    best = summary["best"]
    trial_config = rundir.load_config(Path(best["run_dir"]))
    assert trial_config.total_timesteps == 768
    # best_hyperparams.yml (the tiny file's keys, the command line's and the sampled ones) with the
    # trial's env options
    # gives the trial's configuration again
    again = new_run_config(
        RunRequest(
            env="MuscleArmReach-v0",
            hyperparams_file=folder / "best_hyperparams.yml",
            env_kwargs=trial_config.env_kwargs,
        )
    )
    assert again.hyperparams == trial_config.hyperparams
    assert (again.n_envs, again.total_timesteps) == (trial_config.n_envs, trial_config.total_timesteps)
    assert best["value"] == objective_value(rundir.read_csv(Path(best["run_dir"]) / "evaluations.csv")[-1])
    assert (folder / "optimization_history.png").stat().st_size > 0
    table = (folder / "trials.md").read_text()
    assert f"| {best['trial']} |" in table and "learning_rate" in table


def test_seeds_run_one_configuration_and_summarize_its_spread(tmp_path, files):
    tiny, space = files
    request = RunRequest(env="MuscleArmReach-v0", hyperparams_file=tiny, seed=3)
    spec = StudySpec(request, logs=tmp_path / "logs", seeds=3)
    summary, folder = run_study(spec, QUIET)
    seeds = summary["seeds"]
    assert seeds["seed"] == [3, 4, 5]
    rates = []
    for trial in summary["top"]:
        config = rundir.load_config(Path(trial["run_dir"]))
        assert config.seed == trial["params"]["seed"]
        rates.append(
            (
                config.seed,
                float(rundir.read_csv(Path(trial["run_dir"]) / "evaluations.csv")[-1]["success_rate"]),
            )
        )
    assert seeds["success_rate"] == [rate for _, rate in sorted(rates)]
    assert math.isclose(seeds["mean"], sum(seeds["success_rate"]) / 3)
    assert (folder / "seeds.png").is_file() and not (folder / "best_hyperparams.yml").exists()


def test_a_pruned_trial_stops_its_run_which_keeps_what_it_had(tmp_path, files):
    """The pruner is asked at every evaluation; a pruned run ends early, saved and evaluable."""
    tiny, space = files
    study = resolve(spec_of(tmp_path, tiny, space))
    handle = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    handle.optimize(lambda trial: run_trial(study, trial, QUIET), n_trials=1)
    trial = handle.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [512]  # pruned at the first evaluation, of 2
    run_dir = Path(trial.user_attrs["run_dir"])
    assert (run_dir / rundir.MODEL_FILE).is_file()
    assert len(rundir.read_csv(run_dir / "evaluations.csv")) == 1


def test_objective_ranks_by_success_then_return():
    assert objective_value({"success_rate": 0.5, "mean_reward": -1e39}) > objective_value(
        {"success_rate": 0.5 - 1e-4, "mean_reward": 1e39}
    )  # one episode in 10,000 outweighs any return
    assert objective_value({"success_rate": 0.5, "mean_reward": 1100.0}) > objective_value(
        {"success_rate": 0.5, "mean_reward": 1000.0}
    )
    assert objective_value({"success_rate": 1.0, "mean_reward": 0.0}) == 1.0
    assert 2 * TIE_BREAK * math.asinh(1e40) < 1e-4


def test_trial_settings_reach_into_mappings_and_env_options():
    config = new_run_config(
        RunRequest(env="MuscleArmReach-v0", hyperparams={"policy_kwargs": TINY["policy_kwargs"]})
    )
    overrides, env_kwargs = trial_settings(
        config,
        {"policy_kwargs.log_std_init": -1.5, "n_epochs": 3, "env_kwargs.effort_weight": 0.25},
    )
    assert overrides == {"policy_kwargs": {"net_arch": [16], "log_std_init": -1.5}, "n_epochs": 3}
    assert env_kwargs == {"effort_weight": 0.25}
    deeper, _ = trial_settings(config, {"policy_kwargs.features_extractor_kwargs.place_cells": [4, 4]})
    assert deeper["policy_kwargs"]["features_extractor_kwargs"] == {"place_cells": [4, 4]}
    with pytest.raises(RunError, match="net_arch is not a mapping"):
        trial_settings(config, {"policy_kwargs.net_arch.width": 3})
    assert config.hyperparams["policy_kwargs"] == {"net_arch": [16]}  # the base is left as it was


@pytest.mark.parametrize("algo", ["ppo", "recurrent_ppo", "sac", "td3"])
def test_every_shipped_search_space_samples_runs_that_start(algo):
    """Each algorithm's shipped space, sampled 20 times, gives configurations a run starts with."""
    request = RunRequest(env="MuscleArmReach-v0", algo=algo)
    study = resolve(StudySpec(request))
    handle = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = handle.ask()
        values = {d.key: d.suggest(trial) for d in study.space}
        overrides, env_kwargs = trial_settings(study.base, values)
        config = new_run_config(request.replace(hyperparams=overrides, env_kwargs=env_kwargs))
        assert config.algo == algo
        handle.tell(trial, 0.0)
    assert {d.key for d in read_search_space(algo)} <= set(handle.trials[-1].params)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"lr": {"low": 1.0, "high": 0.5}}, "low < high"),
        ({"lr": {"low": 0.0, "high": 1.0, "log": True}}, "log scale needs low > 0"),
        ({"lr": {"choices": [[64, 64]]}}, "name other values"),
        ({"lr": {"low": 1, "hi": 2}}, "unknown fields ['hi']"),
        ({"lr": [1, 2]}, "must be a mapping"),
    ],
)
def test_bad_search_spaces_are_named(tmp_path, spec, message):
    path = write_yaml(tmp_path / "space.yml", {"ppo": spec})
    with pytest.raises(RunError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_search_space("ppo", path)
    with pytest.raises(RunError, match="no search space for sac"):
        read_search_space("sac", path)


def test_a_study_refuses_what_it_cannot_run(tmp_path, files):
    tiny, space = files
    spec = spec_of(tmp_path, tiny, space)
    with pytest.raises(RunError, match="storage must be a database URL"):
        resolve(spec.replace(storage="redis://127.0.0.1/0"))
    with pytest.raises(RunError, match="cannot open the study storage postgresql://u:\\*\\*\\*@") as refused:
        run_study(spec.replace(storage=f"postgresql://u:secret@127.0.0.1:{free_port()}/db"), QUIET)
    assert "secret" not in str(refused.value)
    with pytest.raises(RunError, match="eval_freq must be > 0"):
        resolve(spec.replace(request=spec.request.replace(hyperparams={"eval_freq": 0})))
    typo = write_yaml(tmp_path / "typo.yml", {"ppo": {"n_epoch": {"choices": [1, 2]}}})
    with pytest.raises(RunError, match="does not fit the run.*n_epochs"):
        resolve(spec.replace(search_space=typo))
    run_study(spec.replace(n_trials=1, study_name="same"), QUIET)
    other = write_yaml(tmp_path / "other.yml", {"ppo": {"learning_rate": SPACE["ppo"]["learning_rate"]}})
    with pytest.raises(RunError, match="'same' .* was started with other settings \\(space: "):
        run_study(spec.replace(study_name="same", search_space=other), QUIET)


def test_the_command_line_names_study_options_without_a_study(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "train_sb3.py"), "--n_trials", "5", "--storage", "sqlite:///x.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--n_trials, --storage belong to a study: add --optimize" in result.stderr
    assert not (tmp_path / "logs").exists()


def test_trial_reporter_reports_each_evaluation_and_never_prunes_a_finished_run():
    handle = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.9))
    trial = handle.ask()
    reporter = TrialReporter(trial, final_step=200)
    with pytest.raises(optuna.TrialPruned, match="pruned at step 100: success 25%"):
        reporter(100, {"success_rate": 0.25, "mean_reward": 3.0})
    reporter(200, {"success_rate": 0.5, "mean_reward": 2.0})  # the end of its budget: it completes
    assert reporter.last["success_rate"] == 0.5
    handle.tell(trial, 0.5)
    assert handle.trials[0].intermediate_values == {
        100: objective_value({"success_rate": 0.25, "mean_reward": 3.0}),
        200: objective_value({"success_rate": 0.5, "mean_reward": 2.0}),
    }


def test_dimension_values_are_what_the_run_gets():
    named = Dimension.parse("net", {"choices": {"small": [64, 64], "large": [256, 256]}}, "f")
    assert named.labels == ("small", "large") and named.values == ([64, 64], [256, 256])
    trial = optuna.trial.FixedTrial({"net": "large", "k": 4})
    assert named.suggest(trial) == [256, 256]
    assert Dimension.parse("k", {"low": 1, "high": 8, "int": True}, "f").suggest(trial) == 4


# -- MLflow --------------------------------------------------------------------------------------------
def tiny_request(**changes) -> RunRequest:
    return RunRequest(env="MuscleArmReach-v0", hyperparams={**TINY, "checkpoint_freq": 512}, **changes)


def check_mlflow_run(client, run_id: str, run_dir: Path, evaluations: int) -> None:
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["env"] == "MuscleArmReach-v0" and run.data.params["hyperparams.n_steps"] == "256"
    history = client.get_metric_history(run_id, "eval/success_rate")
    rows = rundir.read_csv(run_dir / "evaluations.csv")
    assert [m.step for m in history] == [int(row["step"]) for row in rows] and len(rows) == evaluations
    assert [m.value for m in history] == [float(row["success_rate"]) for row in rows]
    artifacts = {a.path for a in client.list_artifacts(run_id, "model")}
    assert {"model/final_model.zip", "model/config.yml", "model/vec_normalize.pkl"} <= artifacts


def test_mlflow_embedded_store_records_a_run_and_its_resumption(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    session = Session(progress=False, mlflow=MlflowOptions(uri, "tests"))
    run_dir = start_run(new_run_config(tiny_request()), tmp_path / "run", session)
    run_id = rundir.load_config(run_dir).mlflow_run_id
    client = MlflowClient(uri)
    check_mlflow_run(client, run_id, run_dir, evaluations=2)
    resume_run(run_dir, session, total_timesteps=1536)  # the same MLflow run continues
    assert rundir.load_config(run_dir).mlflow_run_id == run_id
    check_mlflow_run(client, run_id, run_dir, evaluations=3)
    assert (tmp_path / "mlartifacts").is_dir()  # artifacts beside the database
    assert len(client.search_runs([client.get_experiment_by_name("tests").experiment_id])) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def mlflow_server(tmp_path):
    """A real `mlflow server` on a loopback port, its SQLite store and artifacts in tmp_path."""
    port = free_port()
    log = (tmp_path / "mlflow-server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
        + ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--workers", "1"]
        + ["--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server's helpers go with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"mlflow server did not start: {(tmp_path / 'mlflow-server.log').read_text()}"
                )
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def test_mlflow_server_receives_the_run_from_the_command_line(tmp_path, mlflow_server):
    from mlflow import MlflowClient

    tiny = write_yaml(tmp_path / "tiny.yml", TINY)
    result = subprocess.run(
        [sys.executable, str(ROOT / "train_sb3.py"), "--hyperparams", str(tiny), "--no_progress"]
        + ["--run_dir", str(tmp_path / "run"), "--mlflow", mlflow_server],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "WANDB_MODE": "disabled"},
        timeout=DEADLINE_S,
    )
    assert result.returncode == 0, result.stderr
    run_id = rundir.load_config(tmp_path / "run").mlflow_run_id
    check_mlflow_run(MlflowClient(mlflow_server), run_id, tmp_path / "run", evaluations=2)
    stored = list((tmp_path / "server-artifacts").rglob("final_model.zip"))  # on the server's side
    assert len(stored) == 1 and stored[0].read_bytes() == (tmp_path / "run" / rundir.MODEL_FILE).read_bytes()


def test_an_unreachable_mlflow_server_is_an_error_before_anything_is_written(tmp_path, monkeypatch):
    session = Session(progress=False, mlflow=MlflowOptions(f"http://127.0.0.1:{free_port()}"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(RunError, match="MLflow at http://127.0.0.1"):
        start_run(new_run_config(tiny_request()), tmp_path / "run", session)
    assert not (tmp_path / "run").exists()


def test_workers_opening_a_new_database_at_once_all_get_it(tmp_path, files):
    """Workers started together race to create a new database's tables; each gets the storage."""
    tiny, space = files
    study = resolve(spec_of(tmp_path, tiny, space))
    barrier = threading.Barrier(6)

    def open_storage(_):
        barrier.wait()
        return storage_of(study)

    with ThreadPoolExecutor(6) as pool:
        storages = list(pool.map(open_storage, range(6)))
    assert len(storages) == 6
