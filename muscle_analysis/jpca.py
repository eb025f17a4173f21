"""jPCA (Churchland, Cunningham, Kaufman et al. 2012, Nature 487:51): rotational dynamics in a
population's activity. The activity of several conditions (e.g. reaches to different targets) is
reduced to its first k principal components X, and dX/dt is fitted by X M with M skew-symmetric
(a pure rotation, no expansion); the eigenvectors of M give planes of rotation and their frequencies.
Written from the paper's methods; the authors' MATLAB code and its Python port are not on PyPI."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from muscle_analysis.population import principal_components


@dataclass(frozen=True)
class JPCA:
    """A jPCA fit.

    Attributes:
        planes: (planes, 2, features) orthonormal pairs of directions in the original activity
            space, the one holding the most variance first; activity projected on a plane rotates
            counterclockwise at ``frequencies``.
        frequencies: (planes,) rotation frequency of each plane, Hz (cycles per second).
        r2_skew: fraction of the variance of dX/dt that the rotation X M_skew explains.
        r2_best: the same for the unconstrained linear fit X M (an upper bound of ``r2_skew``).
        variance_captured: (planes,) fraction of the activity's variance (after removing the
            cross-condition mean) in each plane.
        mean: (features,) what was subtracted before projecting (the activity's mean).
        trajectories: (conditions, time, 2) the fitted conditions in the first plane (after the
            cross-condition mean was removed, where it was).
    """

    planes: NDArray[np.float64]
    frequencies: NDArray[np.float64]
    r2_skew: float
    r2_best: float
    variance_captured: NDArray[np.float64]
    mean: NDArray[np.float64]
    trajectories: NDArray[np.float64]

    def project(self, activity: NDArray, plane: int = 0) -> NDArray[np.float64]:
        """(steps, features) -> (steps, 2): the activity in one rotation plane."""
        return (np.asarray(activity) - self.mean) @ self.planes[plane].T


def _skew_basis(k: int) -> list[NDArray[np.float64]]:
    basis = []
    for i in range(k):
        for j in range(i + 1, k):
            m = np.zeros((k, k))
            m[i, j], m[j, i] = 1.0, -1.0
            basis.append(m)
    return basis


def jpca(
    conditions: list[NDArray], dt: float, n_components: int = 6, subtract_cross_condition_mean: bool = True
) -> JPCA:
    """jPCA of ``conditions``, each a (time, features) trajectory of the same length, ``dt`` s apart.

    Args:
        conditions: one trajectory per condition (at least 2), e.g. each reach's movement epoch.
        dt: seconds between steps.
        n_components: principal components to fit the dynamics in (even; Churchland et al.: 6).
        subtract_cross_condition_mean: remove the mean over conditions at each time first (the paper
            does: what all conditions share is not a rotation among them).
    """
    if len(conditions) < 2:
        raise ValueError("jPCA needs at least 2 conditions")
    lengths = {len(c) for c in conditions}
    if len(lengths) != 1 or min(lengths) < 3:
        raise ValueError(f"jPCA needs trajectories of one length >= 3 steps, got lengths {sorted(lengths)}")
    if n_components < 2 or n_components % 2:
        raise ValueError(f"n_components must be even and >= 2, got {n_components}")
    data = np.stack([np.asarray(c, dtype=np.float64) for c in conditions])  # (conditions, time, features)
    if subtract_cross_condition_mean:
        data = data - data.mean(axis=0, keepdims=True)
    flat = data.reshape(-1, data.shape[-1])
    pcs = principal_components(flat, n_components)
    k = pcs.axes.shape[0] - pcs.axes.shape[0] % 2
    x = np.stack([pcs.project(c)[:, :k] for c in data])  # (conditions, time, k)
    states = x[:, :-1].reshape(-1, k)
    derivative = (np.diff(x, axis=1) / dt).reshape(-1, k)
    states = states + 0.5 * dt * derivative  # midpoints: dX/dt is taken between two samples
    best, *_ = np.linalg.lstsq(states, derivative, rcond=None)
    basis = _skew_basis(k)
    design = np.stack([(states @ b).ravel() for b in basis], axis=1)
    weights, *_ = np.linalg.lstsq(design, derivative.ravel(), rcond=None)
    skew = sum(w * b for w, b in zip(weights, basis, strict=True))
    total = np.sum((derivative - derivative.mean(axis=0)) ** 2)
    r2 = {
        name: 1.0 - np.sum((derivative - states @ m) ** 2) / total
        for name, m in (("skew", skew), ("best", best))
    }

    # Right-multiplying rows (dX = X M) rotates by M^T; its eigenvectors come in conjugate pairs.
    values, vectors = np.linalg.eig(skew.T)
    planes, frequencies = [], []
    for i in np.flatnonzero(values.imag > 0):
        real, imag = vectors[:, i].real, vectors[:, i].imag
        # (re, -im): the rotation runs counterclockwise in (jPC1, jPC2), as the paper draws it
        pair = np.stack([real / np.linalg.norm(real), -imag / np.linalg.norm(imag)])
        planes.append(pair @ pcs.axes[:k])  # back to the activity's space
        frequencies.append(values[i].imag / (2 * np.pi))
    centred = flat - pcs.mean
    total_variance = centred.var(axis=0).sum()
    captured = np.array([(centred @ p.T).var(axis=0).sum() / total_variance for p in planes])
    # Planes by the variance they hold (the paper orders by speed of rotation; with noisy
    # components in the fit, a fast plane may hold almost nothing).
    order = np.argsort(-captured)
    planes_array, captured = np.stack(planes)[order], captured[order]
    frequencies_array = np.array(frequencies)[order]
    trajectories = (data - pcs.mean) @ planes_array[0].T
    return JPCA(
        planes_array,
        frequencies_array,
        float(r2["skew"]),
        float(r2["best"]),
        captured,
        pcs.mean,
        trajectories,
    )
