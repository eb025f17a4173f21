"""Distillation (teacher -> recurrent student) and CMA-ES: the fitting, the relabelling, the search and
its resumption, and both as train_sb3.py runs that evaluate.py reloads."""

import json
import pickle

import numpy as np
import pytest
import torch
import yaml
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize
from test_training import interrupt_when_evaluated, run, tiny_hyperparams, train_args

from muscle_analysis.recording import Recording
from muscle_envs.arm_multitask import TASK_NAMES
from muscle_envs.observations import CATEGORICAL, PRIVILEGED, PROPRIOCEPTION
from muscle_train import envs, rollouts, rundir
from muscle_train.config import RunConfig, RunError, Session
from muscle_train.trainers import distillation, evolution
from policies import actor_means, initial_state, policy_spec

# The arm with one target and one hold time, starting at the target (the workspace, from which starts
# are drawn too, is that one point): hold the hand there. A simple landscape for a tiny CMA-ES budget.
FIXED_TARGET = {
    "workspace_x": [0.35, 0.35],
    "workspace_z": [0.5, 0.5],
    "min_start_distance": 0.0,
    "hold_duration": [0.3, 0.3],
}
TINY_STUDENT = {"lstm_hidden_size": 16, "net_arch": [], "enable_critic_lstm": False}
TINY_CONTROLLER = {
    **TINY_STUDENT,
    "lstm_hidden_size": 8,
    "features_extractor_kwargs": {"place_cells": [2, 2]},
}


@pytest.fixture(scope="module")
def venv():
    vec = envs.make_vec_env("MuscleArmReach-v0", {}, 2, "dummy", 0)
    yield vec
    vec.close()


@pytest.fixture(scope="module")
def teacher(venv):
    """An untrained PPO MLP whose action head is scaled up, so that its actions vary over the whole
    range with the observation (a freshly initialized head acts ~0 everywhere: too easy to copy)."""
    torch.manual_seed(0)
    model = PPO("MultiInputPolicy", venv, seed=0, policy_kwargs={"net_arch": [32]})
    with torch.no_grad():
        torch.nn.init.normal_(model.policy.action_net.weight, std=0.5)
    return distillation.Controller(model, None)


def student_model(venv, name="gru", **policy_kwargs):
    spec = policy_spec(name, **{**TINY_STUDENT, **policy_kwargs})
    return RecurrentPPO(spec.policy, venv, policy_kwargs=spec.policy_kwargs, seed=0, device="cpu")


def predict_along(model, episode) -> np.ndarray:
    """The actions ``model.predict`` (evaluate.py's path) takes step by step along a recorded episode."""
    actions, state = [], None
    for t in range(len(episode)):
        obs = {key: value[t] for key, value in episode.observations.items()}
        action, state = model.predict(obs, state=state, episode_start=np.array([t == 0]), deterministic=True)
        actions.append(action)
    return np.array(actions)


def test_student_matches_the_teacher_on_its_training_data(venv, teacher):
    episodes, _ = distillation.collect(venv, teacher, 4, seed=3)
    student = student_model(venv, lstm_hidden_size=32)
    dataset = distillation.Dataset(None)
    dataset.add(episodes)
    before = np.mean([np.mean((predict_along(student, e) - e.actions) ** 2) for e in episodes])
    settings = distillation.Settings(epochs=60, batch_size=4, seq_len=50, learning_rate=3e-3)
    optimizer = torch.optim.Adam(student.policy.parameters(), lr=settings.learning_rate)
    losses = distillation.fit(
        student.policy, dataset, settings, optimizer, np.random.default_rng(0), progress=False
    )
    after = np.mean([np.mean((predict_along(student, e) - e.actions) ** 2) for e in episodes])
    assert before > 0.3  # the teacher's actions span the range: an untrained student is far off
    assert after < 0.03 and after < before / 20, (before, after)
    assert losses[-1] < losses[0] / 10
    # The sequence loss is the step-by-step path's error (both clip nothing here: |action| < 1 mostly)
    assert abs(losses[-1] - after) < 0.02


def test_actor_means_along_a_sequence_equal_step_by_step_predict(venv):
    for name in ("rnn", "gru", "lstm", "sensory_rnn", "sensory_lstm"):
        model = student_model(venv, name)
        obs = venv.reset()
        sequence, actions, state, starts = [], [], None, np.ones(2, dtype=bool)
        for _ in range(6):
            sequence.append(obs)
            # predict clips to the env's [-1, 1] action space; compare within it
            action, state = model.predict(obs, state=state, episode_start=starts, deterministic=True)
            actions.append(action)
            obs, _, _, _ = venv.step(action)
            starts = np.zeros(2, dtype=bool)
        tensors = {k: torch.as_tensor(np.stack([o[k] for o in sequence])) for k in sequence[0]}
        with torch.no_grad():
            means, _ = actor_means(model.policy, tensors, initial_state(model.policy, 2))
        np.testing.assert_allclose(np.clip(means.numpy(), -1, 1), np.array(actions), atol=1e-5, err_msg=name)


def test_dagger_follows_the_student_and_labels_its_states_with_the_teacher(venv, teacher):
    student = distillation.Controller(student_model(venv), None)
    visited, records = distillation.collect(venv, teacher, 2, seed=5, actor=student)
    for episode in visited:
        # the labels are the teacher's actions at the states the student visited ...
        taught = teacher.model.predict(episode.observations, deterministic=True)[0]
        np.testing.assert_allclose(episode.actions, taught, atol=1e-6)
        # ... which are not what the student did there
        assert np.abs(predict_along(student.model, episode) - episode.actions).mean() > 0.1
    # and the trajectories are the student's own: its returns, episode for episode
    venv.seed(5)
    alone = rollouts.run_episodes(student.model, venv, 2)
    assert sorted(r["return"] for r in records) == pytest.approx(sorted(r["return"] for r in alone))


def test_student_normalizer_takes_the_teachers_statistics_and_keeps_raw_what_the_policy_models(venv, teacher):
    normalized = envs.make_vec_env("MuscleArmReach-v0", {}, 2, "dummy", 0)

    teacher_norm = VecNormalize(normalized, training=True)
    teacher_norm.reset()
    rng = np.random.default_rng(0)
    for _ in range(20):
        teacher_norm.step(rng.uniform(-1, 1, (2, 4)).astype(np.float32))
    episodes, _ = distillation.collect(venv, teacher, 2, seed=1)
    raw = policy_spec("sensory_rnn").raw_observation_keys
    student_norm = distillation.student_normalizer(venv, teacher_norm, raw, episodes)
    assert set(student_norm.norm_obs_keys) == set(venv.observation_space.spaces) - set(raw)
    for key in student_norm.norm_obs_keys:
        np.testing.assert_array_equal(student_norm.obs_rms[key].mean, teacher_norm.obs_rms[key].mean)
    assert not student_norm.training and not student_norm.norm_reward
    # without a teacher normalizer, the statistics come from the demonstrations
    own = distillation.student_normalizer(venv, None, raw, episodes)
    vision = np.concatenate([e.observations["vision"] for e in episodes])
    np.testing.assert_allclose(own.obs_rms["vision"].mean, vision.mean(axis=0), rtol=1e-6)
    normalized.close()


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    """A PPO run of a few thousand steps: enough to test the distillation's plumbing."""
    tmp = tmp_path_factory.mktemp("teacher")
    result = run(*train_args(tmp / "run", tiny_hyperparams(tmp), "--vec_env", "dummy", steps=2048))
    assert result.returncode == 0, result.stderr
    return tmp / "run"


def tiny_distill(tmp_path, **changes):
    settings = {
        "n_envs": 2,
        "demo_episodes": 4,
        "dagger_rounds": 1,
        "dagger_episodes": 2,
        "epochs": 2,
        "n_eval_episodes": 2,
        "compare_episodes": 3,
        "policy_kwargs": TINY_STUDENT,
        **changes,
    }
    path = tmp_path / "distill.yml"
    path.write_text(yaml.safe_dump(settings))
    return path


def test_distill_run_writes_a_run_dir_that_evaluate_loads(teacher_run, tmp_path):
    run_dir = tmp_path / "student"
    args = [
        "--teacher",
        str(teacher_run),
        "--policy",
        "sensory_gru",
        "--hyperparams",
        str(tiny_distill(tmp_path)),
    ]
    result = run("train_sb3.py", *args, "--run_dir", str(run_dir), "--no_progress")
    assert result.returncode == 0, result.stderr
    config = rundir.load_config(run_dir)
    assert config.algo == "distill" and config.teacher == str(teacher_run)
    assert config.env == "MuscleArmReach-v0" and config.policy == "sensory_gru"
    report = json.loads((run_dir / distillation.REPORT_FILE).read_text())
    assert [r["round"] for r in report["rounds"]] == [0, 1]
    assert report["rounds"][1]["dataset_steps"] > report["rounds"][0]["dataset_steps"]  # DAgger added data
    assert report["student"]["n_episodes"] == report["teacher"]["n_episodes"] == 3
    teacher_success = report["teacher"]["success_rate"]
    expected = report["student"]["success_rate"] / teacher_success if teacher_success > 0 else None
    assert report["success_ratio"] == expected
    assert len(rundir.read_csv(run_dir / rundir.EVALUATIONS_FILE)) == 2  # one per fit
    # the student's normalizer keeps its muscle entries raw and copies the teacher's statistics
    with open(run_dir / rundir.NORMALIZER_FILE, "rb") as f:
        student_norm = pickle.load(f)
    with open(teacher_run / rundir.NORMALIZER_FILE, "rb") as f:
        teacher_norm = pickle.load(f)
    assert not set(PROPRIOCEPTION) & set(student_norm.norm_obs_keys)
    np.testing.assert_array_equal(student_norm.obs_rms["vision"].var, teacher_norm.obs_rms["vision"].var)
    # evaluate.py reloads it like any run, and gets what the report says
    out = tmp_path / "eval.json"
    result = run("evaluate.py", str(run_dir), "--episodes", "3", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["mean_reward"] == pytest.approx(report["student"]["mean_reward"])
    # there is nothing to resume: said before anything (config.yml included) is touched
    before = (run_dir / rundir.CONFIG_FILE).read_text()
    result = run("train_sb3.py", "--resume", str(run_dir))
    assert result.returncode == 2 and "a distill run cannot be resumed" in result.stderr, result.stderr
    assert (run_dir / rundir.CONFIG_FILE).read_text() == before


def tiny_teacher_and_student(tmp_path, env_args: list[str], vec_env: str, student: str):
    """A teacher run (PPO, 128 steps) on ``env_args`` and its distilled ``student`` (tiny settings):
    their run directories."""
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    hyperparams = tiny_hyperparams(
        tmp_path, n_steps=64, batch_size=64, eval_freq=0, policy_kwargs={"net_arch": [16]}
    )
    result = run(*train_args(teacher_dir, hyperparams, *env_args, "--vec_env", vec_env, steps=128))
    assert result.returncode == 0, result.stderr
    distill = tiny_distill(tmp_path, policy_kwargs={**TINY_STUDENT, "lstm_hidden_size": 8})
    args = ["--teacher", str(teacher_dir), "--policy", student, "--hyperparams", str(distill)]
    result = run("train_sb3.py", *args, "--run_dir", str(student_dir), "--no_progress")
    assert result.returncode == 0, result.stderr
    return teacher_dir, student_dir


def test_distill_runs_on_the_80_muscle_legs(tmp_path):
    short = ["--env", "MyoLegsStand-v0", "--env_kwargs", "max_episode_steps=25"]
    _, student_dir = tiny_teacher_and_student(tmp_path, short, "dummy", "sensory_gru")
    report = json.loads((student_dir / distillation.REPORT_FILE).read_text())
    assert report["student"]["mean_episode_length"] <= 25 and len(report["rounds"]) == 2
    model = RecurrentPPO.load(student_dir / rundir.MODEL_FILE, device="cpu")
    assert model.action_space.shape == (80,)


def test_a_student_does_not_see_its_teachers_privileged_keys(tmp_path):
    """A teacher trained with the privileged desired position and velocity (MuscleArmMultiTask-v0) is
    distilled into a student that sees only seed 004's inputs, in training and in evaluation."""
    short = ["--env", "MuscleArmMultiTask-v0", "--env_kwargs", "privileged=True", "delays=[0]", "speeds=[0]"]
    teacher_dir, student_dir = tiny_teacher_and_student(tmp_path, short, "batched", "gru")
    config = rundir.load_config(student_dir)
    assert config.env_kwargs["privileged"] is True  # the teacher's env, seen through a filter
    assert config.observation_keys is not None
    assert not set(PRIVILEGED) & set(config.observation_keys) and "rule" in config.observation_keys
    model = RecurrentPPO.load(student_dir / rundir.MODEL_FILE, device="cpu")
    assert set(model.observation_space.spaces) == set(config.observation_keys)
    teacher = PPO.load(teacher_dir / rundir.MODEL_FILE, device="cpu")
    assert set(PRIVILEGED) <= set(teacher.observation_space.spaces)
    for run_dir in (teacher_dir, student_dir):  # the task's one-hot and the go cue stay codes
        statistics = json.loads((run_dir / rundir.NORMALIZER_FILE).with_suffix(".json").read_text())
        assert "vision" in statistics["norm_obs_keys"]
        assert not set(CATEGORICAL) & set(statistics["norm_obs_keys"])
    out = tmp_path / "eval.json"
    result = run("evaluate.py", str(student_dir), "--episodes", "4", "--json", str(out))
    assert result.returncode == 0, result.stderr
    results = json.loads(out.read_text())
    assert results["n_episodes"] == 4 and "task/task" not in results  # labels are not averaged
    assert sum(group["n_episodes"] for group in results["by_task"].values()) == 4  # per task (seed 004)
    assert set(results["by_task"]) <= set(TASK_NAMES) and set(results["by_speed"]) == {"fast"}
    assert "per task" in result.stdout
    few = ["--env_kwargs", "tasks=[HalfReach,Figure8]", "directions=2"]
    result = run("evaluate.py", str(student_dir), "--episodes", "1", "--plots", str(tmp_path / "fig"), *few)
    assert result.returncode == 0, result.stderr
    for figure in ("task_paths.png", "task_muscles.png"):  # seed 004's figures
        assert (tmp_path / "fig" / figure).stat().st_size > 10_000
    # the analyses per task and epoch: a recording labelled with both, the GRU's fixed points per task
    analysis_dir = tmp_path / "analysis"
    result = run(
        "evaluate.py", str(student_dir), "--episodes", "1", "--analysis", str(analysis_dir), *few[:2]
    )
    assert result.returncode == 0, result.stderr
    recording = Recording.load(analysis_dir / "recording.npz")
    assert recording.label_names["epoch"] == ["stable", "delay", "movement", "hold"]
    assert recording.label_names["task"] == list(TASK_NAMES)
    assert "obs.desired_position" not in recording.signals  # what the student sees
    assert set(np.unique(recording.labels["task"])) == {0.0, 8.0}  # HalfReach, Figure8
    assert set(np.unique(recording.labels["epoch"])) == {0.0, 2.0, 3.0}  # (delays=[0]: no delay epoch)
    analysis = json.loads((analysis_dir / "analysis.json").read_text())
    assert set(analysis["fixed_points"]) == {"HalfReach", "Figure8"}
    assert analysis["subspaces"]["epoch"]["names"] == ["stable", "movement", "hold"]
    assert "task (accuracy)" in analysis["decoding"]["scores"] and "by_task" in analysis["kinematics"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--algo", "distill"], "distill needs a teacher run (--teacher RUN_DIR)"),
        (["--algo", "ppo", "--teacher", "{teacher}"], "a teacher run (--teacher) is only for algo distill"),
        (["--teacher", "{teacher}", "--policy", "mlp"], "a distillation student is recurrent"),
        (["--teacher", "{teacher}", "--env", "MyoLegsStand-v0"], "the student learns on its teacher's env"),
        (["--teacher", "{tmp}"], "has no config.yml"),
        (["--algo", "cmaes", "--total_timesteps", "100"], "total_timesteps does not apply to cmaes"),
        (["--algo", "cmaes", "--hyperparams", "{tmp}/bad.yml"], "cmaes: sigma0 must be > 0"),
    ],
)
def test_bad_distill_and_cmaes_options_are_named(teacher_run, tmp_path, args, message):
    (tmp_path / "bad.yml").write_text("sigma0: 0\n")
    args = [a.format(teacher=teacher_run, tmp=tmp_path) for a in args]
    result = run("train_sb3.py", "--run_dir", str(tmp_path / "run"), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "run").exists() and "Traceback" not in result.stderr


def cmaes_config(generations: int, **changes) -> dict:
    settings = {
        "generations": generations,
        "popsize": 8,
        "fitness_episodes": 2,
        "sigma0": 0.3,
        "n_workers": 2,
        "eval_every": 2,
        "checkpoint_every": 2,
        "policy_kwargs": TINY_CONTROLLER,
        **changes,
    }
    return {
        "env": "MuscleArmReach-v0",
        "env_kwargs": FIXED_TARGET,
        "algo": "cmaes",
        "seed": 0,
        "policy": "sensory_rnn",
        "n_eval_episodes": 2,
        "normalize": False,
        "action_range": [-1.0, 1.0],
        "hyperparams": settings,
    }


def search(config: dict, run_dir, resume: bool = False):
    run_dir.mkdir(exist_ok=True)
    session = Session(progress=False, resume=resume, trust=resume)  # its state is a pickle
    evolution.search(RunConfig.from_dict(config), run_dir, session)
    es, _ = evolution.load_state(run_dir / evolution.STATE_FILE)
    return es


def test_cmaes_improves_the_fitness_and_resumes_where_it_stopped(tmp_path):
    config = cmaes_config(4)
    es = search(config, tmp_path / "whole")
    worker = evolution.FitnessWorker.create(RunConfig.from_dict(config))
    start = evolution.parameters_to_vector(worker.params).detach().numpy().copy()
    initial, *_ = worker.fitness(start, 0)
    mean, *_ = worker.fitness(es.result.xfavorite, 0)
    assert mean > initial + 5, (initial, mean)  # the distribution's mean, not only a lucky candidate
    # stopped after 2 generations (at a checkpoint) and resumed: the same search as one run of 4
    split = tmp_path / "split"
    search(cmaes_config(2), split)
    resumed = search(config, split, resume=True)
    assert resumed.countiter == es.countiter == 4
    np.testing.assert_array_equal(resumed.result.xfavorite, es.result.xfavorite)
    rows = rundir.read_csv(split / rundir.EVALUATIONS_FILE)
    assert [int(r["step"]) for r in rows] == [
        int(r["step"]) for r in rundir.read_csv(tmp_path / "whole" / rundir.EVALUATIONS_FILE)
    ]
    worker.venv.close()


@pytest.mark.parametrize("diagonal", [False, True])
def test_a_std_floor_keeps_the_search_from_contracting(diagonal):
    """``min_std``: on a sphere, where the search contracts without end, its step in every weight
    stays at the floor (the full and the diagonal covariance alike)."""
    steps = {}
    for floor in (0.0, 0.02):
        settings = evolution.Settings(sigma0=0.3, popsize=8, diagonal=diagonal, min_std=floor)
        es = evolution.new_search(np.ones(10), settings, seed=0)
        for _ in range(150):
            candidates = es.ask()
            es.tell(candidates, [float(np.sum(np.square(x))) for x in candidates])
        steps[floor] = es.stds.min()
    assert steps[0.0] < 0.002 and steps[0.02] >= 0.02 * (1 - 1e-9), steps
    with pytest.raises(RunError, match=r"min_std must be >= 0 and below sigma0 \(0.1\), got 0.5"):
        evolution.Settings(sigma0=0.1, min_std=0.5)


def test_each_generation_scores_all_its_candidates_on_the_same_new_episodes():
    """Common random numbers within a generation, fresh episodes across generations, none of them the
    periodic evaluation's; ``fresh_episodes: false`` keeps seed 000's one fixed set."""
    config = RunConfig.from_dict({**cmaes_config(1, fitness_episodes=3), "env_kwargs": {}})
    settings = evolution.Settings(**config.hyperparams)
    worker = evolution.FitnessWorker.create(config)
    start = evolution.parameters_to_vector(worker.params).detach().numpy()
    first, second = (evolution.episode_seed(config, settings, g) for g in (0, 1))
    assert worker.fitness(start, first) == worker.fitness(start, first)  # the same episodes
    assert worker.fitness(start, first).mean_return != worker.fitness(start, second).mean_return
    blocks = [
        set(range(s, s + 3)) for s in (evolution.episode_seed(config, settings, g) for g in range(5000))
    ]
    assert len(set().union(*blocks)) == 3 * 5000  # no episode seen twice
    held_out = set(range(config.seed + envs.EVAL_SEED_OFFSET, config.seed + envs.EVAL_SEED_OFFSET + 1000))
    assert not held_out & set().union(*blocks)
    fixed = evolution.Settings(**{**config.hyperparams, "fresh_episodes": False})
    assert {evolution.episode_seed(config, fixed, g) for g in range(10)} == {config.seed}
    worker.venv.close()


@pytest.mark.parametrize("policy", ["sensory_rnn", "gru", "mlp"])
def test_fitness_is_the_mean_return_evaluate_gives_on_the_same_episodes(policy):
    """The search's fast rollouts (one batch, actions without SB3's predict) are evaluate.py's."""
    config = {**cmaes_config(1, fitness_episodes=3), "env_kwargs": {}, "policy": policy}
    if policy != "sensory_rnn":  # the place-cell options are the sensory extractor's
        config["hyperparams"]["policy_kwargs"] = {"net_arch": [16]} if policy == "mlp" else TINY_STUDENT
    worker = evolution.FitnessWorker.create(RunConfig.from_dict(config))
    start = evolution.parameters_to_vector(worker.params).detach().numpy()
    candidate = start + 0.2 * np.random.default_rng(1).standard_normal(start.shape)
    mean_return, success, steps, error = worker.fitness(candidate, config["seed"])
    venv = envs.make_vec_env("MuscleArmReach-v0", {}, 3, "dummy", config["seed"])
    records = rollouts.run_episodes(worker.model, venv, 3)  # model.predict, as evaluate.py
    assert mean_return == pytest.approx(np.mean([r["return"] for r in records]), rel=1e-5, abs=1e-4)
    assert steps == sum(r["length"] for r in records) and error == ""
    venv.close()
    worker.venv.close()


def test_ctrl_c_stops_the_search_after_a_generation_and_keeps_it(tmp_path):
    run_dir = tmp_path / "run"
    path = tmp_path / "cmaes.yml"
    path.write_text(
        yaml.safe_dump({**cmaes_config(1000)["hyperparams"], "eval_every": 1, "checkpoint_every": 500})
    )
    command = ["train_sb3.py", "--algo", "cmaes", "--hyperparams", str(path), "--run_dir", str(run_dir)]
    # the first evaluation comes after the first generation
    process, stdout, stderr = interrupt_when_evaluated([*command, "--no_progress"], run_dir)
    assert process.returncode == 130, stderr  # interrupted, not finished
    assert "interrupted at generation" in stdout and "--resume" in stdout
    es, _ = evolution.load_state(run_dir / evolution.STATE_FILE)  # saved although no checkpoint was due
    assert 1 <= es.countiter < 1000
    model = RecurrentPPO.load(run_dir / rundir.MODEL_FILE, device="cpu")
    weights = evolution.parameters_to_vector(evolution.actor_parameters(model.policy)).detach().numpy()
    np.testing.assert_allclose(weights, es.result.xfavorite.astype(np.float32))


def test_cmaes_run_reloads_in_evaluate_and_logs_its_progress(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    settings = cmaes_config(2)["hyperparams"]
    path = tmp_path / "cmaes.yml"
    path.write_text(yaml.safe_dump({**settings, "n_eval_episodes": 2}))
    run_dir = tmp_path / "run"
    kwargs = [f"{key}={json.dumps(value)}" for key, value in FIXED_TARGET.items()]
    result = run(
        "train_sb3.py",
        "--algo",
        "cmaes",
        "--hyperparams",
        str(path),
        "--env_kwargs",
        *kwargs,
        "--run_dir",
        str(run_dir),
        "--no_progress",
    )
    assert result.returncode == 0, result.stderr
    events = EventAccumulator(str(run_dir / "tb" / "cmaes"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"fitness/best", "fitness/mean", "fitness/best_ever", "cmaes/sigma", "eval/success_rate"} <= tags
    assert len(events.Scalars("fitness/best")) == 2
    # each weight's step, which a floor (min_std) acts on, where the overall sigma hides it
    steps = {q: [e.value for e in events.Scalars(f"cmaes/std_{q}")] for q in ("min", "median", "max")}
    assert all(0 < lo <= mid <= hi for lo, mid, hi in zip(*steps.values(), strict=True)), steps
    out = tmp_path / "eval.json"
    result = run("evaluate.py", str(run_dir), "--episodes", "2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["n_episodes"] == 2
    # the model evaluate.py loads is the distribution's mean that the search state holds
    es, _ = evolution.load_state(run_dir / evolution.STATE_FILE)
    model = RecurrentPPO.load(run_dir / rundir.MODEL_FILE, device="cpu")
    weights = evolution.parameters_to_vector(evolution.actor_parameters(model.policy)).detach().numpy()
    np.testing.assert_allclose(weights, es.result.xfavorite.astype(np.float32))
