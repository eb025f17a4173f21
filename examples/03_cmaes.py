# %% [markdown]
# # Evolve a small controller with CMA-ES
# A 32-unit sensory RNN (about 2.5k weights) searched with CMA-ES: no gradients, episodes as fitness.
# `MUSCLE_EXAMPLES_QUICK=1` shrinks every budget to seconds.
import os
import time
from pathlib import Path

import yaml

from muscle_train import rundir
from muscle_train.config import Session
from muscle_train.evaluation import evaluate, run_source
from muscle_train.training import RunRequest, new_run_config, start_run

QUICK = os.environ.get("MUSCLE_EXAMPLES_QUICK") == "1"
OUT = Path(os.environ.get("MUSCLE_EXAMPLES_OUT", "logs/examples"))

# %% Search (hyperparams.yml's cmaes entry: population, generations, fitness episodes). The candidates
# are evaluated in worker processes, which import this file: what runs goes under the main guard.
request = RunRequest(algo="cmaes")
if QUICK:
    tiny = OUT / "tiny_cmaes.yml"
    tiny.parent.mkdir(parents=True, exist_ok=True)
    settings = {"generations": 2, "popsize": 4, "fitness_episodes": 2, "eval_every": 1, "n_eval_episodes": 2}
    tiny.write_text(yaml.safe_dump(settings))
    request = request.replace(hyperparams_file=tiny)
if __name__ == "__main__":
    run_dir = start_run(
        new_run_config(request), OUT / f"cmaes_{time.strftime('%Y%m%d-%H%M%S')}", Session(progress=not QUICK)
    )

# %% The search's progress: success and mean fitness of the best solution at each periodic evaluation
if __name__ == "__main__":
    for row in rundir.read_csv(run_dir / rundir.EVALUATIONS_FILE):
        print(row["step"], row["success_rate"], row["mean_reward"])

# %% Evaluate the best solution as any other run
if __name__ == "__main__":
    print(evaluate(run_source(run_dir), episodes=2 if QUICK else 100)["success_rate"])
