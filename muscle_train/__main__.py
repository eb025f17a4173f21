"""``python -m muscle_train train ...`` and ``python -m muscle_train evaluate ...``: the same tools as
``muscle-train`` and ``muscle-evaluate``."""

from __future__ import annotations

import sys

COMMANDS = {"train": "muscle_train.cli.train", "evaluate": "muscle_train.cli.evaluate"}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(
            "usage: python -m muscle_train {train,evaluate} [options]  (--help after either for its options)"
        )
        sys.exit(2 if len(sys.argv) >= 2 and sys.argv[1] not in ("-h", "--help") else 0)
    import importlib

    command = sys.argv.pop(1)
    sys.argv[0] = f"python -m muscle_train {command}"
    importlib.import_module(COMMANDS[command]).main()


if __name__ == "__main__":
    main()
