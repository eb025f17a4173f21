"""Motor neurons: alpha output (the excitation the env receives), gamma drives, monosynaptic reflexes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from policies.sensory import Afferents, positive_parameter

# Initial reflex gains, in units of alpha pre-activation per unit normalized rate. Small, so that an
# untrained controller is not dominated by its reflexes; training may grow them (they stay >= 0).
STRETCH_REFLEX_GAIN = 0.5  # Ia -> homonymous alpha (monosynaptic stretch reflex)
LENGTH_REFLEX_GAIN = 0.25  # II -> homonymous alpha
RECIPROCAL_GAIN = 0.25  # Ia -> antagonist alpha, inhibitory (reciprocal inhibition)
AUTOGENIC_GAIN = 0.25  # Ib -> homonymous alpha, inhibitory (autogenic inhibition)


class MotorOutput(NamedTuple):
    """Each (batch, n_muscles): alpha in (0, 1); gamma drives in (0, 1); the reflex part of alpha's
    pre-activation."""

    alpha: torch.Tensor
    gamma_static: torch.Tensor
    gamma_dynamic: torch.Tensor
    reflex: torch.Tensor


class ReflexArcs(nn.Module):
    """Monosynaptic reflexes onto alpha motor neurons, per muscle, with non-negative gains:
    ``w_Ia Ia + w_II II - w_Ib Ib - w_rec Ia[antagonist]`` (stretch, length, autogenic and reciprocal).

    Args:
        n_muscles: muscles.
        antagonists: (muscle, antagonist) index pairs for reciprocal Ia inhibition, both ways.
        learnable: train the gains.
    """

    def __init__(self, n_muscles: int, antagonists: Sequence[tuple[int, int]] = (), learnable: bool = True):
        super().__init__()
        self.stretch_gain = positive_parameter(STRETCH_REFLEX_GAIN, n_muscles, learnable)
        self.length_gain = positive_parameter(LENGTH_REFLEX_GAIN, n_muscles, learnable)
        self.autogenic_gain = positive_parameter(AUTOGENIC_GAIN, n_muscles, learnable)
        self.reciprocal_gain = positive_parameter(RECIPROCAL_GAIN, n_muscles, learnable)
        pairs = torch.zeros(n_muscles, n_muscles)  # pairs[i, j] = 1: muscle j's Ia inhibits muscle i
        for muscle, antagonist in antagonists:
            pairs[muscle, antagonist] = pairs[antagonist, muscle] = 1.0
        self.register_buffer("antagonist_matrix", pairs)

    def forward(self, afferents: Afferents) -> torch.Tensor:
        """(batch, n) reflex contribution to alpha's pre-activation."""
        antagonist_ia = afferents.ia @ self.antagonist_matrix.T  # (batch, n): summed antagonist Ia
        return (
            F.softplus(self.stretch_gain) * afferents.ia
            + F.softplus(self.length_gain) * afferents.ii
            - F.softplus(self.autogenic_gain) * afferents.ib
            - F.softplus(self.reciprocal_gain) * antagonist_ia
        )


class MotorModule(nn.Module):
    """Alpha and gamma motor neurons driven by descending ``features``, plus reflex arcs.

    ``alpha = sigmoid(W_a features + reflex)`` with the :class:`ReflexArcs` contribution;
    ``gamma_static, gamma_dynamic = sigmoid(W_g features)``. SCONE's reflex controllers (length,
    velocity and force feedback) are the engineering analogue (shared/REFERENCES.md).

    Args:
        in_features: size of the descending input.
        n_muscles: muscles.
        antagonists: optional (muscle, antagonist) index pairs for reciprocal Ia inhibition.
        learnable_reflexes: train the reflex gains.
    """

    def __init__(
        self,
        in_features: int,
        n_muscles: int,
        antagonists: Sequence[tuple[int, int]] = (),
        learnable_reflexes: bool = True,
    ):
        super().__init__()
        self.alpha = nn.Linear(in_features, n_muscles)
        self.gamma = nn.Linear(in_features, 2 * n_muscles)
        self.reflexes = ReflexArcs(n_muscles, antagonists, learnable_reflexes)
        self.n_muscles = n_muscles

    def forward(self, features: torch.Tensor, afferents: Afferents | None = None) -> MotorOutput:
        """``features`` (batch, in_features); ``afferents`` for the reflexes (none without them)."""
        drive = self.alpha(features)  # (batch, n)
        reflex = self.reflexes(afferents) if afferents is not None else torch.zeros_like(drive)
        alpha = torch.sigmoid(drive + reflex)  # (batch, n)
        gamma_static, gamma_dynamic = torch.sigmoid(self.gamma(features)).chunk(2, dim=-1)  # (batch, n) each
        return MotorOutput(alpha, gamma_static, gamma_dynamic, reflex)


def set_action_mean(policy: nn.Module, action: Sequence[float]) -> None:
    """Start an SB3 policy's action mean at ``action`` (in its action space's range; the squashing
    policies' tanh is undone) by setting the bias of its output layer. The output weights are small
    at initialisation (SB3: orthogonal, gain 0.01), so the mean stays near ``action`` whatever the
    observation until training moves it. For actor-critic policies (PPO, RecurrentPPO: ``action_net``),
    SAC (``actor.mu``) and TD3 (``actor.mu``'s last linear layer; its target actor follows).

    Raises:
        ValueError: a policy of another kind, or an action of the wrong size.
    """
    target = torch.as_tensor(action, dtype=torch.float32)
    actor = getattr(policy, "actor", None)
    if hasattr(policy, "action_net"):
        layer = policy.action_net
        if hasattr(policy, "preactivation"):  # BoundedMeanPolicy: a squashed action_net
            target = policy.preactivation(target)
    elif actor is not None and isinstance(actor.mu, nn.Linear):  # SAC: tanh-squashed Gaussian
        layer = actor.mu
        target = torch.atanh(target.clamp(-0.999, 0.999))
    elif actor is not None and isinstance(actor.mu, nn.Sequential):  # TD3: ..., Linear, Tanh
        layer = next(module for module in reversed(actor.mu) if isinstance(module, nn.Linear))
        target = torch.atanh(target.clamp(-0.999, 0.999))
    else:
        raise ValueError(f"cannot set the action mean of a {type(policy).__name__}: no known output layer")
    if not isinstance(layer, nn.Linear) or layer.out_features != target.numel():
        raise ValueError(f"the action has {target.numel()} entries; the policy's output layer is {layer}")
    with torch.no_grad():
        layer.bias.copy_(target)
    actor_target = getattr(policy, "actor_target", None)
    if actor is not None and actor_target is not None:
        actor_target.load_state_dict(actor.state_dict())
