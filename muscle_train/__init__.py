"""The training stack of muscle_envs: train, evaluate, distil and search policies for the muscle
envs with Stable-Baselines3, and keep every run in a run directory that evaluation reloads.

Layers, in order; each imports only those listed before it (tests/test_package.py checks):

=================  =================================================================================
``config``         the typed run configuration (config.yml), session options, hyperparams.yml
``rundir``         run-directory layout; config, model, normalizer and checkpoint files
``envs``           env construction for training and evaluation (wrappers, vectorization)
``rollouts``       the episode loop, episode records and summaries, videos
``analysis``       recordings of a run for ``muscle_analysis``; its fixed points
``plots``          evaluation figures (matplotlib)
``evaluation``     evaluating a run or a model file
``callbacks``      periodic evaluation, checkpoints, progress, Ctrl-C handling
``tracking``       Weights & Biases
``trainers``       the training methods behind one interface: SB3, distillation, CMA-ES
``training``       resolve a request into a run configuration; start and resume runs
``cli``            the command-line tools (argument parsing only; the library never imports it)
=================  =================================================================================

It needs the ``train`` extra (``pip install "muscle_envs[train]"``); ``muscle_envs`` alone needs
neither torch nor Stable-Baselines3.
"""

from muscle_envs import __version__

__all__ = ["__version__"]
