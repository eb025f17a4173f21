"""Evaluate a trained run (the repository's entry point; installed: ``muscle-evaluate``).

    python evaluate.py RUN_DIR --help

The code lives in the installed package: ``muscle_train.cli.evaluate`` (options) over
``muscle_train.evaluation`` (the library).
"""

from muscle_train.cli.evaluate import main

if __name__ == "__main__":
    main()
