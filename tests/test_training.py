"""train_sb3.py and evaluate.py as a user runs them: tiny budgets, real files, real errors."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
import yaml
from stable_baselines3 import PPO
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from muscle_analysis.recording import Recording
from muscle_envs.observations import PROPRIOCEPTION
from muscle_train import config as mt_config
from muscle_train import envs, rollouts, rundir, training

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "n_steps": 256,
    "batch_size": 256,
    "n_epochs": 2,
    "eval_freq": 512,
    "n_eval_episodes": 2,
    "checkpoint_freq": 512,
}
RESULT_KEYS = {"success_rate", "mean_reward", "std_reward", "mean_episode_length", "n_episodes"}


def run(*args: str, wandb_mode: str = "disabled", timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": wandb_mode, "WANDB_SILENT": "true"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def tiny_hyperparams(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def train_args(run_dir: Path, hyperparams: Path, *extra: str, steps: int = 1024) -> list[str]:
    return [
        "train_sb3.py",
        "--total_timesteps",
        str(steps),
        "--n_envs",
        "2",
        "--run_dir",
        str(run_dir),
        "--hyperparams",
        str(hyperparams),
        "--no_progress",
        *extra,
    ]


def evaluate(*args: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    out = Path(args[-1]) if args[-2] == "--json" else None
    result = run("evaluate.py", *args)
    return result, json.loads(out.read_text()) if out and result.returncode == 0 else None


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory) -> Path:
    """PPO (mlp) on DummyVecEnv, trained in a process that checks it never imported wandb."""
    tmp = tmp_path_factory.mktemp("ppo")
    args = train_args(
        tmp / "run", tiny_hyperparams(tmp), "--vec_env", "dummy", "--env_kwargs", "effort_weight=0.1"
    )
    code = (
        "import sys; sys.argv = " + repr(args) + "; import train_sb3; train_sb3.main(sys.argv[1:]); "
        "assert 'wandb' not in sys.modules, 'wandb imported without --use_wandb'"
    )
    result = run("-c", code)
    assert result.returncode == 0, result.stderr
    return tmp / "run"


def interrupt_when_evaluated(
    args: list[str], run_dir: Path, signum: int = signal.SIGINT
) -> tuple[subprocess.Popen, str, str]:
    """Run ``python *args``, press Ctrl-C (or send ``signum``) once the run has written its first
    evaluation (training is under way), and wait for it to end: (process, stdout, stderr)."""
    env = {**os.environ, "WANDB_MODE": "disabled"}
    process = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while not (run_dir / rundir.EVALUATIONS_FILE).exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    return process, stdout, stderr


def scalar_tags(run_dir: Path) -> set[str]:
    (log_dir,) = (run_dir / "tb").iterdir()
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return set(events.Tags()["scalars"])


def test_run_directory_holds_models_normalizers_logs_and_config(ppo_run):
    for name in (
        "config.yml",
        "final_model.zip",
        "vec_normalize.pkl",
        "vec_normalize.json",  # the same statistics, loadable without running code
        "best_model.zip",
        "best_vec_normalize.pkl",
        "best_vec_normalize.json",
        "evaluations.csv",
    ):
        assert (ppo_run / name).is_file(), name
    assert [p.name for p in rundir.checkpoints(ppo_run)] == ["step_000000000512", "step_000000001024"]
    for checkpoint in rundir.checkpoints(ppo_run):
        saved = {"model.zip", "vec_normalize.pkl", "vec_normalize.json"}
        assert {p.name for p in checkpoint.iterdir()} == saved
    assert not list(ppo_run.rglob(".tmp-*"))  # atomic writes leave no temporaries
    assert sorted(p.name for p in (ppo_run / "monitor").iterdir()) == ["0.monitor.csv", "1.monitor.csv"]

    config = yaml.safe_load((ppo_run / "config.yml").read_text())
    assert config["env"] == "MuscleArmReach-v0" and config["algo"] == "ppo" and config["policy"] == "mlp"
    assert config["hyperparams"]["n_steps"] == 256  # --hyperparams over hyperparams.yml
    assert config["hyperparams"]["learning_rate"] == 3e-4  # hyperparams.yml's default kept
    assert config["env_kwargs"] == {"effort_weight": 0.1}
    assert config["env_config"]["effort_weight"] == 0.1 and config["env_config"]["frame_skip"] == 5
    assert "--total_timesteps 1024" in config["command"] and config["versions"]["stable-baselines3"]

    rows = (ppo_run / "evaluations.csv").read_text().splitlines()
    assert rows[0].startswith("step,wall_time_s,n_episodes,success_rate,mean_reward")
    assert [int(row.split(",")[0]) for row in rows[1:]] == [512, 1024]
    tags = scalar_tags(ppo_run)
    assert {
        "eval/success_rate",
        "eval/mean_reward",
        "eval/reward/distance",
        "eval/task/final_distance",
    } <= tags
    assert {
        "reward/distance",
        "reward/effort",
        "task/final_distance",
        "task/effort",
    } <= tags  # training episodes


def test_evaluate_run_dir_and_explicit_form_agree(ppo_run, tmp_path):
    by_run, results = evaluate(str(ppo_run), "--episodes", "4", "--json", str(tmp_path / "a.json"))
    assert by_run.returncode == 0, by_run.stderr
    assert "success rate" in by_run.stdout and "task/final_distance" in by_run.stdout
    assert RESULT_KEYS <= set(results) and results["n_episodes"] == 4
    assert 0.0 <= results["success_rate"] <= 1.0 and 1 <= results["mean_episode_length"] <= 200
    assert 0.0 < results["task/final_distance"] < 1.0 and 0.0 <= results["task/effort"] <= 1.0
    # reward terms add up to the return
    terms = sum(value for key, value in results.items() if key.startswith("reward/"))
    assert terms == pytest.approx(results["mean_reward"], rel=1e-6)

    # no config.yml beside the model: --env says which env, and only running the files' pickles
    # (--trust) can load them; then the numbers equal the run directory's pickle-free loading
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("final_model.zip", "vec_normalize.pkl"):
        shutil.copy(ppo_run / name, elsewhere / name)
    explicit_args = [
        "--model_path",
        str(elsewhere / "final_model.zip"),
        "--env_normalize_path",
        str(elsewhere / "vec_normalize.pkl"),
        "--env",
        "MuscleArmReach-v0",
        "--env_kwargs",
        "effort_weight=0.1",
        "--episodes",
        "4",
    ]
    refused, _ = evaluate(*explicit_args, "--json", str(tmp_path / "refused.json"))
    assert refused.returncode == 2 and "--trust" in refused.stderr, refused.stderr
    explicit, same = evaluate(*explicit_args, "--trust", "--json", str(tmp_path / "b.json"))
    assert explicit.returncode == 0, explicit.stderr
    assert {k: v for k, v in same.items() if k != "model"} == {
        k: v for k, v in results.items() if k != "model"
    }

    best, best_results = evaluate(
        str(ppo_run), "--load", "best", "--episodes", "2", "--json", str(tmp_path / "c")
    )
    assert best.returncode == 0, best.stderr
    assert best_results["model"].endswith("best_model.zip")


def test_mismatched_normalizer_is_named(ppo_run):
    result = run(
        "evaluate.py",
        "--model_path",
        str(ppo_run / "final_model.zip"),
        "--env_normalize_path",
        str(ppo_run / "vec_normalize.pkl"),
        "--env",
        "MuscleArm6Reach-v1",
    )
    assert result.returncode == 2
    assert "normalizer" in result.stderr and "muscle_length: (4,)" in result.stderr
    assert "muscle_length: (6,)" in result.stderr and "Traceback" not in result.stderr
    other_options = run("evaluate.py", str(ppo_run), "--env_kwargs", "vision=false")
    assert other_options.returncode == 2 and "other env_kwargs" in other_options.stderr


def test_bad_files_are_named(ppo_run, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(ppo_run / "config.yml", broken / "config.yml")
    missing = run("evaluate.py", str(broken))
    assert missing.returncode == 2 and "has no final_model.zip and no checkpoint" in missing.stderr
    (broken / "final_model.zip").write_bytes(b"not a zip file")
    for name in ("vec_normalize.pkl", "vec_normalize.json"):
        shutil.copy(ppo_run / name, broken / name)
    corrupt = run("evaluate.py", str(broken))
    assert corrupt.returncode == 2 and "not a readable SB3 model" in corrupt.stderr
    shutil.copy(ppo_run / "final_model.zip", broken / "final_model.zip")
    (broken / "vec_normalize.json").write_text("{not json")
    bad_statistics = run("evaluate.py", str(broken))
    assert (
        bad_statistics.returncode == 2
        and "not a readable normalizer statistics file" in bad_statistics.stderr
    )
    (broken / "vec_normalize.json").unlink()  # a pickle alone, and a broken one: named with --trust
    (broken / "vec_normalize.pkl").write_bytes(b"\x80\x04garbage")
    bad_pickle = run("evaluate.py", str(broken), "--trust")
    assert bad_pickle.returncode == 2 and "not a readable VecNormalize file" in bad_pickle.stderr
    errors = missing.stderr + corrupt.stderr + bad_statistics.stderr + bad_pickle.stderr
    assert "Traceback" not in errors


def test_recurrent_subproc_run_evaluates_with_video_and_figures(tmp_path):
    run_dir = tmp_path / "run"
    train = run(
        *train_args(run_dir, tiny_hyperparams(tmp_path), "--algo", "recurrent_ppo", "--vec_env", "subproc"),
    )
    assert train.returncode == 0, train.stderr
    config = yaml.safe_load((run_dir / "config.yml").read_text())
    assert config["policy"] == "sensory_lstm" and config["vec_env"] == "subproc"  # the recurrent default
    with open(run_dir / "vec_normalize.pkl", "rb") as f:
        normalized = set(pickle.load(f).norm_obs_keys)
    # spindles see physical units, place cells metres
    assert normalized and not normalized & {*PROPRIOCEPTION, "target"} and "vision" in normalized
    figures, video = tmp_path / "figures", tmp_path / "episode.mp4"
    result, results = evaluate(
        str(run_dir),
        "--episodes",
        "2",
        "--stochastic",
        "--video",
        str(video),
        "--video_episodes",
        "1",
        "--plots",
        str(figures),
        "--plot_episodes",
        "2",
        "--analysis",
        str(tmp_path / "analysis"),
        "--analysis_episodes",
        "3",
        "--json",
        str(tmp_path / "r.json"),
    )
    assert result.returncode == 0, result.stderr
    assert results["deterministic"] is False and results["n_episodes"] == 2
    expected = {"trajectories.png", "excitations.png", "afferents.png", "hidden_pca.png"}
    assert {p.name for p in figures.iterdir()} == expected
    listed = result.stdout.split("figures: ")[1].splitlines()[0].split(", ")
    assert {Path(path).name for path in listed} == expected  # the paths written, nothing else
    # the analyses of a sensory LSTM: its recording (state, cell, afferents), fixed points of its core
    analysis = json.loads((tmp_path / "analysis" / "analysis.json").read_text())
    recording = Recording.load(tmp_path / "analysis" / "recording.npz")
    assert recording.n_episodes == 3 and analysis["activity"] == "hidden"
    assert {"hidden", "cell", "ia", "ii", "ib", "excitation", "activation", "hand", "target"} <= set(
        recording.signals
    )
    assert {"pca", "jpca", "decoding", "synergies", "kinematics", "fixed_points"} <= set(analysis)
    assert analysis["fixed_points"]["all"]["starts"] > 0
    for figure in [*figures.iterdir(), *(tmp_path / "analysis" / name for name in analysis["figures"])]:
        assert imageio.imread(figure).shape[0] > 200  # a real image
    frames = imageio.mimread(video, memtest=False)
    assert 10 <= len(frames) <= 101 and frames[0].shape == (360, 480, 3)  # <= 200 steps at 50 fps
    assert np.ptp(np.stack(frames).astype(float)) > 0  # not blank


def test_sensory_policy_keeps_its_physical_inputs_out_of_the_normalizer(tmp_path):
    """A sensory policy's spindle and tendon-organ models need the muscle entries in their units,
    and its place cells the target in metres."""
    run_dir = tmp_path / "run"
    hyperparams = tiny_hyperparams(tmp_path, eval_freq=0)
    train = run(*train_args(run_dir, hyperparams, "--policy", "sensory_mlp", "--vec_env", "dummy", steps=512))
    assert train.returncode == 0, train.stderr
    with open(run_dir / "vec_normalize.pkl", "rb") as f:
        normalized = set(pickle.load(f).norm_obs_keys)
    assert normalized and not normalized & {*PROPRIOCEPTION, "target"} and "vision" in normalized


@pytest.mark.parametrize("vec_env", ["dummy", "batched"])  # SB3's Monitor; BatchedVecEnv's own writer
def test_resume_continues_the_step_count_and_the_logs(tmp_path, vec_env):
    run_dir = tmp_path / "run"
    first = run(*train_args(run_dir, tiny_hyperparams(tmp_path), "--vec_env", vec_env))
    assert first.returncode == 0, first.stderr
    monitors = sorted((run_dir / "monitor").iterdir())
    before = [path.read_text().splitlines() for path in monitors]
    again = run(*train_args(run_dir, tiny_hyperparams(tmp_path), "--vec_env", vec_env))
    assert again.returncode == 2 and "--resume" in again.stderr  # never overwrite a run
    resumed = run("train_sb3.py", "--resume", str(run_dir), "--total_timesteps", "2048", "--no_progress")
    assert resumed.returncode == 0, resumed.stderr
    for path, lines in zip(monitors, before, strict=True):  # the episode logs are appended to
        after = path.read_text().splitlines()
        assert after[: len(lines)] == lines and len(after) > len(lines) > 2, path
        assert sum(line.startswith("#") for line in after) == 1  # one header
    assert "from step_000000001024 (1,024 steps)" in resumed.stdout
    assert PPO.load(run_dir / "final_model.zip").num_timesteps == 2048
    steps = [int(row.split(",")[0]) for row in (run_dir / "evaluations.csv").read_text().splitlines()[1:]]
    assert steps == [512, 1024, 1536, 2048]
    assert [p.name for p in (run_dir / "tb").iterdir()] == ["PPO_1"]  # one continuous TensorBoard run
    config = yaml.safe_load((run_dir / "config.yml").read_text())
    assert "--total_timesteps 1024" in config["command"] and config["total_timesteps"] == 2048
    assert len(config["resumed"]) == 1 and "--resume" in config["resumed"][0]
    conflicting = run("train_sb3.py", "--resume", str(run_dir), "--n_envs", "4")
    assert conflicting.returncode == 2 and "drop --n_envs" in conflicting.stderr


@pytest.mark.parametrize(("vec_env", "signum"), [("subproc", signal.SIGINT), ("batched", signal.SIGTERM)])
def test_ctrl_c_leaves_a_loadable_model_and_normalizer(tmp_path, vec_env, signum):
    """Both with worker processes: training stops between steps, never with a reply half read, saves,
    and exits with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), as shells report it."""
    run_dir = tmp_path / "run"
    args = train_args(run_dir, tiny_hyperparams(tmp_path), "--vec_env", vec_env, steps=10_000_000)
    process, stdout, stderr = interrupt_when_evaluated(args, run_dir, signum)
    assert process.returncode == 128 + signum, stderr
    assert "interrupted at step" in stderr and "--resume" in stdout
    model = PPO.load(run_dir / "final_model.zip")
    assert 512 <= model.num_timesteps < 10_000_000
    assert rundir.checkpoints(run_dir)[-1].name == f"step_{model.num_timesteps:012d}"
    evaluation = run("evaluate.py", str(run_dir), "--episodes", "2")
    assert evaluation.returncode == 0, evaluation.stderr


def test_wandb_offline_run_leaves_a_local_run_with_video_and_model(tmp_path):
    run_dir = tmp_path / "run"
    hyperparams = tiny_hyperparams(tmp_path, eval_freq=0)  # one evaluation (and video) at the end
    args = train_args(run_dir, hyperparams, "--vec_env", "dummy", "--use_wandb", "--tags", "test", steps=512)
    result = run(*args, wandb_mode="offline")
    assert result.returncode == 0, result.stderr
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    assert list(offline.glob("*.wandb"))  # the run's record, synced later with `wandb sync`
    assert len(list((run_dir / "videos").glob("*.mp4"))) == 1
    config = yaml.safe_load((run_dir / "config.yml").read_text())
    assert config["wandb_id"] and offline.name.endswith(config["wandb_id"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--hyperparams", "{tmp}/typo.yml"],
            "unknown hyperparameter 'n_step' for ppo; did you mean 'n_steps'?",
        ),
        (["--policy", "sensory_lstm", "--algo", "ppo"], "policy 'sensory_lstm' is recurrent"),
        (["--policy", "mlp", "--algo", "recurrent_ppo"], "policy 'mlp' is feed-forward"),
        (["--policy", "mlp_bounded", "--algo", "sac"], "policy 'mlp_bounded' is PPO's only"),
        (["--env", "MuscleArmReech-v0"], "unknown env id 'MuscleArmReech-v0'"),
        (["--env_kwargs", "effort_wieght=0.1"], "rejected the env options {'effort_wieght': 0.1}"),
        (["--resume", "{tmp}/nothing"], "has no config.yml"),
    ],
)
def test_bad_options_are_named_before_any_work(tmp_path, args, message):
    (tmp_path / "typo.yml").write_text("n_step: 128\n")
    args = [a.format(tmp=tmp_path) for a in args]
    result = (
        run("train_sb3.py", "--run_dir", str(tmp_path / "run"), *args)
        if "--resume" not in args
        else run("train_sb3.py", *args)
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "run").exists() and "Traceback" not in result.stderr


def test_hyperparams_come_from_one_file_with_overrides(tmp_path):
    legs = training.load_hyperparams("ppo", "MyoLegsStand-v0")
    assert legs["total_timesteps"] == 3_000_000 and legs["policy_kwargs"]["net_arch"] == [256, 256]
    other = training.load_hyperparams("ppo", "CartPole-v1")  # not listed: the algorithm's default
    assert other["policy"] == "mlp" and other["n_steps"] == 1024
    override = tmp_path / "override.py"
    override.write_text("HYPERPARAMS = {'learning_rate': 1e-4, 'n_envs': 4}\n")
    merged = training.load_hyperparams("ppo", "MuscleArmReach-v0", override)
    assert merged["learning_rate"] == 1e-4 and merged["n_envs"] == 4 and merged["batch_size"] == 512
    run_settings, kwargs = training.split_hyperparams(merged)
    assert "n_envs" in run_settings and "n_envs" not in kwargs and kwargs["learning_rate"] == 1e-4
    for algo in rundir.ALGORITHMS:  # every shipped entry is valid for its algorithm
        table = yaml.safe_load(mt_config.hyperparams_file().read_text())[algo]
        for env_id in table:
            training.load_hyperparams(algo, env_id)


@pytest.mark.parametrize(
    ("env", "settings", "message"),
    [
        ("MuscleArmReach-v0", {"initial_action": "sideways"}, "initial_action must be one of"),
        ("MuscleArmReach-v0", {"initial_action": "holding"}, "MuscleArmReach-v0 has no holding excitation"),
        ("MuscleArmReach-v0", {"learning_rate": "fast"}, "learning_rate must be a number or 'lin_<start>'"),
        ("MuscleArmReach-v0", {"clip_range": "lin_x"}, "clip_range must be a number or 'lin_<start>'"),
        ("MuscleArmReach-v0", {"observation_keys": ["target", "hand"]}, r"\['hand'\] are not in MuscleArm"),
        ("MuscleArmReach-v0", {"observation_keys": []}, "observation_keys must be a non-empty list"),
        ("MuscleArmReach-v0", {"observation_keys": "target"}, "observation_keys must be a non-empty list"),
        ("MuscleArmReach-v0", {"observation_keys": ["target", "target"]}, "names a key twice"),
        ("MuscleArmReach-v0", {"final_action_std": 0}, "final_action_std must be a positive number"),
        ("MuscleArmReach-v0", {"final_action_std": "small"}, "final_action_std must be a positive number"),
        ("MuscleArmReach-v0", {"final_action_std": 0.1, "use_sde": True}, "ppo with use_sde has none"),
        ("MuscleArmReach-v0", {"normalizer_until": 0}, "a new run has none to keep"),
        ("MuscleArmReach-v0", {"normalizer_until": -0.5}, "normalizer_until must be a fraction"),
        ("MuscleArmReach-v0", {"normalizer_until": 1.5}, "normalizer_until must be a fraction"),
        ("MuscleArmReach-v0", {"normalizer_until": 0.5, "normalize": False}, "this run has none"),
        ("MuscleArmReach-v0", {"push_ramp": [0, 0.5]}, "MuscleArmReach-v0 has no pelvis pushes"),
        ("MyoLegsStand-v0", {"push_ramp": [0, 0.5]}, "MyoLegsStand-v0 has push_force 0"),
        ("MyoLegsStand-v0", {"push_ramp": [0.5, 0.2]}, r"0 <= start <= end <= 1, got \(0.5, 0.2\)"),
        ("MyoLegsStand-v0", {"push_ramp": 0.5}, "push_ramp must be \\[start, end\\]"),
    ],
)
def test_bad_training_settings_are_named(tmp_path, env, settings, message):
    path = tmp_path / "settings.yml"
    path.write_text(yaml.safe_dump(settings))
    with pytest.raises(mt_config.RunError, match=message):
        training.new_run_config(training.RunRequest(env=env, hyperparams_file=path))


def test_off_policy_algorithms_refuse_a_noise_schedule():
    with pytest.raises(mt_config.RunError, match="sac has none"):
        training.new_run_config(
            training.RunRequest(env="MuscleArmReach-v0", algo="sac", hyperparams={"final_action_std": 0.1})
        )


def test_the_exploration_noise_follows_its_schedule_and_is_not_learnt(tmp_path):
    """``final_action_std``: PPO's std falls log-linearly from ``log_std_init`` (the arm's 0: std 1) to
    the final std over training. Each update's logged std is the one scheduled before its rollout
    (the gradient steps do not move it: it is not learnt), and the final model keeps the final std."""
    run_dir = tmp_path / "run"
    hyperparams = tiny_hyperparams(tmp_path, final_action_std=0.1, eval_freq=0)
    result = run(*train_args(run_dir, hyperparams, steps=2048))
    assert result.returncode == 0, result.stderr
    (log_dir,) = (run_dir / "tb").iterdir()
    events = EventAccumulator(str(log_dir))
    events.Reload()
    logged = [event.value for event in events.Scalars("train/std")]
    # 2 envs x 256 steps per rollout: the first 3 of 4 updates (SB3 writes an update's figures after
    # the next rollout, so the last one's are not logged)
    assert logged == pytest.approx(0.1 ** (np.arange(3) * 512 / 2048), rel=1e-5)
    config = rundir.load_config(run_dir)
    assert config.final_action_std == 0.1
    venv = envs.make_run_vec_env(config, 1)
    model = rundir.load_model(run_dir / "final_model.zip", venv, config)
    venv.close()
    assert np.exp(model.policy.log_std.detach().numpy()) == pytest.approx(0.1)


def test_the_normalizer_freezes_at_its_fraction_of_training(tmp_path):
    """``normalizer_until: 0.5`` of 2,048 steps (2 envs x 256 per rollout): the statistics count the
    first 1,024 steps (and the 2 first observations), then no more; without it, all of them."""

    def counts(run_dir: Path) -> tuple[float, float]:
        saved = json.loads((run_dir / "vec_normalize.json").read_text())
        return saved["obs_rms"]["target"]["count"], saved["ret_rms"]["count"]

    for until, seen in ((0.5, 1024), (None, 2048)):
        run_dir = tmp_path / f"run_{until}"
        hyperparams = tiny_hyperparams(tmp_path, normalizer_until=until, eval_freq=0)
        result = run(*train_args(run_dir, hyperparams, steps=2048))
        assert result.returncode == 0, result.stderr
        assert rundir.load_config(run_dir).normalizer_until == until
        assert counts(run_dir) == pytest.approx((seen + 2, seen), abs=1e-3)


def test_the_training_pushes_grow_on_their_ramp(tmp_path):
    """``push_ramp: [0.25, 0.75]`` of 2,048 steps (2 envs x 256 per rollout): before each of the 4
    rollouts (at 0, 512, 1,024 and 1,536 steps) the training envs' pushes are set to 0, 0, 0.5 and 1
    of the env's push_force, and the setting round-trips through config.yml."""
    run_dir = tmp_path / "run"
    hyperparams = tiny_hyperparams(tmp_path, push_ramp=[0.25, 0.75], eval_freq=0)
    result = run(
        *train_args(
            run_dir, hyperparams, "--env", "MyoLegsStand-v0", "--env_kwargs", "push_force=300", steps=2048
        )
    )
    assert result.returncode == 0, result.stderr
    (log_dir,) = (run_dir / "tb").iterdir()
    events = EventAccumulator(str(log_dir))
    events.Reload()
    assert [event.value for event in events.Scalars("train/push_scale")] == pytest.approx([0, 0, 0.5, 1])
    config = rundir.load_config(run_dir)
    assert config.push_ramp == (0.25, 0.75)


def test_a_finetune_run_trains_all_of_its_source_on_changed_env_options(tmp_path):
    """``--finetune RUN``: a new run (steps from 0) on the source's env with the given options over
    its own, starting from the source's final model, all of whose weights train, and from its
    normalizer, whose statistics go on counting."""
    source_dir, finetune_dir = tmp_path / "source", tmp_path / "finetune"
    hyperparams = tiny_hyperparams(tmp_path, eval_freq=0)
    result = run(*train_args(source_dir, hyperparams, "--env_kwargs", "effort_weight=0.1", steps=512))
    assert result.returncode == 0, result.stderr
    source_model = source_dir / rundir.MODEL_FILE
    marked = PPO.load(source_model, device="cpu")
    with torch.no_grad():  # a mark far from any initialisation, to find in the finetuned model
        marked.policy.action_net.bias += 2.0
    marked.save(source_model)
    result = run(
        "train_sb3.py", "--finetune", str(source_dir), "--env_kwargs", "effort_weight=1",
        "--total_timesteps", "512", "--run_dir", str(finetune_dir), "--no_progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = rundir.load_config(finetune_dir)
    assert config.finetune == str(source_dir) and config.transfer is None
    assert config.env_kwargs == {"effort_weight": 1}
    before, after = (PPO.load(d / rundir.MODEL_FILE, device="cpu") for d in (source_dir, finetune_dir))
    assert after.num_timesteps == 512
    start, learned = dict(before.policy.named_parameters()), dict(after.policy.named_parameters())
    assert (learned["action_net.bias"] - start["action_net.bias"]).abs().max() < 0.1
    frozen = [name for name, value in start.items() if torch.equal(value, learned[name])]
    assert not frozen, f"{frozen} did not train"
    counts = [
        json.loads((d / "vec_normalize.json").read_text())["ret_rms"]["count"]
        for d in (source_dir, finetune_dir)
    ]
    assert counts[1] == pytest.approx(counts[0] + 512, abs=1)
    reseeded = finetune_dir.with_name("reseeded")  # --seed is this run's, not the source's
    result = run(
        "train_sb3.py", "--finetune", str(source_dir), "--env_kwargs", "effort_weight=1", "--seed", "1",
        "--total_timesteps", "512", "--run_dir", str(reseeded), "--no_progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    other = PPO.load(reseeded / rundir.MODEL_FILE, device="cpu")
    assert not torch.equal(other.policy.action_net.bias, after.policy.action_net.bias)
    both = run("train_sb3.py", "--finetune", str(source_dir), "--transfer", str(source_dir))
    assert both.returncode == 2 and "give one" in both.stderr, both.stderr


def test_a_finetune_trains_with_its_own_hyperparameters_and_the_noise_goes_on_from_its_source(tmp_path):
    """A finetune's hyperparameters over its source's: its learning rate and epochs are the ones the
    model trains with; ``final_action_std`` moves the std from where the source's ended (not from
    ``log_std_init``, which would throw a trained policy's small noise back up), and a resume keeps
    that start; ``normalizer_until: 0`` keeps the source's statistics."""
    source_dir, finetune_dir = tmp_path / "source", tmp_path / "finetune"
    result = run(*train_args(source_dir, tiny_hyperparams(tmp_path, final_action_std=0.1, eval_freq=0)))
    assert result.returncode == 0, result.stderr
    overrides = tmp_path / "finetune.yml"
    overrides.write_text(
        yaml.safe_dump(
            {"final_action_std": 0.05, "learning_rate": 1e-5, "n_epochs": 3, "normalizer_until": 0}
        )
    )
    result = run(
        "train_sb3.py", "--finetune", str(source_dir), "--hyperparams", str(overrides),
        "--total_timesteps", "1024", "--run_dir", str(finetune_dir), "--no_progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (log_dir,) = (finetune_dir / "tb").iterdir()
    events = EventAccumulator(str(log_dir))
    events.Reload()
    # 2 rollouts of 2 x 256 steps, the first update's figures logged: the source's final std
    assert [event.value for event in events.Scalars("train/std")] == pytest.approx([0.1], rel=1e-5)
    config = rundir.load_config(finetune_dir)
    venv = envs.make_run_vec_env(config, 1)
    model = rundir.load_model(finetune_dir / rundir.MODEL_FILE, venv, config)
    venv.close()
    assert np.exp(model.policy.log_std.detach().numpy()) == pytest.approx(0.05)
    assert model.policy_kwargs["log_std_init"] == pytest.approx(np.log(0.1))  # what a resume starts from
    assert model.n_epochs == 3 and model.lr_schedule(1.0) == pytest.approx(1e-5)
    counts = [
        json.loads((d / "vec_normalize.json").read_text())["obs_rms"]["target"]["count"]
        for d in (source_dir, finetune_dir)
    ]
    assert counts[1] == counts[0]


def test_a_derived_run_takes_its_sources_settings_but_not_its_identity(tmp_path):
    """A finetune (or transfer) config: the source's settings with the new env options, seed and
    budget; not the source's own source, study, tracking ids or command. What it takes from the
    source (env, algorithm, policy) cannot be given; hyperparameters (a study's sampled ones too) are
    given over the source's, but for those that make the model."""
    source = mt_config.RunConfig(
        env="MuscleArmReach-v0",
        algo="ppo",
        policy="mlp",
        env_kwargs={"vision": False},
        n_envs=4,
        vec_env="dummy",
        total_timesteps=1000,
        normalize={"norm_obs": True},
        eval_freq=0,
        checkpoint_freq=0,
        keep_checkpoints=1,
        hyperparams={"n_steps": 64},
        transfer="elsewhere",
        wandb_id="w",
        mlflow_run_id="m",
        study={"name": "s", "trial": 3},
        command="train_sb3.py ...",
    )
    (tmp_path / "config.yml").write_text(yaml.safe_dump(source.to_dict()))
    request = training.RunRequest(
        finetune=tmp_path, env_kwargs={"effort_weight": 1}, seed=5, total_timesteps=99
    )
    config = training.new_run_config(request)
    assert config.derived_from == ("finetune", tmp_path) and config.transfer is None
    assert config.env_kwargs == {"vision": False, "effort_weight": 1} and config.hyperparams == {
        "n_steps": 64
    }
    assert (config.seed, config.total_timesteps, config.n_envs) == (5, 99, 4)
    assert (config.wandb_id, config.mlflow_run_id, config.study, config.command) == (None,) * 4
    trained_on = training.new_run_config(
        request.replace(hyperparams={"learning_rate": 1e-4, "normalizer_until": 0, "n_envs": 2})
    )  # the training settings given over the source's, the rest the source's
    assert trained_on.hyperparams == {"n_steps": 64, "learning_rate": 1e-4}
    assert (trained_on.normalizer_until, trained_on.n_envs, trained_on.vec_env) == (0, 2, "dummy")
    for changes, message in [
        ({"env": "MyoLegsStand-v0"}, "drop --env"),
        ({"hyperparams": {"policy_kwargs": {"net_arch": [8]}}}, r"drop \['policy_kwargs'\]"),
        ({"hyperparams": {"learning_rat": 1e-4}}, "did you mean 'learning_rate'"),
        ({"transfer": tmp_path}, "give one"),
    ]:
        with pytest.raises(mt_config.RunError, match=message):
            training.new_run_config(request.replace(**changes))
    (tmp_path / "config.yml").write_text(yaml.safe_dump(source.replace(algo="sac").to_dict()))
    with pytest.raises(mt_config.RunError, match="a finetune starts from a PPO or RecurrentPPO run"):
        training.new_run_config(request)


def test_a_policy_that_refuses_its_policy_kwargs_is_named_before_the_run_starts(tmp_path):
    """CMA-ES's entry holds its recurrent controller's policy_kwargs; ``--policy mlp`` with them is
    refused in one line, and no run directory is left behind."""
    refused = r"policy 'mlp' cannot run on .*'lstm_hidden_size' \(the hyperparameters' policy_kwargs"
    with pytest.raises(mt_config.RunError, match=refused):
        training.new_run_config(training.RunRequest(algo="cmaes", policy="mlp"))
    result = run("train_sb3.py", "--algo", "cmaes", "--policy", "mlp", "--run_dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "cannot run on" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


def test_observation_keys_of_a_flat_observation_are_refused():
    with pytest.raises(mt_config.RunError, match="has a flat observation"):
        training.new_run_config(
            training.RunRequest(
                env="MyoLegsStand-v0",
                env_kwargs={"obs_layout": "seed003"},
                hyperparams={"observation_keys": ["joint_position"]},
            )
        )


def test_a_run_sees_only_its_observation_keys_and_evaluates_with_them(tmp_path):
    """``observation_keys`` in the hyperparameters: the policy is built on those keys alone, config.yml
    keeps them, and evaluation (which reads config.yml) feeds the saved model the same keys."""
    run_dir = tmp_path / "run"
    keys = ["muscle_length", "muscle_velocity", "target"]
    trained = run(
        *train_args(run_dir, tiny_hyperparams(tmp_path, observation_keys=keys, eval_freq=0), steps=512)
    )
    assert trained.returncode == 0, trained.stderr
    config = rundir.load_config(run_dir)
    assert config.observation_keys == tuple(keys)
    venv = envs.make_run_vec_env(config, 1)
    model = rundir.load_model(run_dir / "final_model.zip", venv, config)
    assert sorted(model.observation_space.spaces) == sorted(keys)
    venv.close()
    result, evaluation = evaluate(str(run_dir), "--episodes", "2", "--json", str(tmp_path / "e.json"))
    assert result.returncode == 0 and evaluation["n_episodes"] == 2, result.stderr


def test_policy_starts_at_the_holding_excitation_with_a_decaying_learning_rate(tmp_path):
    """``initial_action: holding`` starts the legs policy's mean at the holding excitation (the env's
    own, through the action rescaling); ``lin_`` decays the learning rate to 0, and a resumed run
    rebuilds the schedule from config.yml (no pickle); ``--load STEP`` evaluates a checkpoint."""
    run_dir = tmp_path / "run"
    hyperparams = tiny_hyperparams(
        tmp_path, initial_action="holding", learning_rate="lin_1.0e-3", n_epochs=1, eval_freq=0
    )
    first = run(
        *train_args(run_dir, hyperparams, "--env", "MyoLegsStand-v0", "--vec_env", "dummy", steps=512)
    )
    assert first.returncode == 0, first.stderr
    config = rundir.load_config(run_dir)
    assert config.initial_action == "holding" and config.hyperparams["learning_rate"] == "lin_1.0e-3"
    venv = envs.make_vec_env(config.env, {}, 1, "dummy", 0, action_range=config.action_range)
    holding = venv.env_method("holding_excitation")[0]
    checkpoint = rundir.checkpoints(run_dir)[0]
    venv = rundir.load_normalizer(checkpoint / rundir.CHECKPOINT_NORMALIZER, venv, training=False)
    model = rundir.load_model(checkpoint / rundir.CHECKPOINT_MODEL, venv, config)  # after one small update
    obs = venv.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert np.abs((action[0] + 1) / 2 - holding).max() < 0.1  # policy range [-1, 1] -> excitation [0, 1]
    assert np.abs((action[0] + 1) / 2 - 0.5).max() > 0.3  # far from SB3's own start, the middle
    assert model.lr_schedule(1.0) == pytest.approx(1e-3) and model.lr_schedule(0.25) == pytest.approx(2.5e-4)
    venv.close()
    resumed = run("train_sb3.py", "--resume", str(run_dir), "--total_timesteps", "1024", "--no_progress")
    assert resumed.returncode == 0, resumed.stderr
    steps = [int(p.name[5:]) for p in rundir.checkpoints(run_dir)]
    assert steps == [512, 1024]
    result, evaluation = evaluate(
        str(run_dir), "--load", "512", "--episodes", "1", "--json", str(tmp_path / "e.json")
    )
    assert result.returncode == 0 and evaluation["n_episodes"] == 1, result.stderr
    missing, _ = evaluate(
        str(run_dir), "--load", "700", "--episodes", "1", "--json", str(tmp_path / "m.json")
    )
    assert missing.returncode == 2 and "checkpoints ([512, 1024])" in missing.stderr


def test_a_diverged_run_says_so_and_keeps_its_earlier_checkpoints(tmp_path, monkeypatch):
    import torch

    from muscle_train.cli import train as cli_train

    calls = []
    original = PPO.train

    def diverging_train(self):
        calls.append(self.num_timesteps)
        if len(calls) == 3:  # the weights blow up, as a too large step would make them
            with torch.no_grad():
                self.policy.action_net.weight.fill_(float("nan"))
        original(self)

    monkeypatch.setattr(PPO, "train", diverging_train)
    run_dir = tmp_path / "run"
    args = train_args(run_dir, tiny_hyperparams(tmp_path), "--vec_env", "dummy", steps=2048)
    with pytest.raises(mt_config.RunError, match="training diverged at step 1,536"):
        cli_train.train(cli_train.parse_args(args[1:]))
    assert not (run_dir / rundir.MODEL_FILE).exists()
    kept = rundir.checkpoints(run_dir)
    assert [p.name for p in kept] == ["step_000000001024", "step_000000001536"]
    model = PPO.load(kept[-1] / rundir.CHECKPOINT_MODEL)
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())


def test_checkpoints_are_written_whole_and_pruned(tmp_path):
    venv = envs.make_vec_env("MuscleArmReach-v0", {}, 1, "dummy", 0)
    model = PPO("MultiInputPolicy", venv, n_steps=64, batch_size=64, device="cpu")
    (tmp_path / "checkpoints" / ".tmp-step_000000000099").mkdir(parents=True)  # a crash's leftovers
    for step in (100, 200, 300):
        model.num_timesteps = step
        rundir.save_checkpoint(model, venv, tmp_path, keep=2)
    assert [p.name for p in rundir.checkpoints(tmp_path)] == ["step_000000000200", "step_000000000300"]
    with zipfile.ZipFile(rundir.checkpoints(tmp_path)[-1] / "model.zip") as archive:
        assert archive.testzip() is None
    venv.close()


def test_episode_metrics_sum_the_reward_terms_and_ask_the_env():
    env = envs.make_env("MuscleArmReach-v0", {"effort_weight": 0.1}, mt_config.POLICY_ACTION_RANGE)
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    sums: dict[str, float] = {}
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
        for key in (k for k in info if k.startswith("reward_")):
            sums[key] = sums.get(key, 0.0) + info[key]
        done = terminated or truncated
        assert ("episode_metrics" in info) == done  # only on the last step
    metrics = info["episode_metrics"]
    assert {f"reward/{key[7:]}": value for key, value in sums.items()} == pytest.approx(
        {k: v for k, v in metrics.items() if k.startswith("reward/")}
    )
    assert metrics["task/final_distance"] == info["distance"]
    assert metrics["task/effort"] == pytest.approx(-sums["reward_effort"] / 0.1 / 200)
    env.close()


def test_run_episodes_counts_each_episode_once_and_spreads_them(tmp_path):
    class Constant:  # a "model": always the same action, no state
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return np.zeros((3, 4), dtype=np.float32), None

    venv = envs.make_vec_env("MuscleArmReach-v0", {}, 3, "dummy", 0)
    episodes = rollouts.run_episodes(Constant(), venv, 7)
    assert len(episodes) == 7 and all(e["length"] == 200 for e in episodes)
    summary = rollouts.summarize(episodes)
    assert summary["n_episodes"] == 7 and summary["success_rate"] == 0.0
    assert summary["task/reach_time"] is None or summary["task/reach_time"] > 0  # NaNs skipped
    assert summary["mean_reward"] == pytest.approx(np.mean([e["return"] for e in episodes]))
    venv.close()


@pytest.mark.parametrize("vec_env", ["subproc", "batched"])
@pytest.mark.parametrize("start_method", ["fork", "forkserver", "spawn"])
def test_training_workers_start_under_every_method(start_method, vec_env):
    venv = envs.make_vec_env("MuscleArmReach-v0", {}, 2, vec_env, 0, start_method=start_method)
    try:
        venv.reset()
        _, reward, _, _ = venv.step(np.zeros((2, 4), dtype=np.float32))
        assert reward.shape == (2,) and np.all(np.isfinite(reward))
    finally:
        venv.close()


def test_a_resumed_evaluation_keeps_the_best_model_so_far(tmp_path):
    from types import SimpleNamespace

    from muscle_train.callbacks import EvalCallback

    rows = [{"step": 512, "wall_time_s": 3.0, "success_rate": 0.9, "mean_reward": 50.0}]
    rows.append({"step": 1024, "wall_time_s": 6.5, "success_rate": 0.6, "mean_reward": 70.0})
    for row in rows:
        rundir.append_csv(tmp_path / rundir.EVALUATIONS_FILE, row)
    callback = EvalCallback(None, tmp_path, eval_freq=512, n_episodes=2, seed=0)
    callback.model = SimpleNamespace(num_timesteps=1024)
    callback._init_callback()
    assert callback.best == (0.9, 50.0)  # success first, then return
    assert callback._next == 1536 and callback.evaluation.wall_time >= 6.5  # the curve goes on


@pytest.mark.parametrize("damage", ["truncated", "garbage", "flipped", "missing"])
def test_resume_skips_an_unreadable_latest_checkpoint_and_changes_nothing_when_none_is_left(tmp_path, damage):
    run_dir = tmp_path / "run"
    hyperparams = tiny_hyperparams(tmp_path, keep_checkpoints=2)
    first = run(*train_args(run_dir, hyperparams, "--vec_env", "dummy"))
    assert first.returncode == 0, first.stderr
    earlier, latest = rundir.checkpoints(run_dir)
    model = latest / rundir.CHECKPOINT_MODEL
    if damage == "truncated":  # a run killed while writing, or a full disk
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif damage == "garbage":
        model.write_bytes(b"not a zip file")
    elif damage == "flipped":  # a zip that opens, with weights damaged since they were saved
        with zipfile.ZipFile(model) as archive:
            info = archive.getinfo("policy.pth")
        content = bytearray(model.read_bytes())
        content[info.header_offset + 30 + len(info.filename) + 100] ^= 0xFF  # a byte of the stored weights
        model.write_bytes(bytes(content))
    else:  # the normalizer is gone, statistics and pickle
        (latest / rundir.CHECKPOINT_NORMALIZER).unlink()
        rundir.statistics_path(latest / rundir.CHECKPOINT_NORMALIZER).unlink()
    resumed = run("train_sb3.py", "--resume", str(run_dir), "--total_timesteps", "1536", "--no_progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "skipping a checkpoint" in resumed.stderr and str(latest) in resumed.stderr  # named
    assert f"from {earlier.name} (512 steps)" in resumed.stdout
    assert PPO.load(run_dir / rundir.MODEL_FILE).num_timesteps == 1536

    # now none is readable: one line naming them, and nothing in the run directory changes
    for checkpoint in rundir.checkpoints(run_dir):
        (checkpoint / rundir.CHECKPOINT_MODEL).write_bytes(b"")
    files = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    failed = run("train_sb3.py", "--resume", str(run_dir), "--total_timesteps", "4096", "--no_progress")
    assert failed.returncode == 2 and "no readable checkpoint" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == files
