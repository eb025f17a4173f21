# %% [markdown]
# # Look inside a recurrent policy
# Record episodes of a trained recurrent run and run the analyses of `muscle_analysis`: PCA, jPCA,
# subspaces, fixed points, decoding, muscle synergies, reaching kinematics. Point `RUN` at a run
# directory of yours (`MUSCLE_EXAMPLES_RUN`); without one this trains a RecurrentPPO GRU for a while
# (seconds with `MUSCLE_EXAMPLES_QUICK=1`).
import json
import os
import time
from pathlib import Path

import yaml

from muscle_analysis.fixed_points import find_fixed_points
from muscle_analysis.population import principal_components
from muscle_analysis.recording import Recording
from muscle_train.config import Session
from muscle_train.evaluation import run_source, write_analysis
from muscle_train.training import RunRequest, new_run_config, start_run

QUICK = os.environ.get("MUSCLE_EXAMPLES_QUICK") == "1"
OUT = Path(os.environ.get("MUSCLE_EXAMPLES_OUT", "logs/examples"))

# %% A recurrent run: yours, or a short one trained here
RUN = os.environ.get("MUSCLE_EXAMPLES_RUN")
if RUN is None:
    request = RunRequest(env="MuscleArmReach-v0", policy="gru", total_timesteps=200_000)
    if QUICK:
        tiny = OUT / "tiny_rppo.yml"
        tiny.parent.mkdir(parents=True, exist_ok=True)
        tiny.write_text(
            yaml.safe_dump({"n_steps": 64, "batch_size": 128, "eval_freq": 512, "n_eval_episodes": 2})
        )
        request = request.replace(total_timesteps=256, n_envs=2, hyperparams_file=tiny)
    RUN = start_run(
        new_run_config(request), OUT / f"gru_{time.strftime('%Y%m%d-%H%M%S')}", Session(progress=not QUICK)
    )

# %% Record and analyse: DIR/recording.npz, DIR/analysis.json and one figure per analysis
out = Path(RUN) / "analysis"
analysis = write_analysis(run_source(Path(RUN)), out, episodes=4 if QUICK else 32)
print(json.dumps({k: analysis[k] for k in ("activity", "pca")}, indent=1, default=str)[:600])
print("figures:", analysis["figures"])

# %% The recording stands alone: load it anywhere (numpy, no env or torch needed) and analyse it your way
recording = Recording.load(out / "recording.npz")
print({name: values.shape for name, values in recording.signals.items()})
pcs = principal_components(recording.signals["hidden"])
print("components for 90% of the hidden state's variance:", pcs.dimensionality(0.9))

# %% Fixed points of any map h -> F(h, u), e.g. a hand-built one (muscle_analysis.fixed_points)
import torch  # noqa: E402

weight = torch.tensor([[2.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
points = find_fixed_points(lambda h, u: torch.tanh(h @ weight.T + u), [0.0, 0.0], torch.randn(32, 2).numpy())
print(points.states.round(3), points.stable)
