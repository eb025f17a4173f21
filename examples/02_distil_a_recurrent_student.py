# %% [markdown]
# # Distil a teacher into a recurrent student
# A PPO-MLP teacher on the arm, then DAgger into a sensory RNN student that sees only what a
# biological controller would. `MUSCLE_EXAMPLES_QUICK=1` shrinks every budget to seconds.
import json
import os
import time
from pathlib import Path

import yaml

from muscle_train.config import Session
from muscle_train.evaluation import evaluate, run_source
from muscle_train.training import RunRequest, new_run_config, start_run

QUICK = os.environ.get("MUSCLE_EXAMPLES_QUICK") == "1"
OUT = Path(os.environ.get("MUSCLE_EXAMPLES_OUT", "logs/examples"))
stamp = time.strftime("%Y%m%d-%H%M%S")


def tiny(name: str, settings: dict) -> Path:
    """A hyperparameters file with ``settings`` over hyperparams.yml's entry."""
    path = OUT / f"tiny_{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings))
    return path


# %% The teacher (skip this cell and point `teacher_dir` at a trained run to reuse one)
teacher_request = RunRequest(env="MuscleArmReach-v0", total_timesteps=300_000)
if QUICK:
    settings = {"n_steps": 256, "batch_size": 256, "eval_freq": 512, "n_eval_episodes": 2}
    teacher_request = teacher_request.replace(
        total_timesteps=1024, n_envs=2, hyperparams_file=tiny("teacher", settings)
    )
teacher_dir = start_run(
    new_run_config(teacher_request), OUT / f"teacher_{stamp}", Session(progress=not QUICK)
)

# %% The student: demonstrations, then DAgger rounds (the student drives, the teacher labels)
student_request = RunRequest(algo="distill", teacher=teacher_dir, policy="sensory_rnn")
if QUICK:
    settings = {"demo_episodes": 2, "dagger_rounds": 1, "dagger_episodes": 2, "epochs": 1, "n_envs": 2}
    settings |= {"n_eval_episodes": 2, "compare_episodes": 2}
    student_request = student_request.replace(hyperparams_file=tiny("student", settings))
student_dir = start_run(
    new_run_config(student_request), OUT / f"student_{stamp}", Session(progress=not QUICK)
)

# %% How close the student came: distillation.json holds the student/teacher ratios
report = json.loads((student_dir / "distillation.json").read_text())
print("student/teacher success ratio:", report["success_ratio"])
print("student alone:", evaluate(run_source(student_dir), episodes=2 if QUICK else 100)["success_rate"])
