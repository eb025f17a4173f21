"""Gait from ground reaction forces: events, cycles, and the figure of a walking evaluation.

A foot is loaded while its vertical ground reaction force exceeds a threshold; a heel strike is the
step it becomes loaded, a toe-off the step it stops (the rule ``MyoLegsWalk-v0`` applies online).
A gait cycle runs from one heel strike of a foot to its next; signals are compared across cycles on
the normalized cycle, 0-100%.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from muscle_analysis.recording import Recording

SIDES = ("right", "left")
CYCLE_POINTS = 101  # 0, 1, ..., 100% of the gait cycle


class GaitEvents(NamedTuple):
    """Step indices of heel strikes and toe-offs."""

    strikes: NDArray[np.intp]
    toe_offs: NDArray[np.intp]


def gait_events(vertical_force: NDArray, threshold: float) -> GaitEvents:
    """Heel strikes and toe-offs of one foot in one episode from its vertical force per step (body
    weights): a strike where the force rises above ``threshold``, a toe-off where it falls back to
    it or below. The first step (the start) is neither."""
    loaded = np.asarray(vertical_force, dtype=np.float64) > threshold
    change = np.flatnonzero(loaded[1:] != loaded[:-1]) + 1
    return GaitEvents(change[loaded[change]], change[~loaded[change]])


def cycles(signal: NDArray, strikes: NDArray[np.intp], points: int = CYCLE_POINTS) -> NDArray[np.float64]:
    """``signal`` ((steps,) or (steps, k)) over each complete gait cycle (strike to next strike),
    resampled onto ``points`` points of the normalized cycle: (cycles, points, k)."""
    values = np.asarray(signal, dtype=np.float64)
    values = values[:, None] if values.ndim == 1 else values
    phase = np.linspace(0.0, 1.0, points)
    out = []
    for start, end in zip(strikes[:-1], strikes[1:], strict=True):
        steps = np.arange(start, end + 1)
        relative = (steps - start) / (end - start)
        out.append(
            np.stack([np.interp(phase, relative, values[steps, j]) for j in range(values.shape[1])], -1)
        )
    return np.array(out).reshape(len(out), points, values.shape[1])


def gait_figure(recording: Recording, threshold: float, path: Path) -> Path:
    """Vertical and fore-aft ground reaction force per foot over the normalized gait cycle (mean and
    spread over every complete cycle of every episode; human walking: a double hump peaking near
    1.1-1.2 body weights), and over the cycle of the foot with more of them the hip, knee and ankle
    angles and the muscles' activation.

    Needs the signal ``ground_reaction_force`` (right x, y, z, left x, y, z; body weights), and uses
    ``joint_angle`` (with ``meta["coordinates"]``, their names) and ``activation`` where recorded, as
    ``muscle_train`` records the walking envs. Forward is -y: the fore-aft force is plotted positive
    forward (propulsion)."""
    grf = recording.episodes("ground_reaction_force")
    angles = recording.episodes("joint_angle") if "joint_angle" in recording.signals else []
    fig = Figure(figsize=(13, 7.5))
    axes = fig.subplots(2, 3)
    percent = np.linspace(0, 100, CYCLE_POINTS)
    # each foot's heel strikes in each episode, with the episode: those with a complete cycle
    strikes_of = [
        [(e, gait_events(forces[:, 3 * side + 2], threshold).strikes) for e, forces in enumerate(grf)]
        for side in range(len(SIDES))
    ]
    strikes_of = [[(e, strikes) for e, strikes in per_side if len(strikes) > 1] for per_side in strikes_of]
    counts = []
    for side, name in enumerate(SIDES):
        vertical, fore_aft = [], []
        for e, strikes in strikes_of[side]:
            vertical.append(cycles(grf[e][:, 3 * side + 2], strikes)[..., 0])
            fore_aft.append(cycles(-grf[e][:, 3 * side + 1], strikes)[..., 0])
        counts.append(sum(len(v) for v in vertical))
        for ax, per_episode, label in (
            (axes[0, side], vertical, "vertical"),
            (axes[1, side], fore_aft, "fore-aft (+ forward)"),
        ):
            if per_episode:
                stacked = np.concatenate(per_episode)
                mean, spread = stacked.mean(0), stacked.std(0)
                ax.plot(percent, mean, color=f"C{side}", lw=1.5)
                ax.fill_between(percent, mean - spread, mean + spread, color=f"C{side}", alpha=0.25)
            else:
                ax.text(0.5, 0.5, "no complete gait cycle", ha="center", va="center", transform=ax.transAxes)
            ax.set(title=f"{name} foot: {label} GRF", xlabel="gait cycle (%)", ylabel="body weights")
            ax.grid(alpha=0.3)
    axes[0, 0].axhline(1.0, color="k", lw=0.6, ls=":")
    axes[0, 1].axhline(1.0, color="k", lw=0.6, ls=":")
    side = int(np.argmax(counts))  # the leg of the other panels: the one with more complete cycles
    leg, leg_cycles = SIDES[side], strikes_of[side]
    names = recording.meta.get("coordinates", [])
    ax = axes[0, 2]
    if angles and leg_cycles:
        for j, name in enumerate(names):
            if name in (f"hip_flexion_{leg[0]}", f"knee_angle_{leg[0]}", f"ankle_angle_{leg[0]}"):
                stacked = np.concatenate(
                    [cycles(np.degrees(angles[e][:, j]), s)[..., 0] for e, s in leg_cycles]
                )
                ax.plot(percent, stacked.mean(0), lw=1.2, label=name)
        ax.legend(fontsize=7)
    ax.set(title=f"{leg} leg joint angles (mean)", xlabel=f"{leg} gait cycle (%)", ylabel="degrees")
    ax.grid(alpha=0.3)
    ax = axes[1, 2]
    if "activation" in recording.signals and leg_cycles:
        activation = recording.episodes("activation")
        stacked = np.concatenate([cycles(activation[e], s) for e, s in leg_cycles]).mean(0)
        image = ax.imshow(stacked.T, aspect="auto", origin="lower", extent=(0, 100, 0, stacked.shape[1]))
        fig.colorbar(image, ax=ax, fraction=0.04)
    ax.set(title="muscle activation (mean)", xlabel=f"{leg} gait cycle (%)", ylabel="muscle")
    fig.suptitle(
        f"gait over the normalized cycle (right {counts[0]}, left {counts[1]} complete cycles; mean +- sd)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
