"""``python -m muscle_train train ...`` and ``python -m muscle_train evaluate ...``: the same tools as
``muscle-train`` and ``muscle-evaluate``."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {"train": "muscle_train.cli.train", "evaluate": "muscle_train.cli.evaluate"}
USAGE = "usage: python -m muscle_train {train,evaluate} [options]  (--help after either for its options)"


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] in ("-h", "--help"):
        print(USAGE)
        return
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(USAGE, file=sys.stderr)  # like argparse's usage errors
        sys.exit(2)
    command = sys.argv.pop(1)
    sys.argv[0] = f"python -m muscle_train {command}"
    importlib.import_module(COMMANDS[command]).main()


if __name__ == "__main__":
    main()
