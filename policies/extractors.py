"""SB3 feature extractors that hold the sensory system."""

from __future__ import annotations

import math

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from muscle_envs.observations import MUSCLE_FORCE, MUSCLE_LENGTH, MUSCLE_VELOCITY, PROPRIOCEPTION, TARGET
from policies.sensory import SensoryModule
from policies.target import TargetEncoder


class MuscleAndContext(BaseFeaturesExtractor):
    """Splits a Dict observation into the muscle entries and the *context*: ``target`` through a
    :class:`~policies.target.TargetEncoder` (if present) and every other entry (vision, hold time,
    the legs' joint and pelvis state, place cells) flattened. Base of the sensory extractors; its
    features are ``3 n_muscles + context_dim`` wide.

    The muscle entries must arrive in their physical units (L0, L0/s, Fmax) and the target in metres
    (the place cells tile the workspace), so keep them out of ``VecNormalize`` (``norm_obs_keys``);
    ``policies.policy_spec(name).raw_observation_keys`` lists them and train_sb3.py does this.

    Args:
        observation_space: the env's ``Dict`` space (muscle_length, muscle_velocity, muscle_force, ...).
        place_cells, place_cell_sigma, workspace_low, workspace_high: the target code (arm envs).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        place_cells: tuple[int, int] = (8, 8),
        place_cell_sigma: float = 0.05,
        workspace_low: tuple[float, float] = (0.1, 0.3),
        workspace_high: tuple[float, float] = (0.6, 0.7),
    ):
        missing = [key for key in PROPRIOCEPTION if key not in observation_space.spaces]
        if missing:
            raise ValueError(f"{type(self).__name__} needs the observation keys {missing}")
        n_muscles = observation_space[MUSCLE_LENGTH].shape[0]
        context_keys = sorted(k for k in observation_space.spaces if k not in PROPRIOCEPTION and k != TARGET)
        encoder = (
            TargetEncoder(workspace_low, workspace_high, place_cells, place_cell_sigma)
            if TARGET in observation_space.spaces
            else None
        )
        context_dim = sum(math.prod(observation_space[k].shape) for k in context_keys)
        context_dim += encoder.n_cells if encoder is not None else 0
        super().__init__(observation_space, features_dim=3 * n_muscles + context_dim)
        self.n_muscles = n_muscles
        self.context_dim = context_dim
        self.context_keys = context_keys
        self.target_encoder = encoder

    def _context(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = observations[MUSCLE_LENGTH].shape[0]
        parts = [self.target_encoder(observations[TARGET])] if self.target_encoder is not None else []
        parts += [observations[key].reshape(batch, -1) for key in self.context_keys]
        if not parts:
            return observations[MUSCLE_LENGTH].new_zeros(batch, 0)
        return torch.cat(parts, dim=1)  # (batch, context_dim)


class SensoryExtractor(MuscleAndContext):
    """Dict observation -> [Ia | II | Ib afferents | context], for ``MultiInputPolicy``.

    The muscle entries go through a :class:`~policies.sensory.SensoryModule`. The fusimotor drive is
    set top-down from the context: ``gamma_static, gamma_dynamic = sigmoid(W context + b)`` per
    muscle (a learned constant when there is no context). Arguments as :class:`MuscleAndContext`,
    plus ``learnable_gains`` (train the afferent gains).
    """

    def __init__(self, observation_space: spaces.Dict, learnable_gains: bool = True, **kwargs):
        super().__init__(observation_space, **kwargs)
        n = self.n_muscles
        self.sensory = SensoryModule(n, learnable=learnable_gains)
        # gamma drive from the context; a learned constant when there is none
        self.gamma = nn.Linear(self.context_dim, 2 * n) if self.context_dim else None
        self.gamma_bias = None if self.context_dim else nn.Parameter(torch.zeros(2 * n))

    def probe(self, observations: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Everything the extractor computes, by name: ``ia``, ``ii``, ``ib``, ``gamma_static``,
        ``gamma_dynamic`` (each (batch, n_muscles)) and ``context`` (batch, context_dim)."""
        context = self._context(observations)
        batch = context.shape[0]
        drive = (
            self.gamma(context) if self.gamma is not None else self.gamma_bias.expand(batch, -1)
        )  # (batch, 2n)
        gamma_static, gamma_dynamic = torch.sigmoid(drive).chunk(2, dim=-1)  # (batch, n) each
        afferents = self.sensory(
            observations[MUSCLE_LENGTH],
            observations[MUSCLE_VELOCITY],
            observations[MUSCLE_FORCE],
            gamma_static,
            gamma_dynamic,
        )
        return {
            "ia": afferents.ia,
            "ii": afferents.ii,
            "ib": afferents.ib,
            "gamma_static": gamma_static,
            "gamma_dynamic": gamma_dynamic,
            "context": context,
        }

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = self.probe(observations)
        return torch.cat(
            [parts["ia"], parts["ii"], parts["ib"], parts["context"]], dim=1
        )  # (batch, features_dim)


class SensoryInputs(MuscleAndContext):
    """[muscle length | velocity | force | context], unprocessed: the input of a recurrent sensory
    policy, which runs the :class:`~policies.sensory.SensoryModule` inside its recurrence so that the
    previous step's gamma drive can modulate it (``policies.recurrent``)."""

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        muscles = [observations[key] for key in (MUSCLE_LENGTH, MUSCLE_VELOCITY, MUSCLE_FORCE)]
        return torch.cat([*muscles, self._context(observations)], dim=1)  # (batch, features_dim)
