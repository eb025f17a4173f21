"""Gymnasium registration of the package's environments (idempotent)."""

import gymnasium as gym

# id -> (entry point, max_episode_steps, default kwargs). One line per registered id.
_ENVS: dict[str, tuple[str, int, dict]] = {
    "MuscleArmReach-v0": ("muscle_envs.arm_reach:MuscleArmReachEnv", 200, {"model": "arm4"}),
    "MuscleArm6Reach-v0": ("muscle_envs.arm_reach:MuscleArmReachEnv", 200, {"model": "arm6"}),
}
ENV_IDS: tuple[str, ...] = tuple(_ENVS)


def register_envs() -> None:
    """Register every environment id that is not registered yet; safe to call repeatedly."""
    for env_id, (entry_point, max_episode_steps, kwargs) in _ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=entry_point,
                max_episode_steps=max_episode_steps,
                kwargs=dict(kwargs),
            )
