"""Cross-validated linear decoding of task variables from activity (scikit-learn)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def _folds(groups: NDArray, n_splits: int) -> GroupKFold:
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise ValueError("decoding needs steps from at least 2 episodes (folds hold out whole episodes)")
    return GroupKFold(n_splits=min(n_splits, n_groups))


def decode_continuous(activity: NDArray, target: NDArray, groups: NDArray, n_splits: int = 5) -> float:
    """R^2 of a ridge regression (regularisation chosen by inner cross-validation) that predicts
    ``target`` (steps, dims) from ``activity`` (steps, features), each fold holding out whole
    episodes (``groups``: each step's episode), so no step is predicted from its own neighbours.
    Variance-weighted over the target's dimensions; 1 is perfect, 0 is the mean's prediction."""
    target = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    predicted = cross_val_predict(model, activity, target, groups=groups, cv=_folds(groups, n_splits))
    residual = np.sum((target - predicted) ** 2)
    return float(1.0 - residual / np.sum((target - target.mean(axis=0)) ** 2))


def decode_category(activity: NDArray, labels: NDArray, groups: NDArray, n_splits: int = 5) -> float:
    """Accuracy of a logistic regression that predicts each step's category (e.g. the task) from
    ``activity``, folds holding out whole episodes. Chance is about 1 / (number of categories)."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    predicted = cross_val_predict(model, activity, labels, groups=groups, cv=_folds(groups, n_splits))
    return float(np.mean(predicted == labels))
