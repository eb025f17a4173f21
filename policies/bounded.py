"""A Gaussian policy whose mean stays inside the action range: PPO for many muscles."""

from __future__ import annotations

import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution, Distribution
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn


def register_action_bounds(policy: nn.Module, space: spaces.Box) -> None:
    """``space``'s bounds as ``policy``'s buffers ``action_low`` and ``action_high``: on its device
    with it, not saved (the space is)."""
    for name, bound in (("action_low", space.low), ("action_high", space.high)):
        policy.register_buffer(name, torch.as_tensor(bound, dtype=torch.float32), persistent=False)


def within_bounds(policy: nn.Module, unit: torch.Tensor) -> torch.Tensor:
    """``unit`` (in [0, 1]) mapped onto the bounds :func:`register_action_bounds` gave ``policy``."""
    return policy.action_low + (policy.action_high - policy.action_low) * unit


class BoundedMeanPolicy(MultiInputActorCriticPolicy):
    """SB3's Gaussian actor-critic policy (``MultiInputPolicy``, the same keyword arguments) with the
    action mean passed through tanh, scaled to the action space's bounds (training's [-1, 1]: tanh
    itself), so that it stays inside them; the noise (a learnt std per muscle) and the clipping of
    sampled actions are unchanged.

    Why: SB3's Gaussian mean is unbounded and a sampled action is clipped to the range before the env
    sees it, so a muscle whose mean has left the range is saturated whatever the mean does next; its
    mean then drifts with the noise in the samples' gradient, at no cost in return. Each such drift
    counts in PPO's ratio, which multiplies the 80 muscles' ratios, and pushes samples outside the
    clip range for nothing. The shipped standing baseline (plain ``mlp``) keeps 37% of its 80 means
    outside the range over the first 250 steps of 4 episodes, up to 3.8 (``bench/legs_levers.py``).

    Measured on the legs (bench/RESULTS.md, issue 18): a run stood in 70% of 100 episodes with
    sampled actions but in none with the mean as the action (nor with the average applied action,
    E[clip(a)]): it learnt to stand with its noise. Evaluate such a run with ``--stochastic`` too.

    At initialisation the output layer's weights are small (gain 0.01), so the mean is tanh(~0) ~ 0,
    as with ``mlp`` (the middle of the range). ``policies.set_action_mean`` starts it elsewhere
    through ``preactivation``.
    """

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        register_action_bounds(self, self.action_space)

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor) -> Distribution:
        if not isinstance(self.action_dist, DiagGaussianDistribution):  # gSDE, discrete actions
            kind = type(self.action_dist).__name__
            raise ValueError(f"BoundedMeanPolicy needs a Gaussian action (a Box space, no gSDE), not {kind}")
        squashed = (torch.tanh(self.action_net(latent_pi)) + 1) / 2  # in (0, 1)
        mean = within_bounds(self, squashed)
        return self.action_dist.proba_distribution(mean, self.log_std)

    def preactivation(self, action: torch.Tensor) -> torch.Tensor:
        """The output layer's value whose squashed mean is ``action`` (inside the bounds)."""
        low, high = self.action_low.cpu(), self.action_high.cpu()
        return torch.atanh((2 * (action - low) / (high - low) - 1).clamp(-0.999, 0.999))
