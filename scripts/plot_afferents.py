"""Figure: afferent responses of policies.SensoryModule to a ramp-and-hold stretch.

    python scripts/plot_afferents.py            # writes docs/afferents.png

A muscle held at L0 for 0.2 s is stretched at 1 L0/s to 1.1 L0 and held for 0.3 s; then its force
rises at 5 Fmax/s to 1.5 Fmax. Panels: length and velocity; Ia with and without full dynamic and
static gamma drive; II with and without static drive; Ib against force. Default gains.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from policies import SensoryModule  # noqa: E402

DT = 0.01
OUT = Path(__file__).resolve().parents[1] / "docs" / "afferents.png"


def main() -> None:
    t = np.arange(60) * DT
    velocity = np.where((t >= 0.2) & (t < 0.3), 1.0, 0.0)
    length = 1.0 + np.cumsum(velocity) * DT
    module = SensoryModule(1, learnable=False)
    as_column = lambda x: torch.tensor(x, dtype=torch.float32)[:, None]  # noqa: E731

    def rates(gamma_static: float, gamma_dynamic: float):
        ones = torch.ones(len(t), 1)
        with torch.no_grad():
            return module(
                as_column(length),
                as_column(velocity),
                torch.zeros(len(t), 1),
                gamma_static * ones,
                gamma_dynamic * ones,
            )

    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
    ax = axes[0]
    ax.plot(t, length, label="length (L0)")
    ax.plot(t, velocity, label="velocity (L0/s)")
    ax.set(title="ramp-and-hold stretch", xlabel="time (s)")
    ax.legend(fontsize=8)
    for (gs, gd), style in {(0, 0): "k-", (0, 1): "C3-", (1, 0): "C0--"}.items():
        out = rates(gs, gd)
        axes[1].plot(t, out.ia[:, 0], style, label=f"gamma static {gs}, dynamic {gd}")
        if gd == 0:
            axes[2].plot(t, out.ii[:, 0], style, label=f"gamma static {gs}")
    axes[1].set(title="Ia (spindle primary)", xlabel="time (s)", ylabel="rate / 300 imp/s")
    axes[2].set(title="II (spindle secondary)", xlabel="time (s)")
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    force = torch.linspace(0, 1.5, 100)[:, None]
    with torch.no_grad():
        ib = module(torch.ones_like(force), torch.zeros_like(force), force).ib
    axes[3].plot(force[:, 0], ib[:, 0], "k-")
    axes[3].set(title="Ib (Golgi tendon organ)", xlabel="force (Fmax)", ylabel="normalized rate")
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
