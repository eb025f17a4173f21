"""Stable-Baselines3 training: PPO, RecurrentPPO, SAC and TD3 over (Fast)VecNormalize and vectorized
envs, with periodic evaluations, checkpoints, Ctrl-C handling and resumption.

Observations and rewards are normalized with VecNormalize (entries the policy models
physiologically stay raw). The policy acts in [-1, 1], mapped onto the env's [0, 1] excitations by
``gymnasium.wrappers.RescaleAction``. Ctrl-C (or SIGTERM) saves the model and its normalizer (and a
checkpoint) before returning; a resumed run continues from the latest checkpoint with the same step
counter and normalizer.
"""

from __future__ import annotations

import inspect
import math
import signal
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize, sync_envs_normalization

from muscle_envs.observations import RULE
from muscle_envs.vector import FastVecNormalize
from muscle_train import rundir
from muscle_train.callbacks import (
    ActionStdSchedule,
    CheckpointCallback,
    EpisodeMetricsCallback,
    EvalCallback,
    FreezeNormalizer,
    ProgressBarCallback,
    PushRamp,
    StopOnSignal,
)
from muscle_train.config import RUN_SETTINGS, RunConfig, RunError, Session, is_number
from muscle_train.envs import (
    EVAL_SEED_OFFSET,
    initial_action,
    make_env,
    make_eval_env,
    make_run_vec_env,
    normalized_keys,
)
from muscle_train.rollouts import record_video
from muscle_train.trainers.base import Trainer
from policies import POLICIES, PolicySpec, policy_spec, set_action_mean
from policies.transfer import train_only_input


class SB3Trainer(Trainer):
    """PPO, RecurrentPPO, SAC and TD3 (``rundir.ALGORITHMS``)."""

    algos = tuple(rundir.ALGORITHMS)
    run_settings = RUN_SETTINGS  # all of them
    resumable = True

    def arguments(self, algo: str) -> list[str]:
        params = inspect.signature(rundir.ALGORITHMS[algo].__init__).parameters
        return [name for name in params if name not in ("self", "policy", "env", "_init_setup_model")]

    def check_policy(self, algo: str, policy: str) -> None:
        recurrent = algo == "recurrent_ppo"
        if POLICIES[policy].recurrent != recurrent:
            fitting = sorted(n for n, spec in POLICIES.items() if spec.recurrent == recurrent)
            kind = "recurrent" if POLICIES[policy].recurrent else "feed-forward"
            raise RunError(f"policy {policy!r} is {kind}; {algo} trains {fitting}")
        if not POLICIES[policy].off_policy and issubclass(rundir.ALGORITHMS[algo], OffPolicyAlgorithm):
            fitting = sorted(n for n, spec in POLICIES.items() if spec.off_policy and not spec.recurrent)
            raise RunError(f"policy {policy!r} is PPO's only; {algo} trains {fitting}")

    def check(self, config: RunConfig) -> None:
        """Schedules, replay buffer and action noise name what exists (their names and options do
        not depend on the env's spaces: a one-entry space stands in, and no env is made)."""
        stand_in = gym.spaces.Box(-1.0, 1.0, (1,))
        rundir.algorithm_kwargs(config.hyperparams, stand_in, stand_in)
        std, sde = config.final_action_std, config.hyperparams.get("use_sde")
        if std is not None:
            if issubclass(rundir.ALGORITHMS[config.algo], OffPolicyAlgorithm) or sde:
                raise RunError(
                    "final_action_std schedules PPO's Gaussian noise (its log_std, without use_sde); "
                    f"{config.algo}{' with use_sde' if sde else ''} has none"
                )
            if not is_number(std) or not 0 < std < math.inf:
                raise RunError(f"final_action_std must be a positive number (a std of [-1, 1]), got {std!r}")
        until = config.normalizer_until
        if until is not None:
            if not is_number(until) or not 0 <= until <= 1:
                raise RunError(f"normalizer_until must be a fraction of training in [0, 1], got {until!r}")
            if until == 0 and config.derived_from is None:
                raise RunError(
                    "normalizer_until 0 keeps the statistics a run starts with, those of the run it "
                    "starts from (--finetune); a new run has none to keep"
                )
            if not config.normalize:
                raise RunError("normalizer_until freezes the normalizer's statistics; this run has none")
        ramp = config.push_ramp
        if ramp is not None:
            if not (
                isinstance(ramp, tuple)
                and len(ramp) == 2
                and all(map(is_number, ramp))
                and 0 <= ramp[0] <= ramp[1] <= 1
            ):
                raise RunError(
                    "push_ramp must be [start, end], fractions of training with 0 <= start <= end <= 1, "
                    f"got {ramp!r}"
                )
            if not config.env_config.get("push_force"):
                has = "has push_force 0" if "push_force" in config.env_config else "has no pelvis pushes"
                raise RunError(
                    f"push_ramp grows the training envs' pelvis pushes to the env's push_force; {config.env} "
                    f"{has} (e.g. --env_kwargs push_force=300)"
                )

    def check_resume(self, run_dir: Path, config: RunConfig, session: Session) -> None:
        """A readable checkpoint is there; the unreadable ones after it are named."""
        checkpoint, problems = resumable_checkpoint(run_dir, config, session.trust)
        for problem in problems:
            print(f"skipping a checkpoint: {problem}", file=sys.stderr)
        if problems:
            print(f"resuming from the latest readable checkpoint, {checkpoint.name}", file=sys.stderr)

    def train(
        self, config: RunConfig, run_dir: Path, session: Session, wandb_run: Any
    ) -> dict[str, Any] | None:
        spec = policy_spec(config.policy, **config.hyperparams.get("policy_kwargs", {}))
        checkpoint = resumable_checkpoint(run_dir, config, session.trust)[0] if session.resume else None
        venv, eval_env = build_envs(config, run_dir, spec)
        if checkpoint is not None:
            if isinstance(venv, VecNormalize):
                venv = rundir.load_normalizer(
                    checkpoint / rundir.CHECKPOINT_NORMALIZER,
                    venv.venv,
                    training=not is_transfer(config),
                    trust=session.trust,
                )
            model = rundir.load_model(
                checkpoint / rundir.CHECKPOINT_MODEL,
                venv,
                config,
                session.trust,
                session.device,
                for_training=True,
            )
            model.tensorboard_log = str(run_dir / rundir.TENSORBOARD_DIR)  # the run dir may have moved since
            if rundir.load_replay_buffer(model, checkpoint):
                print(
                    f"restored the replay buffer ({model.replay_buffer.size() * model.n_envs:,} transitions)"
                )
            if is_transfer(config):
                freeze_for_transfer(model)
            print(f"resuming {run_dir} from {checkpoint.name} ({model.num_timesteps:,} steps)")
        elif config.derived_from is not None:
            model, venv = derived_model(config, venv, run_dir, session)
        else:
            model = new_model(config, spec, venv, run_dir, session.device)
        return learn(
            config, run_dir, session, model, venv, eval_env, wandb_run, resumed=checkpoint is not None
        )


def resumable_checkpoint(run_dir: Path, config: RunConfig, trust: bool = False) -> tuple[Path, list[str]]:
    """The latest checkpoint whose model (and normalizer, for a normalized run) can be read, and why
    each later one cannot (a run killed while writing, a disk that filled up, a file damaged since).

    Raises:
        RunError: no checkpoint, or none readable (each named).
    """
    problems = []
    for checkpoint in reversed(rundir.checkpoints(run_dir)):
        try:
            rundir.model_data(checkpoint / rundir.CHECKPOINT_MODEL)
            if config.normalize:
                rundir.check_normalizer_file(checkpoint / rundir.CHECKPOINT_NORMALIZER, trust)
        except RunError as err:
            problems.append(str(err))
            continue
        return checkpoint, problems
    if not problems:
        raise RunError(f"{run_dir} has no checkpoint to resume from")
    raise RunError(f"{run_dir} has no readable checkpoint to resume from: {'; '.join(problems)}")


def build_envs(config: RunConfig, run_dir: Path, spec: PolicySpec) -> tuple[VecEnv, VecEnv]:
    """The training envs (with Monitor files) and the evaluation envs, normalized alike."""
    assert config.n_envs is not None and config.vec_env is not None  # training.check_config
    venv = make_run_vec_env(config, config.n_envs, config.vec_env, monitor_dir=run_dir / rundir.MONITOR_DIR)
    eval_env = make_eval_env(config)
    normalize = config.normalize
    if normalize:
        # Entries the policy models physiologically (muscle length/velocity/force) stay in their units,
        # and codes (a task's one-hot) stay codes.
        keys = normalized_keys(venv.observation_space, spec.raw_observation_keys)
        settings = {"gamma": config.hyperparams.get("gamma", 0.99), **normalize}
        if keys is not None:
            settings["norm_obs_keys"] = keys
        venv = FastVecNormalize(venv, **settings)
        eval_env = FastVecNormalize(eval_env, **{**settings, "training": False, "norm_reward": False})
    return venv, eval_env


def new_model(config: RunConfig, spec: PolicySpec, venv: VecEnv, run_dir: Path, device: str) -> BaseAlgorithm:
    algorithm = rundir.ALGORITHMS[config.algo]
    model = algorithm(
        spec.policy,
        venv,
        policy_kwargs=spec.kwargs_for(venv),
        seed=config.seed,
        device=device,
        verbose=0,
        tensorboard_log=str(run_dir / rundir.TENSORBOARD_DIR),
        **rundir.algorithm_kwargs(config.hyperparams, venv.observation_space, venv.action_space),
    )
    action = initial_action(config)
    if action is not None:
        set_action_mean(model.policy, action)
    return model


def is_transfer(config: RunConfig) -> bool:
    """A transfer run (``config.derived_from``) keeps its source's normalizer and, but for the weights
    from the rule input, its actor frozen."""
    return config.derived_from is not None and config.derived_from[0] == "transfer"


def derived_model(
    config: RunConfig, venv: VecEnv, run_dir: Path, session: Session
) -> tuple[BaseAlgorithm, VecEnv]:
    """The final model of the run ``config.derived_from`` on ``venv``, normalized with that run's
    statistics, seeded with this run's seed: for a transfer, its actor frozen but for the weights
    from the rule input (``policies.transfer``) and the statistics frozen; for a finetune, all of it
    training."""
    assert config.derived_from is not None
    _, source_dir = config.derived_from
    source = rundir.load_config(source_dir)
    model_path, normalizer_path = rundir.run_files(source_dir, "final", source)
    if isinstance(venv, VecNormalize) and normalizer_path is not None:
        frozen = is_transfer(config) or config.normalizer_until == 0
        venv = rundir.load_normalizer(normalizer_path, venv.venv, training=not frozen, trust=session.trust)
    model = rundir.load_model(model_path, venv, config, session.trust, session.device, for_training=True)
    if config.final_action_std is not None:  # the noise's schedule starts where the source's noise ended
        start = float(model.policy.log_std.detach().mean())
        model.policy.log_std_init = start
        model.policy_kwargs["log_std_init"] = start  # (saved with the model: a resumed run keeps it)
    model.tensorboard_log = str(run_dir / rundir.TENSORBOARD_DIR)
    model.num_timesteps = 0  # a new run: its steps count from 0
    model.seed = config.seed  # (the loaded model has its source's, and learn() seeds the envs with it)
    model.set_random_seed(config.seed)
    if is_transfer(config):
        weights = freeze_for_transfer(model)
        print(
            f"transfer from {source_dir}: training {weights} weights from the rule input and the critic; "
            "the rest of the actor and the normalizer are frozen"
        )
    else:
        options = " ".join(f"{key}={value}" for key, value in config.env_kwargs.items())
        print(f"finetuning {source_dir}'s final model on {config.env}{' ' + options if options else ''}")
    return model, venv


def freeze_for_transfer(model: BaseAlgorithm) -> int:
    """Train only the actor's weights from the rule input, and the critic (``policies.transfer``);
    returns how many actor weights train."""
    try:
        weight, columns = train_only_input(model.policy, RULE)
    except ValueError as err:
        raise RunError(f"transfer: {err}") from None
    return weight.shape[0] * (columns.stop - columns.start)


def video_recorder(config: RunConfig, run_dir: Path, train_env: VecEnv, wandb_run: Any):
    """``record(model, step)``: one deterministic evaluation episode as videos/step_<N>.mp4, sent to
    W&B as a ``wandb.Video``."""

    def record(model: BaseAlgorithm, step: int) -> None:
        import wandb

        env: VecEnv = DummyVecEnv(
            [
                lambda: make_env(
                    config.env,
                    config.env_kwargs,
                    config.action_range,
                    "rgb_array",
                    observation_keys=config.observation_keys,
                )
            ]
        )
        if isinstance(train_env, VecNormalize):
            env = VecNormalize(env, training=False, norm_reward=False, norm_obs_keys=train_env.norm_obs_keys)
            sync_envs_normalization(train_env, env)
        env.seed(config.seed)
        try:
            path = record_video(model, env, run_dir / "videos" / f"step_{step:012d}.mp4")
        finally:
            env.close()
        wandb_run.log({"eval/video": wandb.Video(str(path), format="mp4"), "global_step": step})

    return record


def finite_weights(model: BaseAlgorithm) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.policy.parameters())


def learn(
    config: RunConfig,
    run_dir: Path,
    session: Session,
    model: BaseAlgorithm,
    venv: VecEnv,
    eval_env: VecEnv,
    wandb_run: Any,
    resumed: bool,
) -> dict[str, Any] | None:
    """Train ``model`` up to ``config.total_timesteps`` with the run's callbacks; save it (and a
    checkpoint) however training ends, unless its weights diverged."""
    assert config.total_timesteps is not None and config.keep_checkpoints is not None
    remaining = config.total_timesteps - model.num_timesteps
    video = video_recorder(config, run_dir, venv, wandb_run) if wandb_run is not None else None
    evaluation = (
        EvalCallback(
            eval_env,
            run_dir,
            config.eval_freq or 0,
            config.n_eval_episodes,
            config.seed + EVAL_SEED_OFFSET,
            video,
            hooks=session.evaluation_hooks,
        )
        if config.eval_freq or video
        else None
    )
    stop = StopOnSignal()
    callbacks: list[BaseCallback] = [
        stop,
        EpisodeMetricsCallback(),
        CheckpointCallback(run_dir, config.checkpoint_freq or 0, config.keep_checkpoints),
    ]
    if config.final_action_std is not None:
        callbacks.append(ActionStdSchedule(config.final_action_std, config.total_timesteps))
    if config.normalizer_until is not None:
        callbacks.append(FreezeNormalizer(config.normalizer_until, config.total_timesteps))
    if config.push_ramp is not None:
        callbacks.append(PushRamp(*config.push_ramp, config.total_timesteps))
    if evaluation is not None:
        callbacks.append(evaluation)
    if session.progress:
        callbacks.append(ProgressBarCallback(config.total_timesteps, evaluation))
    print(
        f"training {config.algo} ({config.policy}) on {config.env} "
        f"for {config.total_timesteps:,} steps with {config.n_envs} {config.vec_env} envs",
        f"-> {run_dir}",
        flush=True,
    )
    interrupted = False
    try:  # Ctrl-C or SIGTERM (a scheduler's kill) ends training at the next step; see StopOnSignal
        if remaining > 0:
            model.learn(remaining, callback=CallbackList(callbacks), reset_num_timesteps=not resumed)
        interrupted = stop.requested
    except KeyboardInterrupt:  # a second Ctrl-C, or one before training started
        interrupted = True
        stop.flag.signum = stop.flag.signum or signal.SIGINT
    except ValueError as err:  # SB3's distribution refuses non-finite action means: training diverged
        if finite_weights(model):
            raise
        raise RunError(
            f"training diverged at step {model.num_timesteps:,}: the policy's weights are no longer finite "
            f"({str(err).splitlines()[0]}). The checkpoints and best_model.zip from before are kept; "
            "a lower learning_rate may help"
        ) from None
    finally:
        try:
            if interrupted:
                print(f"\ninterrupted at step {model.num_timesteps:,}; saving", file=sys.stderr)
            # Ctrl-C (or an error) still leaves a usable model, its normalizer and a checkpoint; a
            # diverged model is not usable, and saving it would push a good checkpoint out
            if finite_weights(model):
                rundir.save_model_and_normalizer(
                    model, venv, run_dir / rundir.MODEL_FILE, run_dir / rundir.NORMALIZER_FILE
                )
                rundir.save_checkpoint(model, venv, run_dir, config.keep_checkpoints)
        finally:  # the workers and their shared memory go, however saving went (a full disk)
            venv.close()
            eval_env.close()
    summary = evaluation.last if evaluation is not None else None
    print(f"saved {rundir.MODEL_FILE} and {rundir.NORMALIZER_FILE} at step {model.num_timesteps:,}")
    if interrupted:
        print(f"resume with: muscle-train --resume {run_dir}  (or python train_sb3.py --resume {run_dir})")
        raise stop.flag.interrupted()
    if summary is not None:
        print(
            f"last evaluation: success {summary['success_rate']:.0%}, return {summary['mean_reward']:.1f}, "
            f"episode length {summary['mean_episode_length']:.0f} over {summary['n_episodes']} episodes"
        )
    return summary


TRAINER = SB3Trainer()
