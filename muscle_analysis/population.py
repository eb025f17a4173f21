"""Population structure of recorded activity: principal components, and how the subspaces that two
conditions (tasks, epochs) occupy relate (principal angles, variance-accounted-for ratios)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA


@dataclass(frozen=True)
class Components:
    """Principal components of some activity (``sklearn.decomposition.PCA``).

    Attributes:
        mean: (features,) the activity's mean.
        axes: (components, features) orthonormal rows, by variance explained.
        explained: (components,) fraction of the activity's variance along each.
    """

    mean: NDArray[np.float64]
    axes: NDArray[np.float64]
    explained: NDArray[np.float64]

    def project(self, activity: NDArray) -> NDArray[np.float64]:
        """(steps, features) -> (steps, components)."""
        return (np.asarray(activity) - self.mean) @ self.axes.T

    def dimensionality(self, fraction: float = 0.9) -> int:
        """Fewest components that explain ``fraction`` of the variance."""
        return int(np.searchsorted(np.cumsum(self.explained), fraction - 1e-12) + 1)


def principal_components(activity: NDArray, n_components: int | None = None) -> Components:
    """PCA of ``activity`` (steps, features): all components, or the first ``n_components``."""
    activity = np.asarray(activity, dtype=np.float64)
    n = min(activity.shape) if n_components is None else min(n_components, *activity.shape)
    fit = PCA(n_components=n).fit(activity)
    return Components(fit.mean_, fit.components_, fit.explained_variance_ratio_)


def principal_angles(a: NDArray, b: NDArray, n_components: int) -> NDArray[np.float64]:
    """Principal angles (degrees, smallest first) between the subspaces spanned by the first
    ``n_components`` principal components of activity ``a`` and of ``b`` (steps, features) each.

    0 deg: a shared direction; 90 deg: orthogonal ones. Björck & Golub 1973, via
    ``scipy.linalg.subspace_angles``; seed 004 compares tasks' and epochs' subspaces so.
    """
    axes_a = principal_components(a, n_components).axes
    axes_b = principal_components(b, n_components).axes
    return np.sort(np.degrees(subspace_angles(axes_a.T, axes_b.T)))


def vaf_ratio(a: NDArray, b: NDArray, n_components: int) -> float:
    """How much of ``a``'s variance ``b``'s subspace accounts for, against ``a``'s own: the variance of
    ``a`` along the first ``n_components`` principal components of ``b``, over its variance along its
    own first ``n_components`` (seed 004's ``_vaf_ratio``). 1: ``b``'s subspace holds ``a`` as well
    as ``a``'s own does; 0: orthogonal subspaces."""
    a = np.asarray(a, dtype=np.float64)
    centred = a - a.mean(axis=0)
    own = principal_components(a, n_components).axes
    other = principal_components(b, n_components).axes
    return float((centred @ other.T).var(axis=0).sum() / (centred @ own.T).var(axis=0).sum())
