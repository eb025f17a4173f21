"""Proprioceptors as torch modules: muscle spindle primary (Ia) and secondary (II) endings, Golgi
tendon organs (Ib), with static and dynamic fusimotor (gamma) drive.

Inputs are the env observation's normalized muscle quantities (``muscle_envs.observations``):
length L in optimal fibre lengths L0, velocity v in L0/s (+ = lengthening), force F in peak isometric
forces. Firing rates are computed in impulses/s from the models below, then divided by
``MAX_RATE`` (300 imp/s) and rectified, so outputs lie in ~[0, 1]. Stretch is x = L - 1 (L0 units,
0 at optimal length).

Ia, after Prochazka & Gorassini (1998, J Physiol 507:277-291), whose human model is
``4.3 v^0.6 + 2 x + 0.06 EMG + 82`` imp/s with v in mm/s and x in mm. Expressed per L0 with a
nominal L0 of 100 mm (4.3 * 100^0.6 = 68, 2 * 100 = 200) and with fusimotor drive in place of the
EMG-linked term::

    Ia = k_v (1 + g_d gamma_d) sign(v) |v|^0.6 + k_x (1 + g_s gamma_s) x + k_s gamma_s + 82

Dynamic gamma multiplies the velocity sensitivity (bag1 fibres); static gamma raises length
sensitivity and tonic rate (bag2 and chain fibres), as in Mileusnic et al. (2006, J Neurophysiol
96:1772-1788). II, the secondary ending: length and static gamma, no velocity term::

    II = k_ii (1 + g_s gamma_s) x + k_iis gamma_s + 40

Ib, after Houk & Simon (1967) and Mileusnic & Loeb (2006, J Neurophysiol 96:1789): a saturating
function of tendon force, ``Ib = tanh(k_f F)`` (normalized already).

Gains are per muscle and, with ``learnable=True``, trainable; they stay non-negative by being stored
as the inverse softplus of their value.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

MAX_RATE = 300.0  # imp/s: rates are divided by this

# Defaults (imp/s per unit of the input), sources in the module docstring.
IA_VELOCITY_GAIN = 68.0  # per (L0/s)^0.6
IA_VELOCITY_EXPONENT = 0.6
IA_LENGTH_GAIN = 200.0  # per L0
IA_STATIC_GAMMA_GAIN = 30.0  # per unit static gamma (chosen: ~10% of MAX_RATE at full drive)
IA_BASELINE = 82.0
II_LENGTH_GAIN = 150.0  # per L0 (chosen below the primary's 200, as in Mileusnic et al. 2006)
II_STATIC_GAMMA_GAIN = 30.0
II_BASELINE = 40.0
GAMMA_DYNAMIC_GAIN = 1.0  # full dynamic drive doubles the velocity sensitivity
GAMMA_STATIC_LENGTH_GAIN = 0.5  # full static drive raises length sensitivity by half
IB_FORCE_GAIN = 3.0  # tanh(3 F): half-saturated near 0.18 Fmax


class Afferents(NamedTuple):
    """Normalized firing rates, each (batch, n_muscles)."""

    ia: torch.Tensor
    ii: torch.Tensor
    ib: torch.Tensor


def positive_parameter(value: float, n: int, learnable: bool) -> nn.Parameter:
    """A per-muscle parameter stored as inverse softplus, so softplus(stored) = value > 0."""
    raw = torch.full((n,), value + math.log(-math.expm1(-value)))  # inverse softplus
    return nn.Parameter(raw, requires_grad=learnable)


class SensoryModule(nn.Module):
    """Ia, II and Ib afferents of ``n_muscles`` muscles (see the module docstring for the models).

    Args:
        n_muscles: muscles per observation.
        learnable: train the gains (kept non-negative) instead of fixing them at the defaults.
    """

    def __init__(self, n_muscles: int, learnable: bool = True):
        super().__init__()
        self.n_muscles = n_muscles
        self.ia_velocity_gain = positive_parameter(IA_VELOCITY_GAIN, n_muscles, learnable)
        self.ia_length_gain = positive_parameter(IA_LENGTH_GAIN, n_muscles, learnable)
        self.ia_static_gain = positive_parameter(IA_STATIC_GAMMA_GAIN, n_muscles, learnable)
        self.ii_length_gain = positive_parameter(II_LENGTH_GAIN, n_muscles, learnable)
        self.ii_static_gain = positive_parameter(II_STATIC_GAMMA_GAIN, n_muscles, learnable)
        self.ib_force_gain = positive_parameter(IB_FORCE_GAIN, n_muscles, learnable)

    def gains(self) -> tuple[torch.Tensor, ...]:
        """The effective (softplus) gains, each (n_muscles,): compute once, reuse over a sequence."""
        return tuple(
            F.softplus(p)
            for p in (
                self.ia_velocity_gain,
                self.ia_length_gain,
                self.ia_static_gain,
                self.ii_length_gain,
                self.ii_static_gain,
                self.ib_force_gain,
            )
        )

    def forward(
        self,
        length: torch.Tensor,
        velocity: torch.Tensor,
        force: torch.Tensor,
        gamma_static: torch.Tensor | None = None,
        gamma_dynamic: torch.Tensor | None = None,
        gains: tuple[torch.Tensor, ...] | None = None,
    ) -> Afferents:
        """Afferent rates for (batch, n_muscles) inputs; gamma drives in [0, 1], zero if omitted;
        ``gains`` from :meth:`gains` (computed here if omitted)."""
        k_v, k_x, k_s, k_ii, k_iis, k_f = self.gains() if gains is None else gains
        zeros = torch.zeros_like(length)
        gamma_static = zeros if gamma_static is None else gamma_static
        gamma_dynamic = zeros if gamma_dynamic is None else gamma_dynamic
        stretch = length - 1.0  # (batch, n), L0 units
        # (batch, n): sign(v) |v|^0.6, with a floor inside the power so its gradient stays finite at v = 0
        power_velocity = torch.sign(velocity) * (velocity.abs() + 1e-6) ** IA_VELOCITY_EXPONENT
        static_length = (1.0 + GAMMA_STATIC_LENGTH_GAIN * gamma_static) * stretch
        ia = (
            k_v * (1.0 + GAMMA_DYNAMIC_GAIN * gamma_dynamic) * power_velocity
            + k_x * static_length
            + k_s * gamma_static
            + IA_BASELINE
        )
        ii = k_ii * static_length + k_iis * gamma_static + II_BASELINE
        ib = torch.tanh(k_f * force.clamp(min=0.0))
        return Afferents(F.relu(ia) / MAX_RATE, F.relu(ii) / MAX_RATE, ib)
