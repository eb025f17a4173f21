"""Where the benchmarks write their results (bench/results/, git-ignored in quick mode)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save_results(name: str, quick: bool, payload: Any) -> Path:
    """Write ``payload`` as bench/results/<name>[_quick].json and say so."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}{'_quick' if quick else ''}.json"
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")
    return out
