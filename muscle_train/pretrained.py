"""Trained baselines shipped with the package: run directories without pickles (config.yml, the
model, the normalizer's JSON statistics) under ``muscle_train/baselines/NAME/``, each with
``baseline.json``: its recorded success and the command that reproduces it.

``muscle-evaluate --pretrained NAME`` (or ``evaluate.py``) evaluates one like any run;
``scripts/export_pretrained.py`` makes one from a run directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from muscle_train.config import RunError

PRETRAINED = Path(__file__).parent / "baselines"
BASELINE_FILE = "baseline.json"


def baselines() -> dict[str, dict[str, Any]]:
    """Every shipped baseline's ``baseline.json``, by name."""
    found = sorted(path.parent for path in PRETRAINED.glob(f"*/{BASELINE_FILE}"))
    return {path.name: json.loads((path / BASELINE_FILE).read_text()) for path in found}


def baseline_dir(name: str) -> Path:
    """The run directory of the shipped baseline ``name`` (a name of :func:`baselines`).

    Raises:
        RunError: no baseline of that name (the message lists them).
    """
    path = PRETRAINED / name
    if not name or "/" in name or not (path / BASELINE_FILE).is_file():
        known = ", ".join(baselines()) or "none"
        raise RunError(f"no pretrained baseline {name!r}; shipped: {known}")
    return path
