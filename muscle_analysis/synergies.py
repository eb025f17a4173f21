"""Muscle synergies: non-negative matrix factorisation of muscle activity (Lee & Seung 1999; as
synergies: Tresch, Saltiel & Bizzi 1999, Torres-Oviedo & Ting 2007), the number of synergies the
fewest that account for a threshold of the variance (VAF, uncentred: 1 - |X - WH|^2 / |X|^2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.decomposition import NMF


@dataclass(frozen=True)
class Synergies:
    """An NMF of muscle activity X (steps, muscles) ~ activations @ weights.

    Attributes:
        weights: (synergies, muscles) each synergy's muscle weights (rows of unit norm).
        activations: (steps, synergies) when each synergy is active.
        vaf: VAF of this factorisation.
        vaf_by_count: VAF of the best factorisation with 1, 2, ... synergies (as tried).
    """

    weights: NDArray[np.float64]
    activations: NDArray[np.float64]
    vaf: float
    vaf_by_count: NDArray[np.float64]

    @property
    def count(self) -> int:
        return len(self.weights)


def _vaf(data: NDArray, reconstruction: NDArray) -> float:
    return float(1.0 - np.sum((data - reconstruction) ** 2) / np.sum(data**2))


def muscle_synergies(
    activity: NDArray, threshold: float = 0.9, max_synergies: int | None = None, seed: int = 0
) -> Synergies:
    """The fewest synergies whose NMF accounts for ``threshold`` of ``activity``'s (steps, muscles;
    non-negative) variance, trying 1, 2, ... up to ``max_synergies`` (default: the muscles)."""
    activity = np.asarray(activity, dtype=np.float64)
    if np.any(activity < 0):
        raise ValueError("muscle synergies need non-negative activity (excitations or activations)")
    n_muscles = activity.shape[1]
    fits, vafs = [], []
    for count in range(1, (max_synergies or n_muscles) + 1):
        nmf = NMF(n_components=count, init="nndsvda", max_iter=5000, tol=1e-6, random_state=seed)
        activations = nmf.fit_transform(activity)
        fits.append((activations, nmf.components_))
        vafs.append(_vaf(activity, activations @ nmf.components_))
        if vafs[-1] >= threshold:
            break
    activations, weights = fits[-1]
    norms = np.linalg.norm(weights, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return Synergies(weights / norms, activations * norms.T, vafs[-1], np.array(vafs))
