"""Plants: MuJoCo bodies with named accessors; tasks read the body only through them."""

from muscle_envs.plants.arm import ArmPlant
from muscle_envs.plants.base import MusclePlant

__all__ = ["ArmPlant", "MusclePlant"]
