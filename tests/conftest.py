"""Helpers shared by the test files."""

# muscle_envs first: it picks MuJoCo's headless GL backend, which is fixed when mujoco is imported.
from muscle_envs.plants.base import MusclePlant  # isort: skip

import mujoco  # noqa: E402


def fresh_forward(plant: MusclePlant) -> mujoco.MjData:
    """A new MjData holding the plant's state, with every derived quantity from mj_forward (the
    constraint solver warm-started as the plant's own would be)."""
    fresh = mujoco.MjData(plant.model)
    data = plant.data
    fresh.qpos[:], fresh.qvel[:], fresh.act[:], fresh.ctrl[:] = data.qpos, data.qvel, data.act, data.ctrl
    fresh.qacc_warmstart[:] = data.qacc_warmstart
    mujoco.mj_forward(plant.model, fresh)
    return fresh
