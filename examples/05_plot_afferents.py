# %% [markdown]
# # Proprioceptors: spindle (Ia, II) and Golgi tendon organ (Ib) afferents
# Drive the arm's muscles with a slow sinusoid and watch the afferents a sensory policy would see,
# straight from `policies.sensory.SensoryModule` (no training). `MUSCLE_EXAMPLES_QUICK=1` runs it
# the same, shorter.
import os
from pathlib import Path

import gymnasium as gym
import matplotlib
import numpy as np
import torch

import muscle_envs  # noqa: F401  (registers the envs)
from muscle_envs import observations as keys
from policies.sensory import SensoryModule

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

QUICK = os.environ.get("MUSCLE_EXAMPLES_QUICK") == "1"
OUT = Path(os.environ.get("MUSCLE_EXAMPLES_OUT", "logs/examples"))

# %% Move the arm: each muscle's excitation a slow sinusoid, out of phase with its antagonist
env = gym.make("MuscleArmReach-v0")
obs, _ = env.reset(seed=0)
steps = 60 if QUICK else 300
t = np.arange(steps) * env.unwrapped.dt
excitation = 0.3 + 0.25 * np.sin(
    2 * np.pi * 1.0 * t[:, None] + np.array([0.0, np.pi, 0.5 * np.pi, 1.5 * np.pi])
)
lengths, velocities, forces = [], [], []
for action in excitation:
    obs, *_ = env.step(action.astype(np.float32))
    lengths.append(obs[keys.MUSCLE_LENGTH])
    velocities.append(obs[keys.MUSCLE_VELOCITY])
    forces.append(obs[keys.MUSCLE_FORCE])

# %% The afferents, with a constant gamma drive (static 0.3, dynamic 0.3)
sensory = SensoryModule(n_muscles=4)
as_tensor = lambda values: torch.as_tensor(np.array(values), dtype=torch.float32)  # noqa: E731
gamma = torch.full((steps, 4), 0.3)
with torch.no_grad():
    afferents = sensory(as_tensor(lengths), as_tensor(velocities), as_tensor(forces), gamma, gamma)

# %% Plot
fig, axes = plt.subplots(4, 1, figsize=(8, 8), sharex=True)
names = env.unwrapped.muscle_names
for ax, (title, values) in zip(
    axes,
    [("excitation", excitation), ("Ia", afferents.ia), ("II", afferents.ii), ("Ib", afferents.ib)],
    strict=True,
):
    ax.plot(t, np.asarray(values))
    ax.set_ylabel(title)
axes[0].legend(names, fontsize=7, ncol=4)
axes[-1].set_xlabel("time (s)")
OUT.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT / "afferents_example.png", dpi=110)
print(OUT / "afferents_example.png")
