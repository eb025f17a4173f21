"""Gymnasium registration of the package's environments (idempotent)."""

import functools
from typing import Any

import gymnasium as gym

# id -> (entry point, max_episode_steps, default kwargs). One line per registered id.
_ENVS: dict[str, tuple[str, int, dict]] = {
    "MuscleArmReach-v0": ("muscle_envs.arm_reach:MuscleArmReachEnv", 200, {"model": "arm4"}),
    "MuscleArm6Reach-v1": ("muscle_envs.arm_reach:MuscleArmReachEnv", 200, {"model": "arm6"}),
    "MuscleArmMultiTask-v0": ("muscle_envs.arm_multitask:MuscleArmMultiTaskEnv", 1000, {}),
    "MuscleArmComposable-v0": ("muscle_envs.arm_multitask:MuscleArmComposableEnv", 1000, {}),
    "MyoLegsStand-v0": ("muscle_envs.legs_stand:MyoLegsStandEnv", 1000, {"model": "myolegs"}),
    "MyoLegs26Stand-v0": ("muscle_envs.legs_stand:MyoLegsStandEnv", 1000, {"model": "myolegs26"}),
    "MyoLegsWalk-v0": ("muscle_envs.legs_walk:MyoLegsWalkEnv", 1000, {"model": "myolegs"}),
    "MyoLegs26Walk-v0": ("muscle_envs.legs_walk:MyoLegsWalkEnv", 1000, {"model": "myolegs26"}),
}
ENV_IDS: tuple[str, ...] = tuple(_ENVS)
# Ids that existed once and are gone, with the reason (what a saved run of one is told).
RETIRED_IDS: dict[str, str] = {
    "MuscleArm6Reach-v0": (
        "retired in muscle_envs 0.2.0: under MuJoCo 3.x its biceps and triceps long head wrapped the wrong "
        "way round the shoulder at its ends (+-87.5 to 90 deg); MuscleArm6Reach-v1 has the corrected "
        "geometry, identical to v0 under MuJoCo 4.0"
    ),
}


def _make_vector_env(entry_point: str, num_envs: int, **kwargs: Any) -> gym.vector.VectorEnv:
    """``gym.make_vec``'s maker: a ``MuscleVectorEnv`` of the env class at ``entry_point``."""
    from muscle_envs.batch import MuscleVectorEnv  # (imported when first asked for)

    return MuscleVectorEnv(gym.envs.registration.load_env_creator(entry_point), num_envs, **kwargs)


def register_envs() -> None:
    """Register every environment id that is not registered yet; safe to call repeatedly.

    ``gym.make`` adds only the ``TimeLimit`` wrapper. Gymnasium's ``OrderEnforcing`` and
    ``PassiveEnvChecker`` would cost about 1 us each on every step (some 6% of an arm step) for checks
    that the envs make themselves (step before reset raises ``ResetNeeded``) or that the test suite
    runs (``check_env`` on every id).
    """
    for env_id, (entry_point, max_episode_steps, kwargs) in _ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=entry_point,
                max_episode_steps=max_episode_steps,
                kwargs=dict(kwargs),
                order_enforce=False,
                disable_env_checker=True,
                vector_entry_point=functools.partial(_make_vector_env, entry_point),
            )
