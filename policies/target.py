"""Place-cell population code of a target position (seed 001)."""

from __future__ import annotations

import torch
from torch import nn


class TargetEncoder(nn.Module):
    """Gaussian place cells on a grid: ``exp(-|target - centre|^2 / (2 sigma^2))`` per cell.

    Args:
        low, high: (x, z) corners of the grid, m (the env's workspace).
        grid: cells along x and z.
        sigma: tuning width, m.
        learnable_centres: let training move the centres.
    """

    def __init__(
        self,
        low: tuple[float, float] = (0.1, 0.3),
        high: tuple[float, float] = (0.6, 0.7),
        grid: tuple[int, int] = (8, 8),
        sigma: float = 0.05,
        learnable_centres: bool = False,
    ):
        super().__init__()
        xs = torch.linspace(low[0], high[0], grid[0])
        zs = torch.linspace(low[1], high[1], grid[1])
        centres = torch.cartesian_prod(xs, zs)  # (gx * gz, 2), x-major like the env's place cells
        self.centres = nn.Parameter(centres, requires_grad=learnable_centres)
        self.sigma = sigma
        self.n_cells = centres.shape[0]

    def forward(self, target: torch.Tensor) -> torch.Tensor:
        """(batch, 2) positions, m -> (batch, n_cells) activities in [0, 1]."""
        squared = ((target[:, None, :] - self.centres[None, :, :]) ** 2).sum(-1)  # (batch, n_cells)
        return torch.exp(-squared / (2.0 * self.sigma**2))
