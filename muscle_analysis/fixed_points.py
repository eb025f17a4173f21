"""Fixed points of a recurrent network under a fixed input (Sussillo & Barak 2013, Neural Comput
25:626): from many initial states, minimise q(h) = 1/2 |F(h, u) - h|^2 by gradient descent, keep the
states where q is small, merge duplicates, and classify each by the eigenvalues of the Jacobian of F
there (a discrete-time map: stable when every |eigenvalue| < 1). Written from the paper with torch
(Golub & Sussillo's FixedPointFinder is not on PyPI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

StepMap = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (states (B, S), input (I,)) -> (B, S)


@dataclass(frozen=True)
class FixedPoints:
    """Fixed points found, one row each.

    Attributes:
        states: (points, state) the fixed points.
        speeds: (points,) q = 1/2 |F(h, u) - h|^2 at each (0 at an exact fixed point).
        eigenvalues: (points, state) complex eigenvalues of dF/dh there, largest modulus first.
        stable: (points,) every |eigenvalue| < 1.
        n_starts: initial states the search ran from.
        lowest_speed: the smallest q any search reached (above ``tolerance`` when none converged).
    """

    states: NDArray[np.float64]
    speeds: NDArray[np.float64]
    eigenvalues: NDArray[np.complex128]
    stable: NDArray[np.bool_]
    n_starts: int
    lowest_speed: float

    def __len__(self) -> int:
        return len(self.states)


def find_fixed_points(
    step: StepMap,
    inputs: NDArray | torch.Tensor,
    initial_states: NDArray | torch.Tensor,
    iterations: int = 3000,
    learning_rate: float = 1e-2,
    tolerance: float = 1e-8,
    merge_distance: float = 1e-3,
    noise: float = 0.0,
    seed: int = 0,
) -> FixedPoints:
    """Fixed points of ``h -> step(h, inputs)`` reached from ``initial_states`` (B, S).

    Args:
        step: the network's state update for a batch of states and one input (a fixed ``u``).
        inputs: (I,) the input held fixed.
        initial_states: where the searches start, e.g. states the network visited.
        iterations: Adam steps (all searches together; stops early once every q < tolerance / 100).
        learning_rate: Adam's.
        tolerance: largest q of a point kept.
        merge_distance: points closer than this (Euclidean) are one point.
        noise: standard deviation of Gaussian noise added to the initial states (spreads the search).
        seed: of that noise.
    """
    with torch.no_grad():
        start = torch.as_tensor(np.asarray(initial_states), dtype=torch.float64).clone()
        u = torch.as_tensor(np.asarray(inputs), dtype=torch.float64)
        if noise > 0:
            start += noise * torch.randn(
                start.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
            )
    states = start.requires_grad_(True)
    optimizer = torch.optim.Adam([states], lr=learning_rate)
    for _ in range(iterations):
        optimizer.zero_grad()
        q = 0.5 * ((step(states, u) - states) ** 2).sum(dim=1)
        if float(q.detach().max()) < tolerance / 100:
            break
        q.sum().backward()  # each search's gradient is its own q's
        optimizer.step()
    with torch.no_grad():
        q = (0.5 * ((step(states, u) - states) ** 2).sum(dim=1)).numpy()
    found = states.detach().numpy()[q < tolerance]
    speeds = q[q < tolerance]
    kept: list[int] = []
    for i in np.argsort(speeds):  # the best of each cluster stands for it
        if all(np.linalg.norm(found[i] - found[j]) > merge_distance for j in kept):
            kept.append(int(i))
    points = found[kept]
    eigenvalues = []
    for point in points:
        jacobian = torch.autograd.functional.jacobian(
            lambda h: step(h[None], u)[0], torch.as_tensor(point, dtype=torch.float64)
        )
        values = np.linalg.eigvals(jacobian.numpy())
        eigenvalues.append(values[np.argsort(-np.abs(values))])
    eig = np.array(eigenvalues, dtype=np.complex128).reshape(len(points), found.shape[1])
    stable = np.all(np.abs(eig) < 1.0, axis=1) if len(points) else np.zeros(0, dtype=bool)
    return FixedPoints(points, speeds[kept], eig, stable, len(start), float(q.min()))
