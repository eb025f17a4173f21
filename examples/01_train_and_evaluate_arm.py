# %% [markdown]
# # Train and evaluate a reaching policy
# PPO on `MuscleArmReach-v0` (a 2-joint arm with 4 muscles reaching and holding targets), then the
# run's evaluation and figures. Step through the cells in VS Code or Jupyter, or run the file.
# `MUSCLE_EXAMPLES_QUICK=1` shrinks every budget to seconds (CI runs the examples so).
import os
import time
from pathlib import Path

import yaml

from muscle_train.config import Session
from muscle_train.evaluation import evaluate, run_source, write_plots
from muscle_train.training import RunRequest, new_run_config, start_run

QUICK = os.environ.get("MUSCLE_EXAMPLES_QUICK") == "1"
OUT = Path(os.environ.get("MUSCLE_EXAMPLES_OUT", "logs/examples"))

# %% Train: the package's defaults (hyperparams.yml), ~10 min on 2 cores for >= 95% success
request = RunRequest(env="MuscleArmReach-v0", total_timesteps=300_000)
if QUICK:  # a few thousand steps: checks that everything runs, learns nothing
    tiny = OUT / "tiny_ppo.yml"
    tiny.parent.mkdir(parents=True, exist_ok=True)
    tiny.write_text(
        yaml.safe_dump({"n_steps": 256, "batch_size": 256, "eval_freq": 512, "n_eval_episodes": 2})
    )
    request = request.replace(total_timesteps=1024, n_envs=2, hyperparams_file=tiny)
config = new_run_config(request)
print(config.algo, config.policy, config.n_envs, "envs,", config.total_timesteps, "steps")
run_dir = start_run(config, OUT / f"arm_ppo_{time.strftime('%Y%m%d-%H%M%S')}", Session(progress=not QUICK))

# %% Evaluate: the saved normalizer is loaded frozen, rewards are reported unnormalized
results = evaluate(run_source(run_dir), episodes=4 if QUICK else 100)
print(f"success {results['success_rate']:.0%}, final distance {results['task/final_distance']:.3f} m")

# %% Figures: hand paths, excitations (and afferents, hidden-state PCA for the policies that have them)
for path in write_plots(run_source(run_dir), run_dir / "figures", episodes=2 if QUICK else 8):
    print(path)
