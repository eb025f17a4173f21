"""Train a policy on a muscle_envs task (the repository's entry point; installed: ``muscle-train``).

    python train_sb3.py --help

The code lives in the installed package: ``muscle_train.cli.train`` (options) over
``muscle_train.training`` (the library).
"""

from muscle_train.cli.train import main

if __name__ == "__main__":
    main()
