"""One recording format for every analysis: the steps of some episodes as arrays, with per-step labels
and JSON metadata, saved as one ``.npz`` that loads without the run, the package's envs or torch.

``evaluate.py RUN --analysis DIR`` writes ``DIR/recording.npz`` (``muscle_train.recording`` records
it from a trained run); any other source of the same arrays works as well.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

FORMAT = "muscle_analysis.recording/1"
_SIGNAL, _LABEL = "signal__", "label__"


@dataclass
class Recording:
    """Steps of one or more episodes, in order, concatenated over episodes.

    Attributes:
        signals: name -> (steps, features) array. Names the analyses know: ``hidden`` (a recurrent
            policy's state after it read the step's observation), ``excitation`` and ``activation``
            (muscles, [0, 1]), ``hand`` (x, z in m), ``pelvis_height``, ``foot_load`` (ground reaction
            per foot), the afferents ``ia``, ``ii``, ``ib`` and gamma drives ``gamma_static``,
            ``gamma_dynamic``, and ``obs.<key>`` (an observation entry as the env gave it).
        episode: (steps,) the episode each step belongs to, 0, 1, ...
        labels: name -> (steps,) per-step labels: ``time`` (step in its episode) and, where the env
            has them, conditions (``task``, ``speed``) and the ``epoch`` (integer codes).
        label_names: label -> the names of its codes (``{"epoch": ["stable", "delay", ...]}``).
        meta: JSON-ready facts: ``dt`` (s per step), ``muscles`` (names), ``env``, ``run_dir``...
    """

    signals: dict[str, NDArray[np.float64]]
    episode: NDArray[np.int64]
    labels: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    label_names: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.episode = np.asarray(self.episode, dtype=np.int64)
        steps = self.episode.shape[0]
        for kind, arrays in (("signal", self.signals), ("label", self.labels)):
            for name, values in list(arrays.items()):
                values = np.asarray(values, dtype=np.float64)
                if kind == "signal" and values.ndim == 1:
                    values = values[:, None]
                if values.shape[0] != steps or (kind == "label" and values.ndim != 1):
                    raise ValueError(
                        f"{kind} {name!r} has shape {values.shape}; a recording of {steps} steps needs "
                        f"({steps}{', features)' if kind == 'signal' else ',)'}"
                    )
                arrays[name] = values
        unknown = sorted(set(self.label_names) - set(self.labels))
        if unknown:
            raise ValueError(f"label_names for labels the recording lacks: {unknown}")

    @property
    def n_episodes(self) -> int:
        return int(np.unique(self.episode).size)

    @property
    def dt(self) -> float:
        """Seconds per step (``meta["dt"]``)."""
        if "dt" not in self.meta:
            raise KeyError("the recording's meta has no 'dt' (seconds per step)")
        return float(self.meta["dt"])

    def episodes(self, name: str, where: NDArray[np.bool_] | None = None) -> list[NDArray[np.float64]]:
        """Signal ``name`` split into its episodes (in order), each restricted to the steps ``where``
        is true (episodes left empty are dropped)."""
        values = self.signals[name]
        keep = np.ones(len(values), dtype=bool) if where is None else where
        return [
            values[(self.episode == e) & keep]
            for e in np.unique(self.episode)
            if np.any((self.episode == e) & keep)
        ]

    def label_of_episodes(self, label: str, last: bool = False) -> NDArray[np.float64]:
        """Each episode's value of a label: its first step's (a label constant over an episode, e.g.
        ``task``), or with ``last`` its last step's (e.g. ``success``)."""
        if last:
            ends = np.flatnonzero(np.append(self.episode[1:] != self.episode[:-1], True))
            return self.labels[label][ends]
        _, first = np.unique(self.episode, return_index=True)
        return self.labels[label][first]

    def code_name(self, label: str, code: float) -> str:
        names = self.label_names.get(label)
        return names[int(code)] if names is not None else f"{label} {code:g}"

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.npz, compressed) in one step: a file is either whole or absent."""
        path = Path(path)
        arrays = {f"{_SIGNAL}{name}": values for name, values in self.signals.items()}
        arrays.update({f"{_LABEL}{name}": values for name, values in self.labels.items()})
        header = {"format": FORMAT, "label_names": self.label_names, "meta": self.meta}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")
        with open(tmp, "wb") as file:
            np.savez_compressed(file, episode=self.episode, header=np.array(json.dumps(header)), **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Read a recording written by :meth:`save` (no pickles are loaded)."""
        with np.load(path, allow_pickle=False) as data:
            if "header" not in data.files:
                raise ValueError(f"{path} is not a muscle_analysis recording (no header)")
            header = json.loads(str(data["header"]))
            if header.get("format") != FORMAT:
                raise ValueError(f"{path} has format {header.get('format')!r}; this version reads {FORMAT!r}")
            signals = {k[len(_SIGNAL) :]: data[k] for k in data.files if k.startswith(_SIGNAL)}
            labels = {k[len(_LABEL) :]: data[k] for k in data.files if k.startswith(_LABEL)}
            return cls(signals, data["episode"], labels, header["label_names"], header["meta"])
