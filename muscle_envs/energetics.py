"""Metabolic energy of MuJoCo muscles: Umberger et al. (2003)'s model, for every muscle at once.

Umberger BR, Gerritsen KGM, Martin PE (2003). A model of human muscle energy expenditure. Computer
Methods in Biomechanics and Biomedical Engineering 6(2):99-111.

Per muscle, in W per kg of muscle (A: the excitation u when it exceeds the activation a, else their
mean; S = 1.5 for aerobic work; FT and ST the fast- and slow-twitch fractions; v the fibre velocity
in optimal lengths per second, + lengthening; F_iso the active force-length factor):

- activation and maintenance heat ``(128 FT + 25) A^0.6 S``, times ``0.4 + 0.6 F_iso`` beyond the
  optimal length;
- shortening heat ``-(100 / v_ST ST + 153 / v_FT FT) v A^2 S`` (v < 0), lengthening heat
  ``4 (100 / v_ST) v A S`` (v > 0), times F_iso beyond the optimal length; v_FT = 12, v_ST = 12 / 2.5
  optimal lengths per second;
- the heat together at least 1 W/kg;
- mechanical work rate ``-F_CE v`` (the contractile element's force and velocity; negative work
  counts, as in the 2003 model).

A muscle's mass is ``rho F0 L0 / sigma`` (density 1059.7 kg/m^3; sigma the specific tension the
model's peak forces were made with, 0.6 MPa for the MyoLeg: ~19 kg of leg muscle in all). The
contractile element's force is the muscle's tension less MuJoCo's passive force, and F_iso MuJoCo's
active force-length curve: both evaluated here for all muscles in NumPy
(``mujoco.mju_muscleGain``/``mju_muscleBias`` work one muscle at a time; tests compare the two).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from muscle_envs.plants.base import MusclePlant

DENSITY = 1059.7  # kg/m^3
# Peak force per cross-section: the MyoLeg's (Rajagopal et al. 2016: 60 N/cm^2), so that a muscle's
# mass follows from its peak force as the model made it (Umberger et al. used 0.25 MPa for theirs).
SPECIFIC_TENSION = 0.6e6  # Pa
AEROBIC_SCALE = 1.5  # S
V_MAX_FAST = 12.0  # optimal lengths per second
V_MAX_SLOW = V_MAX_FAST / 2.5
MIN_HEAT_RATE = 1.0  # W/kg


class Umberger2003:
    """The metabolic power of a plant's muscles (W), from the quantities its observation carries.

    Args:
        plant: the muscles (their MuJoCo parameters: peak force, optimal length, force-length shape).
        slow_twitch: fraction of slow-twitch fibres, one for all muscles or one per muscle (0.5: no
            per-muscle data is shipped with the MyoLeg).
        specific_tension: Pa, what the model's peak forces were computed with.
    """

    def __init__(
        self,
        plant: MusclePlant,
        slow_twitch: float | NDArray = 0.5,
        specific_tension: float = SPECIFIC_TENSION,
    ):
        prm = plant.model.actuator_gainprm[plant.muscle_ids]
        self.lmin, self.lmax, self.fpmax = prm[:, 4], prm[:, 5], prm[:, 7]
        self.peak_force = plant.max_isometric_force
        self.optimal_length = plant.optimal_fiber_length
        self.mass = DENSITY * self.peak_force * self.optimal_length / specific_tension  # kg
        self.slow = np.broadcast_to(np.asarray(slow_twitch, dtype=np.float64), self.mass.shape).copy()
        fast = 1.0 - self.slow
        self.maintenance = 128.0 * fast + 25.0  # W/kg
        self.shortening = 100.0 / V_MAX_SLOW * self.slow + 153.0 / V_MAX_FAST * fast  # W/kg per L0/s
        self.lengthening = 4.0 * 100.0 / V_MAX_SLOW

    def active_force_length(self, length: NDArray) -> NDArray:
        """MuJoCo's active force-length factor at normalized fibre ``length`` (mju_muscleGainLength)."""
        lmin, lmax = self.lmin, self.lmax
        a, b = 0.5 * (lmin + 1.0), 0.5 * (1.0 + lmax)
        rising = (length - lmin) / (a - lmin)
        to_peak = (1.0 - length) / (1.0 - a)
        from_peak = (length - 1.0) / (b - 1.0)
        falling = (lmax - length) / (lmax - b)
        value = np.where(
            length <= a,
            0.5 * rising**2,
            np.where(
                length <= 1.0,
                1.0 - 0.5 * to_peak**2,
                np.where(length <= b, 1.0 - 0.5 * from_peak**2, 0.5 * falling**2),
            ),
        )
        return np.where((length < lmin) | (length > lmax), 0.0, value)

    def passive_force(self, length: NDArray) -> NDArray:
        """MuJoCo's passive force at normalized fibre ``length``, in peak forces (mju_muscleBias)."""
        b = 0.5 * (1.0 + self.lmax)
        x = (length - 1.0) / (b - 1.0)
        return self.fpmax * np.where(length <= 1.0, 0.0, np.where(length <= b, 0.5 * x * x, 0.5 + (x - 1.0)))

    def power(
        self, excitation: NDArray, activation: NDArray, length: NDArray, velocity: NDArray, force: NDArray
    ) -> NDArray:
        """Metabolic power (W) of each muscle: ``excitation`` (clipped to [0, 1]), ``activation``; ``length``
        in optimal lengths, ``velocity`` in optimal lengths per second (+ lengthening), ``force`` the
        tension in peak forces (each ``(..., n_muscles)``, as the observation gives them)."""
        excitation = np.minimum(np.maximum(excitation, 0.0), 1.0)  # as MuJoCo clamps the controls
        effective = np.where(excitation > activation, excitation, 0.5 * (excitation + activation))
        stretched = length > 1.0
        f_iso = self.active_force_length(length)
        maintenance = self.maintenance * np.where(stretched, 0.4 + 0.6 * f_iso, 1.0) * effective**0.6
        shortening = velocity <= 0.0
        rate = np.where(shortening, -self.shortening * velocity, self.lengthening * velocity)
        scale = np.where(shortening, effective**2, effective)
        heat = maintenance + rate * scale * np.where(stretched, f_iso, 1.0)
        heat = AEROBIC_SCALE * heat
        heat = np.maximum(heat, MIN_HEAT_RATE)
        contractile = (force - self.passive_force(length)) * self.peak_force  # N
        work = -contractile * velocity * self.optimal_length  # W
        return heat * self.mass + work
