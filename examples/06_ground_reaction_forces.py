# %% [markdown]
# # Ground reaction forces and gait events of the walking MyoLeg
# Start `MyoLegsWalk-v0` mid-stride and hold the holding excitation (no training: the body stumbles
# forward and falls). Read each foot's ground reaction force from the observation, find the heel
# strikes and toe-offs with `muscle_analysis.gait.gait_events` (the env's own rule), and compare
# with the env's gait metrics. `MUSCLE_EXAMPLES_QUICK=1` runs it the same, shorter.
import os
from pathlib import Path

import gymnasium as gym
import matplotlib
import numpy as np

import muscle_envs  # noqa: F401  (registers the envs)
from muscle_analysis.gait import gait_events
from muscle_envs import observations as keys

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

QUICK = os.environ.get("MUSCLE_EXAMPLES_QUICK") == "1"
OUT = Path(os.environ.get("MUSCLE_EXAMPLES_OUT", "logs/examples"))

# %% One episode from mid-stride, the holding excitation throughout
env = gym.make("MyoLegsWalk-v0", start="stride")
obs, _ = env.reset(seed=0)
hold = env.unwrapped.holding_excitation().astype(np.float32)
forces = [obs[keys.GROUND_REACTION_FORCE].reshape(2, 3)]
for _ in range(60 if QUICK else 300):
    obs, reward, terminated, truncated, info = env.step(hold)
    forces.append(obs[keys.GROUND_REACTION_FORCE].reshape(2, 3))
    if terminated or truncated:
        break
forces = np.array(forces)  # (steps, foot, x/y/z), body weights
metrics = env.unwrapped.episode_metrics()
print({name: round(value, 3) for name, value in metrics.items()})

# %% The vertical force per foot, with the gait events the env counts
threshold = env.unwrapped.config.contact_threshold
t = np.arange(len(forces)) * env.unwrapped.dt
fig, ax = plt.subplots(figsize=(8, 3.5))
strikes = 0
for foot, name in enumerate(("right", "left")):
    vertical = forces[:, foot, 2]
    events = gait_events(vertical, threshold)
    strikes += len(events.strikes)
    ax.plot(t, vertical, color=f"C{foot}", label=f"{name} foot")
    ax.plot(t[events.strikes], vertical[events.strikes], "v", color=f"C{foot}", ms=7)
    ax.plot(t[events.toe_offs], vertical[events.toe_offs], "^", color=f"C{foot}", ms=7)
assert strikes == metrics["steps"]  # the same rule, online in the env and offline here
ax.axhline(threshold, color="k", lw=0.6, ls=":")
ax.set(xlabel="time (s)", ylabel="vertical GRF (body weights)", title="v heel strike, ^ toe-off")
ax.legend()
OUT.mkdir(parents=True, exist_ok=True)
fig.tight_layout()
fig.savefig(OUT / "ground_reaction_forces.png", dpi=110)
print(OUT / "ground_reaction_forces.png")
