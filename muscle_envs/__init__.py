"""Muscle-driven MuJoCo environments for Gymnasium and Stable-Baselines3.

Importing the package registers its environments with Gymnasium (``MuscleArmReach-v0``,
``MuscleArm6Reach-v1``, ``MyoLegsStand-v0``, ...); ``gym.make("muscle_envs:MuscleArmReach-v0")``
imports it for you.
It imports MuJoCo and NumPy only: neither torch nor Stable-Baselines3.
"""

import os

# MuJoCo picks its OpenGL backend once, when it is first imported. Without a display the default
# (GLFW) cannot render, so choose headless EGL unless the user has chosen.
if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"

from muscle_envs.registration import ENV_IDS, RETIRED_IDS, register_envs  # noqa: E402

__version__ = "0.4.0"
__all__ = ["ENV_IDS", "RETIRED_IDS", "register_envs", "__version__"]

register_envs()
