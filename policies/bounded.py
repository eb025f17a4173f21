"""A Gaussian policy whose mean stays inside the action range: PPO for many muscles."""

from __future__ import annotations

import torch
from stable_baselines3.common.distributions import DiagGaussianDistribution, Distribution
from stable_baselines3.common.policies import MultiInputActorCriticPolicy


class BoundedMeanPolicy(MultiInputActorCriticPolicy):
    """SB3's Gaussian actor-critic policy (``MultiInputPolicy``, the same keyword arguments) with the
    action mean passed through tanh, so that it stays inside the policy's action range [-1, 1]; the
    noise (a learnt std per muscle) and the env's clipping of sampled actions are unchanged.

    Why: SB3's Gaussian mean is unbounded and a sampled action is clipped to the range before the env
    sees it, so a muscle whose mean has left the range is saturated whatever the mean does next; its
    mean then drifts with the noise in the samples' gradient, at no cost in return. Each such drift
    counts in PPO's ratio, which multiplies the 80 muscles' ratios, and pushes samples outside the
    clip range for nothing. The shipped standing baseline (plain ``mlp``) keeps 37% of its 80 means
    outside the range over the first 250 steps of 4 episodes, up to 3.8 (``bench/legs_levers.py``).

    At initialisation the output layer's weights are small (gain 0.01), so the mean is tanh(~0) ~ 0,
    as with ``mlp``. ``policies.set_action_mean`` undoes the tanh to start the mean elsewhere.
    """

    squashes_mean = True  # (set_action_mean's cue)

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor) -> Distribution:
        if not isinstance(self.action_dist, DiagGaussianDistribution):  # gSDE, discrete actions
            kind = type(self.action_dist).__name__
            raise ValueError(f"BoundedMeanPolicy needs a Gaussian action (a Box space, no gSDE), not {kind}")
        mean = torch.tanh(self.action_net(latent_pi))
        return self.action_dist.proba_distribution(mean, self.log_std)
