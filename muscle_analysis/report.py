"""Every analysis that applies to a recording, with one figure each, and ``analysis.json``.

Which analyses apply depends on what the recording holds: population analyses (PCA, jPCA,
subspaces, decoding) read the network's activity (``hidden``, a recurrent core's state, or
``latent``, a feed-forward actor's last hidden layer) and fall back on the muscle excitations;
synergies need muscle activity; reaching kinematics need a hand; subspaces need tasks or epochs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from muscle_analysis.decoding import decode_category, decode_continuous
from muscle_analysis.fixed_points import FixedPoints
from muscle_analysis.jpca import jpca
from muscle_analysis.kinematics import reach_kinematics
from muscle_analysis.population import principal_angles, principal_components, vaf_ratio
from muscle_analysis.recording import Recording
from muscle_analysis.synergies import muscle_synergies

ACTIVITY = ("hidden", "latent", "excitation")  # the first the recording has is "the activity"
SUBSPACE_DIMS = 4  # principal components per subspace (tasks, epochs)
JPCA_WINDOW_S = 0.6  # s of each movement that jPCA fits (Churchland et al.: ~ the reach)


def activity_signal(recording: Recording) -> str:
    return next(name for name in ACTIVITY if name in recording.signals)


def movement_steps(recording: Recording) -> NDArray[np.bool_]:
    """Steps of the movement (and hold): the epochs from ``movement`` on where the env has epochs,
    else every step."""
    names = recording.label_names.get("epoch", [])
    if "movement" in names:
        return recording.labels["epoch"] >= names.index("movement")
    return np.ones(len(recording.episode), dtype=bool)


def analyse(
    recording: Recording, out_dir: str | Path, fixed_points: dict[str, FixedPoints] | None = None
) -> dict[str, Any]:
    """Run the analyses that apply to ``recording``; write their figures and ``analysis.json`` into
    ``out_dir`` and return the JSON's content. ``fixed_points``: per condition, found with the
    policy (``muscle_train.analysis.fixed_points``), summarized and drawn here."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    activity = activity_signal(recording)
    results: dict[str, Any] = {"activity": activity, "n_episodes": recording.n_episodes, "figures": []}
    if "success" in recording.labels:  # (its last step's: the episode's)
        results["success_rate"] = float(recording.label_of_episodes("success", last=True).mean())
    if "excitation" in recording.signals:
        results["mean_squared_excitation"] = float(np.mean(recording.signals["excitation"] ** 2))
    steps = [
        ("pca", pca_figure),
        ("jpca", _jpca),
        ("subspaces", _subspaces),
        ("decoding", _decoding),
        ("synergies", _synergies),
        ("kinematics", _kinematics),
    ]
    for name, analysis in steps:
        outcome = analysis(recording, activity, out / f"{name}.png")
        if outcome is not None:
            results[name] = outcome
            results["figures"].append(f"{name}.png")
    if fixed_points:
        results["fixed_points"] = _fixed_points(recording, fixed_points, out / "fixed_points.png")
        results["figures"].append("fixed_points.png")
    tmp = out / ".tmp-analysis.json"
    tmp.write_text(json.dumps(results, indent=2, default=_json_default))
    os.replace(tmp, out / "analysis.json")
    return results


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _condition_colours(recording: Recording) -> tuple[NDArray, str]:
    """Per episode: a colour index and what it stands for (the task where there is one)."""
    if "task" in recording.labels and np.unique(recording.labels["task"]).size > 1:
        return recording.label_of_episodes("task").astype(int), "task"
    return np.arange(recording.n_episodes), "episode"


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _legend(ax: Any, recording: Recording, colours: NDArray, by: str) -> None:
    """A legend of the colours, where they stand for tasks."""
    if by != "task":
        return
    for code in np.unique(colours):
        ax.plot([], [], color=f"C{code % 10}", label=recording.code_name("task", code))
    ax.legend(fontsize=6, ncol=2)


def pca_figure(recording: Recording, activity: str, path: Path) -> dict[str, Any]:
    """PCA of ``activity`` (a signal of the recording): its trajectories on the first two components
    (coloured by task where there are tasks) and the variance each component explains."""
    values = recording.signals[activity]
    pcs = principal_components(values)
    colours, by = _condition_colours(recording)
    fig = Figure(figsize=(10, 4.2))
    ax, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for e, episode in enumerate(recording.episodes(activity)):
        projected = pcs.project(episode)
        ax.plot(projected[:, 0], projected[:, 1], color=f"C{colours[e] % 10}", lw=0.8, alpha=0.7)
        ax.plot(*projected[0, :2], "o", color=f"C{colours[e] % 10}", ms=3)
    ax.set(xlabel=f"PC1 ({pcs.explained[0]:.0%})", ylabel=f"PC2 ({pcs.explained[1]:.0%})")
    ax.set_title(f"{activity}: trajectories (o start), colour: {by}", fontsize=10)
    _legend(ax, recording, colours, by)
    shown = min(10, pcs.explained.size)
    bars.bar(np.arange(1, shown + 1), pcs.explained[:shown], label="each")
    bars.plot(np.arange(1, shown + 1), np.cumsum(pcs.explained[:shown]), "k.-", label="cumulative")
    bars.set(xlabel="principal component", ylabel="variance explained", ylim=(0, 1.02))
    bars.legend(fontsize=8)
    _save(fig, path)
    return {
        "signal": activity,
        "features": int(values.shape[1]),
        "explained": pcs.explained[:10],
        "components_for_90_percent": pcs.dimensionality(0.9),
    }


def _jpca(recording: Recording, activity: str, path: Path) -> dict[str, Any] | None:
    window = max(3, int(round(JPCA_WINDOW_S / recording.dt)))
    segments = recording.episodes(activity, movement_steps(recording))
    length = min(window, *(len(s) for s in segments)) if segments else 0
    if len(segments) < 2 or length < 3 or recording.signals[activity].shape[1] < 2:
        return None
    n = min(6, recording.signals[activity].shape[1] - recording.signals[activity].shape[1] % 2)
    fit = jpca([s[:length] for s in segments], recording.dt, n_components=n)
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for i, trajectory in enumerate(fit.trajectories):
        colour = f"C{i % 10}"
        ax.plot(trajectory[:, 0], trajectory[:, 1], color=colour, lw=0.9)
        ax.plot(*trajectory[0], "o", color=colour, ms=3)
        ax.annotate("", trajectory[-1], trajectory[-2], arrowprops={"arrowstyle": "->", "color": colour})
    ax.set(xlabel="jPC1", ylabel="jPC2")
    ax.set_aspect("equal")
    ax.set_title(
        f"jPCA of {activity}, first {length * recording.dt:.2f} s of movement\n"
        f"{fit.frequencies[0]:.2f} Hz, R2 rotation {fit.r2_skew:.2f} (any linear {fit.r2_best:.2f}), "
        f"{fit.variance_captured[0]:.0%} of variance",
        fontsize=9,
    )
    _save(fig, path)
    return {
        "signal": activity,
        "window_s": length * recording.dt,
        "conditions": len(segments),
        "frequencies_hz": fit.frequencies,
        "r2_rotation": fit.r2_skew,
        "r2_linear": fit.r2_best,
        "variance_captured": fit.variance_captured,
    }


def _subspaces(recording: Recording, activity: str, path: Path) -> dict[str, Any] | None:
    values = recording.signals[activity]
    dims = min(SUBSPACE_DIMS, values.shape[1])
    result: dict[str, Any] = {"signal": activity, "components": dims}
    panels = []
    for label in ("task", "epoch"):
        if label not in recording.labels:
            continue
        codes = [c for c in np.unique(recording.labels[label]) if np.sum(recording.labels[label] == c) > dims]
        if len(codes) < 2:
            continue
        names = [recording.code_name(label, c) for c in codes]
        groups = [values[recording.labels[label] == c] for c in codes]
        ratios = np.array([[vaf_ratio(a, b, dims) for b in groups] for a in groups])
        angles = np.array([[principal_angles(a, b, dims)[0] for b in groups] for a in groups])
        result[label] = {"names": names, "vaf_ratio": ratios, "smallest_angle_deg": angles}
        panels.append((label, names, ratios))
    if "epoch" in result and {"delay", "movement"} <= set(result["epoch"]["names"]):
        epoch = recording.labels["epoch"]
        names = recording.label_names["epoch"]
        delay, move = (values[epoch == names.index(e)] for e in ("delay", "movement"))
        result["delay_vs_movement_angles_deg"] = principal_angles(delay, move, dims)
    if not panels:
        return None
    fig = Figure(figsize=(5.2 * len(panels), 4.6))
    for ax, (label, names, ratios) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels, strict=True):
        image = ax.imshow(ratios, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set(xlabel=f"subspace of ({dims} PCs)", ylabel="variance of")
        ax.set_title(f"VAF ratio between {label}s ({activity})", fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.046)
    _save(fig, path)
    return result


def _velocity(recording: Recording, name: str) -> tuple[NDArray, NDArray[np.bool_]]:
    """Finite-difference velocity of a signal within episodes, and the steps where it is defined."""
    values = recording.signals[name]
    velocity = np.zeros_like(values)
    velocity[:-1] = np.diff(values, axis=0) / recording.dt
    defined = np.append(recording.episode[1:] == recording.episode[:-1], False)
    return velocity, defined


def _decoding(recording: Recording, activity: str, path: Path) -> dict[str, Any] | None:
    if activity == "excitation" or recording.n_episodes < 2:
        return None  # decoding asks what the network's activity holds
    values, groups = recording.signals[activity], recording.episode
    scores: dict[str, float] = {}
    for name in ("hand", "pelvis_height", "foot_load", "obs.target"):
        if name in recording.signals:
            scores[f"{name.removeprefix('obs.')} (R2)"] = decode_continuous(
                values, recording.signals[name], groups
            )
    if "hand" in recording.signals:
        velocity, defined = _velocity(recording, "hand")
        scores["hand velocity (R2)"] = decode_continuous(values[defined], velocity[defined], groups[defined])
    for label in ("task", "epoch"):
        if label in recording.labels and np.unique(recording.labels[label]).size > 1:
            scores[f"{label} (accuracy)"] = decode_category(values, recording.labels[label], groups)
    if not scores:
        return None
    fig = Figure(figsize=(6, 0.5 * len(scores) + 1.5))
    ax = fig.subplots()
    ax.barh(list(scores), list(scores.values()), color="C0")
    for i, score in enumerate(scores.values()):
        ax.text(max(score, 0) + 0.01, i, f"{score:.2f}", va="center", fontsize=8)
    ax.set(xlim=(min(0, *scores.values()), 1.1), xlabel="cross-validated score (held-out episodes)")
    ax.set_title(f"linear decoding from {activity}", fontsize=10)
    _save(fig, path)
    return {"signal": activity, "scores": scores}


def _synergies(recording: Recording, activity: str, path: Path) -> dict[str, Any] | None:
    name = next((n for n in ("activation", "excitation") if n in recording.signals), None)
    if name is None:
        return None
    data = np.clip(recording.signals[name], 0.0, None)
    found = muscle_synergies(data, threshold=0.9)
    muscles = recording.meta.get("muscles", [f"m{i}" for i in range(data.shape[1])])
    fig = Figure(figsize=(12, 3.8))
    curve, weights, profile = fig.subplots(1, 3, gridspec_kw={"width_ratios": [2, 3, 4]})
    counts = np.arange(1, len(found.vaf_by_count) + 1)
    curve.plot(counts, found.vaf_by_count, "o-")
    curve.axhline(0.9, color="k", ls=":", lw=0.8)
    curve.set(xlabel="synergies", ylabel="VAF", title=f"{found.count} synergies for 90% VAF", xticks=counts)
    image = weights.imshow(found.weights, aspect="auto", cmap="magma", vmin=0)
    if len(muscles) <= 30:
        weights.set_xticks(range(len(muscles)), muscles, rotation=90, fontsize=6)
    weights.set(ylabel="synergy", title=f"weights ({name})", yticks=range(found.count))
    weights.set_yticklabels([str(k + 1) for k in range(found.count)])
    fig.colorbar(image, ax=weights, fraction=0.046)
    first = recording.episode == recording.episode[0]
    t = np.arange(first.sum()) * recording.dt
    for k in range(found.count):
        profile.plot(t, found.activations[first][:, k], lw=1.0, label=f"synergy {k + 1}")
    profile.set(xlabel="time (s)", title="activation, first episode")
    profile.legend(fontsize=7)
    _save(fig, path)
    return {
        "signal": name,
        "count_for_90_percent": found.count,
        "vaf_by_count": found.vaf_by_count,
        "weights": found.weights,
        "muscles": muscles,
    }


def movement_paths(recording: Recording) -> tuple[list[NDArray], str]:
    """Each episode's hand path over its movement, and which span that is: up to the first step
    within the reach distance of the target where the env reaches for one (``meta["env_config"]``'s
    ``reach_threshold``), else the movement and hold epochs where it has epochs, else the episode."""
    where = movement_steps(recording)
    paths = recording.episodes("hand", where)
    threshold = recording.meta.get("env_config", {}).get("reach_threshold")
    if threshold is None or "target" not in recording.signals:
        return paths, "movement and hold epochs" if "epoch" in recording.labels else "whole episode"
    cut = []
    for hand, target in zip(paths, recording.episodes("target", where), strict=True):
        inside = np.flatnonzero(np.linalg.norm(hand - target, axis=1) <= threshold)
        cut.append(hand[: inside[0] + 1] if inside.size else hand)
    return cut, "start to the first reach"


def _kinematics(recording: Recording, activity: str, path: Path) -> dict[str, Any] | None:
    if "hand" not in recording.signals:
        return None
    paths, span = movement_paths(recording)
    nan = reach_kinematics(np.zeros((3, 2)), recording.dt)  # (a path too short to measure: NaNs)
    reaches = [reach_kinematics(p, recording.dt) if len(p) >= 3 else nan for p in paths]
    moved = [r for r in reaches if not math.isnan(r.symmetry)]
    if not moved:
        return None
    colours, by = _condition_colours(recording)
    fig = Figure(figsize=(10, 4))
    speed_ax, line_ax = fig.subplots(1, 2)
    for e, p in enumerate(paths):
        speed = np.linalg.norm(np.diff(p, axis=0), axis=1) / recording.dt
        if speed.max() > 0:
            speed_ax.plot(
                np.arange(len(speed)) * recording.dt, speed, color=f"C{colours[e] % 10}", lw=0.7, alpha=0.6
            )
    speed_ax.set(
        xlabel="time from movement start (s)",
        ylabel="hand speed (m/s)",
        title=f"speed profiles ({by}; {span})",
    )
    _legend(speed_ax, recording, colours, by)
    linearity = np.array([r.linearity for r in moved])
    finite = linearity[np.isfinite(linearity)]
    line_ax.hist(np.clip(finite, 1.0, 3.0), bins=30, color="C1")
    line_ax.set(xlabel="path length / straight distance (clipped at 3)", ylabel="movements")
    line_ax.set_title(f"linearity (1 = straight), median {np.median(finite):.2f}", fontsize=10)
    _save(fig, path)

    def summary(chosen: list) -> dict[str, float]:
        keys = ("linearity", "peak_speed", "peak_time", "movement_time", "symmetry", "peak_ratio")
        out = {k: float(np.nanmedian([getattr(r, k) for r in chosen])) for k in keys}
        out["single_peaked"] = float(np.mean([r.n_peaks == 1 for r in chosen]))
        out["movements"] = len(chosen)
        return out

    result: dict[str, Any] = {"span": span, "median": summary(moved)}
    if by == "task":
        tasks = recording.label_of_episodes("task")
        result["by_task"] = {
            recording.code_name("task", code): summary(
                [r for r, t in zip(reaches, tasks, strict=True) if t == code and not math.isnan(r.symmetry)]
            )
            for code in np.unique(tasks)
            if any(t == code and not math.isnan(r.symmetry) for r, t in zip(reaches, tasks, strict=True))
        }
    return result


def _fixed_points(recording: Recording, found: dict[str, FixedPoints], path: Path) -> dict[str, Any]:
    hidden = recording.signals["hidden"]
    size = hidden.shape[1]
    pcs = principal_components(hidden, 2)
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    projected = pcs.project(hidden)
    ax.plot(projected[:, 0], projected[:, 1], ".", color="0.8", ms=1, label="visited states")
    summary = {}
    for i, (name, points) in enumerate(found.items()):
        summary[name] = {
            "points": len(points),
            "stable": int(points.stable.sum()),
            "starts": points.n_starts,
            "lowest_speed": points.lowest_speed,
            "largest_eigenvalue_modulus": [float(np.abs(e[0])) for e in points.eigenvalues],
        }
        if len(points):
            xy = pcs.project(points.states[:, :size])
            for stable, marker in ((True, "o"), (False, "x")):
                chosen = points.stable == stable
                ax.plot(
                    xy[chosen, 0],
                    xy[chosen, 1],
                    marker,
                    color=f"C{i % 10}",
                    ms=6,
                    mfc="none" if not stable else None,
                )
            ax.plot([], [], "o", color=f"C{i % 10}", label=name)
    ax.set(xlabel="PC1 of hidden", ylabel="PC2 of hidden", title="fixed points (o stable, x unstable)")
    ax.legend(fontsize=7, markerscale=1)
    _save(fig, path)
    return summary
