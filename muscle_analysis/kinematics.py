"""Reaching kinematics of a hand path: how straight, how fast, and the shape of the speed profile.
Human point-to-point reaches are nearly straight with single-peaked, nearly symmetric (bell-shaped)
speed profiles (Morasso 1981, Exp Brain Res 42:223; Flash & Hogan 1985, J Neurosci 5:1688: the
minimum-jerk profile peaks at half the movement time at 1.875 x the mean speed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Reach:
    """One movement's kinematics (NaN where there was no movement).

    Attributes:
        linearity: path length over the straight distance between its ends (1: a straight line).
        peak_speed: m/s.
        peak_time: s from movement onset.
        movement_time: s from onset to end (speed above ``onset`` x peak).
        symmetry: peak time over movement time (0.5: symmetric, as minimum jerk).
        peak_ratio: peak speed over mean speed (minimum jerk: 1.875).
        n_peaks: local maxima of speed above half the peak (1: single-peaked).
    """

    linearity: float
    peak_speed: float
    peak_time: float
    movement_time: float
    symmetry: float
    peak_ratio: float
    n_peaks: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def reach_kinematics(path: NDArray, dt: float, onset: float = 0.1, min_distance: float = 1e-3) -> Reach:
    """Kinematics of a hand ``path`` (steps, dims) sampled every ``dt`` s. The movement is the span
    between the first and last step whose speed exceeds ``onset`` x the peak speed; a path that moves
    less than ``min_distance`` (m) in all gives NaNs."""
    path = np.asarray(path, dtype=np.float64)
    if len(path) < 3:
        raise ValueError(f"a reach needs at least 3 samples, got {len(path)}")
    speed = np.linalg.norm(np.diff(path, axis=0), axis=1) / dt  # between samples i and i+1
    peak = float(speed.max())
    if peak * dt * len(speed) < min_distance:
        nan = float("nan")
        return Reach(nan, peak, nan, nan, nan, nan, 0)
    moving = np.flatnonzero(speed >= onset * peak)
    first, last = int(moving[0]), int(moving[-1])
    segment = speed[first : last + 1]
    length = float(segment.sum() * dt)
    straight = float(np.linalg.norm(path[last + 1] - path[first]))
    duration = len(segment) * dt
    peak_index = int(np.argmax(segment))
    interior = segment[1:-1]
    maxima = (interior > segment[:-2]) & (interior >= segment[2:]) & (interior > 0.5 * peak)
    n_peaks = int(maxima.sum()) + int(
        segment[0] > 0.5 * peak and (len(segment) == 1 or segment[0] > segment[1])
    )
    n_peaks += int(len(segment) > 1 and segment[-1] > 0.5 * peak and segment[-1] > segment[-2])
    return Reach(
        linearity=length / straight if straight > min_distance else float("inf"),
        peak_speed=peak,
        peak_time=(peak_index + 0.5) * dt,
        movement_time=duration,
        symmetry=(peak_index + 0.5) / len(segment),
        peak_ratio=peak / float(segment.mean()),
        n_peaks=n_peaks,
    )
