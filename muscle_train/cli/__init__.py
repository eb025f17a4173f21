"""The command-line tools: argument parsing over the library (``muscle-train``, ``muscle-evaluate``,
``python -m muscle_train train|evaluate``, and the repository's ``train_sb3.py`` and ``evaluate.py``).
Nothing in the library imports them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

import yaml

from muscle_train.config import Interrupted, RunError


def parse_env_kwargs(pairs: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict, values parsed as YAML (numbers, booleans, lists, strings)."""
    kwargs = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RunError(f"--env_kwargs takes key=value pairs, got {pair!r}")
        kwargs[key] = yaml.safe_load(value)
    return kwargs


def fail(prog: str, err: RunError) -> NoReturn:
    """Print a user error in one line and exit with status 2, like argparse's usage errors."""
    print(f"{prog}: error: {err}", file=sys.stderr)
    sys.exit(2)


def guarded(prog: str, body: Callable[[], Any]) -> Any:
    """``body()``, with a RunError reported by :func:`fail`, and an interrupted run (which has saved
    and said how to resume) ending with exit status 130 (SIGINT) or 143 (SIGTERM)."""
    try:
        return body()
    except RunError as err:
        fail(prog, err)
    except Interrupted as stop:
        sys.exit(stop.exit_status)
