"""Learning benchmarks: train with train_sb3.py's defaults, evaluate, and plot the learning curves.

    python bench/learning.py arm                 # PPO-MLP on MuscleArmReach-v0 (goal: >= 95% in <= 10 min)
    python bench/learning.py arm_proprioception  # the same with vision=False
    python bench/learning.py arm_effort1 --seeds 3   # effort_weight=1, the human-like reaching setting
    python bench/learning.py arm_sensory_lstm    # RecurrentPPO, sensory_lstm (goal: >= 90% in <= 45 min)
    python bench/learning.py legs                # PPO on MyoLegsStand-v0 (goal: >= 80% stand, <= 3M steps)
    python bench/learning.py legs_lin            # the same, the learning rate decaying linearly to 0
    python bench/learning.py legs_holding        # the same, the action mean starting at holding
    python bench/learning.py legs_holding_lin    # ... and the learning rate decaying
    python bench/learning.py legs_holding_kl     # ... and PPO's epochs stopped at a KL target (0.05)
    python bench/learning.py legs_fast           # 16 envs, batch 2048, 5 epochs, the rate decaying
    python bench/learning.py legs_std2           # exploration noise std e^-2, the rate decaying
    python bench/learning.py legs_mb256          # minibatches of 256: 4x the gradient steps per sample
    python bench/learning.py legs_seed003        # seed 003's update (2048 x 8 samples, minibatches of 64)
    python bench/learning.py legs_seed003_adv    # seed 003's advanced command (16 envs, 128, rate 1e-4)
    python bench/learning.py legs_sde            # state-dependent exploration (gSDE), resampled every 4 steps
    python bench/learning.py legs_obs            # seed 003's observation keys only (123 of 363 numbers)
    python bench/learning.py legs_sac            # SAC, 8 envs, one gradient step per 4 env steps
    python bench/learning.py legs_bounded        # the action mean kept in the action range (mlp_bounded)
    python bench/learning.py legs_std_decay      # the noise not learnt: its std falling 0.37 -> 0.15
    python bench/learning.py legs_std_decay_lin  # ... and the learning rate decaying to 0
    python bench/learning.py legs_std_low        # ... to 0.05 (legs_std_lower: 0.02), rate decaying to 0
    python bench/learning.py legs_std_low_freeze # ... its normalizer frozen at 75% of training
    python bench/learning.py legs_freeze_half    # ... frozen at 50% of training instead
    python bench/learning.py legs_freeze_short   # legs_std_low_freeze in 1.5M steps (schedules with them)
    python bench/learning.py legs_push           # the shipped standing baseline trained on with pushes
    python bench/learning.py legs_freeze_push    # legs_std_low_freeze with 300 N pushes from the start
    python bench/learning.py legs_kl_guard       # ... an update's epochs stopped once its KL passes 3 nats
    python bench/learning.py legs_push_ramp      # ... the pushes growing from 0 to 300 N (2M to 3M of 4M)
    python bench/learning.py arm_sensory_lstm_lin  # the recurrent sensory arm, its rate decaying to 0
    python bench/learning.py walk_ppo walk_sac walk_td3_per  # MyoLegsWalk-v0: seed 002's comparison
    python bench/learning.py walk_ppo_150k walk_sac_150k walk_td3_per_150k  # ... on 150k steps each
    python bench/learning.py legs_reflex_cmaes walk_reflex_cmaes  # the reflex controller, CMA-ES
    python bench/learning.py arm_distill_dagger  # the arm run distilled into a sensory_rnn (DAgger)
    python bench/learning.py arm_distill_bc      # the same, plain cloning of as many episodes
    python bench/learning.py legs_distill        # the legs run distilled into a sensory_gru (DAgger)
    python bench/learning.py legs_distill_rounds # the shipped standing baseline, 8 DAgger rounds
    python bench/learning.py arm_cmaes           # CMA-ES, sensory_rnn with 32 units (2.5k weights)
    python bench/learning.py arm_distill_small   # the arm baseline distilled into that same controller
    python bench/learning.py arm_cmaes_sep       # sep-CMA-ES (diagonal), 16 fitness episodes
    python bench/learning.py arm_cmaes_pop       # the same, 108 candidates x 4 episodes
    python bench/learning.py arm_cmaes_floor     # arm_cmaes_sep with a floor under its step, 900 generations
    python bench/learning.py arm_cmaes_small8    # ... on a controller of 8 units (476 weights)
    python bench/learning.py arm_rppo_small      # RecurrentPPO on that same controller
    python bench/learning.py multitask_teacher   # PPO-MLP on MuscleArmMultiTask-v0 with the privileged keys
    python bench/learning.py multitask_distill   # that teacher distilled into a GRU on seed 004's inputs
    python bench/learning.py multitask_rppo      # RecurrentPPO (GRU) on seed 004's inputs directly
    python bench/learning.py multitask_teacher9 multitask_transfer  # nine tasks, then Figure8Inv by transfer
    python bench/learning.py --plot              # only redraw the figure from the recorded runs
    python bench/learning.py walk_td3_per --resume   # continue the setting's latest run (a session
                                                 # ended it), then evaluate and record it
    python bench/learning.py arm --quick         # a few thousand steps: checks the pipeline (CI)
    python bench/learning.py legs --seeds 3      # seeds 0, 1, 2: each seed's result and the spread
    python bench/learning.py legs --seed 1       # seed 1 alone, recorded beside the others (run seeds
                                                 # side by side in separate processes)

Each setting runs ``train_sb3.py`` as a user would (its run directory goes under logs/bench/), times
it, then runs ``evaluate.py RUN --episodes 100`` (deterministic). Results: bench/results/learning.json
(one entry per setting, replaced when it is rerun; the final and the best model are each
evaluated); the curves (periodic evaluations, success rate
against env steps and against wall-clock minutes): bench/figures/learning_curves.png, for the
other training methods (distillation, CMA-ES, beside PPO) bench/figures/training_methods.png, and
for walking (time before a fall, distance) bench/figures/walking_curves.png.
A distillation setting's teacher is the recorded run of the setting it names (``teacher``), or a
shipped baseline (``pretrained:NAME``); its entry keeps the student/teacher ratios of the run's
distillation.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from muscle_envs.arm_multitask import TASK_NAMES  # noqa: E402
from muscle_train import rundir  # noqa: E402
from muscle_train.pretrained import baseline_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "bench" / "results"
FIGURES = ROOT / "bench" / "figures"
# The multi-task settings are evaluated on seed 004's test set (32 directions).
TEST_SET = ["--env_kwargs", "test=true"]
WALK_GOAL = "walk the full 10 s at >= 0.8 m/s in >= 50% of 100 episodes within <= 10M steps"
PRETRAINED_PREFIX = "pretrained:"  # a setting's teacher that is a shipped baseline, not a recorded run
# CMA-ES's controller (hyperparams.yml's cmaes entry): 32 ReLU units, 4 x 4 place cells, linear readout
SMALL_CONTROLLER = {
    "lstm_hidden_size": 32,
    "net_arch": [],
    "enable_critic_lstm": False,
    "features_extractor_kwargs": {"place_cells": [4, 4]},
}
CMAES_GOAL = ">= 80% on 100 held-out episodes in <= 60 min (both cores)"
LEGS_STEPS = 3_000_000  # hyperparams.yml's for MyoLegsStand-v0
LEGS_GOAL = ">= 90% final (3 seeds, none < 80%), 75% checkpoint >= 85%, <= 3M steps"
PUSH_GOAL = ">= 80% stand the full 10 s with push_force=300 (100 episodes)"
# A finetune of the standing baseline (which ended with std 0.05, its rate decayed to 0, its normalizer
# frozen at 75%) on pushes: the same std, the statistics kept, and small updates. At std 0.05 a mean
# that moves 0.03 in each of 80 muscles is ~14 nats, about what one Adam step at 1e-4 does (Adam's
# steps are ~lr per weight, whatever the gradient): measured, lin_1.0e-4 gave approx. KL 5-28 per
# update (clip fraction 0.9) and undid the baseline's standing (100 N: episodes 620 -> 310 steps in
# 250k). So: a tenth of that rate, and PPO's epochs stop once the KL passes 1.5 x target_kl.
PUSH_FINETUNE = {
    "learning_rate": "lin_1.0e-5",
    "target_kl": 0.05,
    "final_action_std": 0.05,
    "normalizer_until": 0,
}
# the exploration noise's std falling 0.37 -> 0.05 and the learning rate to 0; and the normalizer frozen
STD_LOW = {"final_action_std": 0.05, "learning_rate": "lin_3.0e-4"}
STD_LOW_FREEZE = {**STD_LOW, "normalizer_until": 0.75}


# MyoLegsStand-v0's PPO defaults before the ninth session (a learnt std, a constant rate, the
# statistics updating to the end; and PPO's, no KL target): what `legs` and the levers were measured
# over. Today's defaults are legs_kl_guard's (legs_std_low_freeze's until the twelfth session).
LEGS_BEFORE = {"learning_rate": 3.0e-4, "final_action_std": None, "normalizer_until": None}
LEGS_BEFORE_PPO = {"target_kl": None}


def setting_algo(args: list[str] | tuple[str, ...]) -> str:
    """The algorithm a setting's ``train_sb3.py`` arguments train with (``--algo``; PPO without)."""
    return args[args.index("--algo") + 1] if "--algo" in args else "ppo"


def legs_lever(hyperparams: dict, *args: str, goal: str = LEGS_GOAL, steps: int = LEGS_STEPS) -> dict:
    """A setting of issue 18's legs levers: the standing defaults of the time (``LEGS_BEFORE``, and
    for PPO ``LEGS_BEFORE_PPO``) with ``hyperparams`` (and ``args``), trained for ``steps``,
    checkpoints every quarter of them, all kept, so that the one at 75% of training is evaluated on
    100 episodes too (no collapse after the peak)."""
    length = {} if steps == LEGS_STEPS else {"total_timesteps": steps}
    return {
        "args": ["--env", "MyoLegsStand-v0", *args],
        "hyperparams": {
            **LEGS_BEFORE,
            **(LEGS_BEFORE_PPO if setting_algo(args) == "ppo" else {}),
            "checkpoint_freq": steps // 4,
            "keep_checkpoints": 4,
            **length,
            **hyperparams,
        },
        "evaluate_checkpoints": [steps * 3 // 4],
        "goal": goal,
    }


WALK_BUDGET = 150_000
WALK_DT = 0.01  # MyoLegsWalk-v0's seconds per env step (1000 steps: 10 s)
WALK_SETTINGS = ("walk_ppo", "walk_ppo_150k", "walk_sac_150k", "walk_td3_per_150k")  # the walking figure's


def walk_budget(*args: str) -> dict:
    """Seed 002's comparison on ``WALK_BUDGET`` env steps: MyoLegsWalk-v0 with the learner's
    hyperparams.yml entry (``args``: its ``--algo``), evaluated every 25k steps."""
    return {
        "args": ["--env", "MyoLegsWalk-v0", *args, "--total_timesteps", str(WALK_BUDGET)],
        "hyperparams": {"eval_freq": 25_000},
        "goal": f"reported: how far each learner walks after {WALK_BUDGET:,} env steps",
    }


SETTINGS: dict[str, dict] = {
    "arm": {"args": ["--env", "MuscleArmReach-v0"], "goal": "success >= 95% in <= 10 min"},
    "arm_effort1": {  # the human-like setting (README, The arm); its kinematics: bench/analysis.py
        "args": ["--env", "MuscleArmReach-v0", "--env_kwargs", "effort_weight=1"],
        "goal": ">= 95% success, median linearity <= 1.1, mean excitation^2 <= 0.1 (3 seeds)",
    },
    "arm_proprioception": {
        "args": ["--env", "MuscleArmReach-v0", "--env_kwargs", "vision=false"],
        "goal": "reported beside arm",
    },
    "arm_sensory_lstm": {
        "args": ["--env", "MuscleArmReach-v0", "--algo", "recurrent_ppo", "--policy", "sensory_lstm"],
        "goal": "success >= 90% in <= 45 min",
    },
    "arm_sensory_lstm_lin": {  # issue 18: the final model, not only the best, >= 95%
        "args": ["--env", "MuscleArmReach-v0", "--algo", "recurrent_ppo", "--policy", "sensory_lstm"],
        "hyperparams": {"learning_rate": "lin_3.0e-4"},
        "goal": "final model >= 95% (3 seeds) in <= 30 min",
    },
    "legs": {  # the defaults of the time
        "args": ["--env", "MyoLegsStand-v0"],
        "hyperparams": {**LEGS_BEFORE, **LEGS_BEFORE_PPO},
        "goal": ">= 80% stand 1000 steps after <= 3M steps",
    },
    # The levers of issue 18, each over the defaults (legs_lever).
    "legs_holding": legs_lever({"initial_action": "holding"}),
    "legs_holding_lin": legs_lever({"initial_action": "holding", "learning_rate": "lin_3.0e-4"}),
    # the defaults (the action mean in the middle: co-contraction), the rate decaying
    "legs_lin": legs_lever({"learning_rate": "lin_3.0e-4"}),
    # ... and PPO's epochs stopped once the policy moved 1.5 x 0.05 nats away
    "legs_holding_kl": legs_lever(
        {"initial_action": "holding", "learning_rate": "lin_3.0e-4", "target_kl": 0.05}
    ),
    # twice the envs (one batch on native threads), 4x fewer gradient steps per sample
    "legs_fast": legs_lever(
        {"n_envs": 16, "batch_size": 2048, "n_epochs": 5, "learning_rate": "lin_3.0e-4"},
        goal=f"{LEGS_GOAL}, wall clock halved",
    ),
    # smaller exploration noise: std e^-2 = 0.14 of the range (defaults: e^-1 = 0.37)
    "legs_std2": legs_lever(
        {"learning_rate": "lin_3.0e-4", "policy_kwargs": {"net_arch": [256, 256], "log_std_init": -2.0}}
    ),
    # More gradient steps per sample (legs_fast, 4x fewer, learnt far slower). The defaults take 40
    # minibatch steps per 4,096 samples; legs_mb256 4x (minibatches of 256); legs_seed003 16x (seed
    # 003's update: 2,048 steps per env, minibatches of 64, 10 epochs: 2,560 per 16,384 samples).
    "legs_mb256": legs_lever({"batch_size": 256}),
    "legs_seed003": legs_lever({"n_steps": 2048, "batch_size": 64}),
    # seed 003's "advanced" command: 16 envs, minibatches of 128, rate 1e-4
    "legs_seed003_adv": legs_lever(
        {"n_envs": 16, "n_steps": 2048, "batch_size": 128, "learning_rate": 1.0e-4}
    ),
    # State-dependent exploration (gSDE, Raffin et al. 2021): noise that is a function of the policy's
    # last hidden layer, drawn anew every 4 steps, so muscles' perturbations are correlated and
    # smooth in time. log_std_init -3.25 gives the defaults' initial action std (~0.37 of the policy's
    # [-1, 1]) with 256 tanh features.
    "legs_sde": legs_lever(
        {
            "use_sde": True,
            "sde_sample_freq": 4,
            "policy_kwargs": {"net_arch": [256, 256], "log_std_init": -3.25},
        }
    ),
    # Seed 003's observation (joints, pelvis, feet, activations: 123 numbers) instead of the full 363:
    # without the muscles' lengths, velocities and forces, which the joints' state mostly determines.
    "legs_obs": legs_lever(
        {
            "observation_keys": [
                "joint_position",
                "joint_velocity",
                "pelvis_pose",
                "pelvis_velocity",
                "foot_contact",
                "muscle_activation",
            ],
        }
    ),
    # The action mean kept inside the action range (tanh): a saturated muscle's mean cannot drift
    # (policies.BoundedMeanPolicy); everything else as the defaults.
    "legs_bounded": legs_lever({}, "--policy", "mlp_bounded"),
    # The noise on a schedule (final_action_std): its std no longer learnt but falling log-linearly
    # from the defaults' e^-1 = 0.37 to 0.15 at 3M steps, so what trains at the end is nearly the
    # mean, the deterministic policy (legs_bounded stood on its noise: 70% sampled, 0% deterministic).
    "legs_std_decay": legs_lever({"final_action_std": 0.15}),
    # ... and the learning rate decaying to 0 (legs_std_decay peaked at 2.5M steps, 81% of 100, then
    # fell to 20% as its updates grew: approx. KL 144 nats at 2.3M, 8.5e4 in the last; a step of the
    # mean costs KL in proportion to 1/std^2, so the rate falls as the std does).
    "legs_std_decay_lin": legs_lever({"final_action_std": 0.15, "learning_rate": "lin_3.0e-4"}),
    # ... to a third of that (0.05): legs_std_decay_lin stood with its noise (84% sampled) but not
    # without it (20%); what trains at the end here is close to the deterministic policy.
    "legs_std_low": legs_lever(STD_LOW),
    "legs_std_lower": legs_lever({**STD_LOW, "final_action_std": 0.02}),
    # ... and the normalizer frozen at 75% of training: legs_std_low's final model stood 73% of 100
    # with the final normalizer but 97% with the one of 2.25M (its 2.25M checkpoint: 96%), whose
    # model falls at once with the final statistics; the rate, near 0 by then, cannot follow them
    "legs_std_low_freeze": legs_lever(STD_LOW_FREEZE),
    # ... frozen at half of training instead: seed 2 learnt late (40% at 1.75M) and ended at 61% with
    # its mean, 88% with its noise; seed 1 learnt to stand with its mean only after the freeze
    "legs_freeze_half": legs_lever({**STD_LOW, "normalizer_until": 0.5}),
    # ... in half the steps (the schedules with them): issue 18's wall clock halved
    "legs_freeze_short": legs_lever(STD_LOW_FREEZE, steps=1_500_000),
    # Robust standing: the shipped standing baseline trained on, all of it, with 300 N pelvis pushes
    # every 1-3 s (--finetune), with PUSH_FINETUNE's small updates. (The baseline of the seventh
    # session, finetuned with its own settings, lost its standing at the first update.)
    "legs_push": {
        "args": ["--env_kwargs", "push_force=300", "--total_timesteps", "2000000"],
        "finetune": PRETRAINED_PREFIX + "MyoLegsStand-v0",
        "hyperparams": PUSH_FINETUNE,
        "goal": PUSH_GOAL,
    },
    # ... a curriculum's first step: 100 N (the baseline stands 26% of 100 there, 0% at 300 N)
    "legs_push100": {
        "args": ["--env_kwargs", "push_force=100", "--total_timesteps", "1500000"],
        "finetune": PRETRAINED_PREFIX + "MyoLegsStand-v0",
        "hyperparams": PUSH_FINETUNE,
        "goal": ">= 80% stand the full 10 s with push_force=100 (100 episodes): a curriculum's first step",
    },
    # ... and pushes from the first step, legs_std_low_freeze's settings (the finetune's first update
    # wrecked the baseline: approx. KL 110 nats)
    "legs_freeze_push": legs_lever(STD_LOW_FREEZE, "--env_kwargs", "push_force=300", goal=PUSH_GOAL),
    # ... with a guard against PPO's blow-ups: an update's epochs stop once its approx. KL passes 3
    # nats (1.5 x target_kl), above the usual update (median 0.75 nats over the three seeds) but below
    # the blow-ups (seed 2, the late one, had 94 updates over 3 nats, 53 over 10, up to 3,474; seeds
    # 0 and 1: 59 and 25). legs_holding_kl's target 0.05 stopped nearly every update early.
    "legs_kl_guard": legs_lever({**STD_LOW_FREEZE, "target_kl": 2.0}),
    # ... with the pushes on a ramp instead (a curriculum): off until the stance is usually found (2M;
    # the seeds stood from 1.75-2.25M), then growing to 300 N at 3M, where the normalizer freezes, and
    # full for the last 1M; 4M steps, so the schedules (std, rate) run over the longer budget.
    "legs_push_ramp": legs_lever(
        {**STD_LOW_FREEZE, "push_ramp": [0.5, 0.75]},
        "--env_kwargs",
        "push_force=300",
        goal=PUSH_GOAL,
        steps=4_000_000,
    ),
    # Off-policy: SAC on 8 batched envs, one gradient step per 4 env steps (the walking entry's replay
    # buffer and start), the same evaluations and checkpoints as the PPO levers.
    "legs_sac": legs_lever(
        {
            "keep_checkpoints": 2,  # each keeps the replay buffer (~1.7 GB); 2.25M and 3M stay
            "n_envs": 8,
            "vec_env": "batched",
            "gradient_steps": 2,
            "learning_starts": 10000,
            "eval_freq": 250000,
            "n_eval_episodes": 10,
        },
        "--algo",
        "sac",
        "--total_timesteps",
        "3000000",
    ),
    # Seed 002's comparison on one budget (3M env steps): PPO, SAC, TD3 with prioritized replay.
    "walk_ppo": {
        "args": ["--env", "MyoLegsWalk-v0", "--total_timesteps", "3000000"],
        "goal": WALK_GOAL,
    },
    "walk_sac": {
        "args": ["--env", "MyoLegsWalk-v0", "--algo", "sac", "--total_timesteps", "3000000"],
        "goal": WALK_GOAL,
    },
    "walk_td3_per": {
        "args": ["--env", "MyoLegsWalk-v0", "--algo", "td3", "--total_timesteps", "3000000"],
        "goal": WALK_GOAL,
    },
    # ... on the budget one session holds: SAC and TD3 train at ~50-65 env steps/s side by side (one
    # gradient step per env step), so 3M steps would take ~15 h of a core each.
    "walk_ppo_150k": walk_budget(),
    "walk_sac_150k": walk_budget("--algo", "sac"),
    "walk_td3_per_150k": walk_budget("--algo", "td3"),
    # Issue 19's stretch: the reflex controller (policies.reflex, Song & Geyer 2015: 169 gains) tuned
    # by CMA-ES, as SCONE tunes its own; standing first, then walking.
    "legs_reflex_cmaes": {
        "args": ["--env", "MyoLegsStand-v0", "--algo", "cmaes"],
        "goal": "reported: how long the tuned reflexes stand (success: 10 s)",
    },
    "walk_reflex_cmaes": {"args": ["--env", "MyoLegsWalk-v0", "--algo", "cmaes"], "goal": WALK_GOAL},
    "arm_distill_dagger": {
        "args": ["--algo", "distill"],
        "teacher": "arm",
        "goal": "student/teacher success >= 0.95 with DAgger",
    },
    "arm_distill_bc": {  # as many episodes as DAgger's 200 + 3 x 100, all from the teacher
        "args": ["--algo", "distill"],
        "teacher": "arm",
        "hyperparams": {"demo_episodes": 500, "dagger_rounds": 0},
        "goal": "reported beside arm_distill_dagger",
    },
    "legs_distill": {  # the legs run's final model stands less often than its best (bench/RESULTS.md)
        "args": ["--algo", "distill"],
        "teacher": "legs",
        "hyperparams": {"teacher_model": "best"},
        "goal": "reported",
    },
    # Issue 18: student >= 0.9 of its teacher's success, on the same 100 episodes. The teacher is the
    # shipped standing baseline (96% of 100; 52% before the ninth session), so the setting runs on a
    # fresh checkout; more DAgger rounds than legs_distill's 3, where a falling student's short
    # episodes bring few new states.
    "legs_distill_rounds": {
        "args": ["--algo", "distill"],
        "teacher": PRETRAINED_PREFIX + "MyoLegsStand-v0",
        "hyperparams": {"dagger_rounds": 8, "compare_episodes": 100},
        "goal": "student/teacher success >= 0.9 on the same 100 episodes",
    },
    "multitask_teacher": {
        "args": ["--env", "MuscleArmMultiTask-v0", "--env_kwargs", "privileged=true"]
        + ["--total_timesteps", "4000000"],
        "goal": "privileged teacher: mean error <= 2 cm, < 1 cm before the go cue",
        "evaluate_args": TEST_SET,
    },
    "multitask_distill": {
        "args": ["--algo", "distill", "--policy", "gru"],
        "teacher": "multitask_teacher",
        "goal": "one recurrent policy, seed 004's inputs: <= 2 cm (slow, middle speeds), < 1 cm premature",
        "evaluate_args": TEST_SET,
    },
    "multitask_rppo": {
        "args": ["--env", "MuscleArmMultiTask-v0", "--algo", "recurrent_ppo", "--policy", "gru"],
        "goal": "as multitask_distill, by RecurrentPPO directly",
        "evaluate_args": TEST_SET,
    },
    # Seed 004's transfer: a teacher on nine tasks (Figure8Inv held out), then the held-out task
    # learnt through the rule input's weights alone.
    "multitask_teacher9": {
        "args": ["--env", "MuscleArmMultiTask-v0", "--total_timesteps", "4000000", "--env_kwargs"]
        + ["privileged=true", f"tasks=[{','.join(TASK_NAMES[:-1])}]"],
        "goal": "source of multitask_transfer",
        "evaluate_args": TEST_SET,
    },
    "multitask_transfer": {
        "args": ["--env_kwargs", "tasks=[Figure8Inv]", "--total_timesteps", "500000"],
        "transfer": "multitask_teacher9",
        "goal": "the held-out task <= 3 cm, only the rule input's weights trained",
        "evaluate_args": TEST_SET,
    },
    "arm_cmaes": {"args": ["--algo", "cmaes"], "goal": "success and wall-clock beside arm_rppo_small"},
    # Issue 18's CMA-ES levers: a diagonal covariance (sep-CMA-ES, whose variances adapt ~n times
    # faster in 2.5k dimensions) and twice the fitness episodes per candidate (a less noisy ranking).
    "arm_cmaes_sep": {
        "args": ["--algo", "cmaes"],
        "hyperparams": {"diagonal": True, "fitness_episodes": 16},
        "goal": CMAES_GOAL,
    },
    # ... and a 4x population with a quarter of the episodes each (the same 432 episodes a generation):
    # the ranking's noise averaged over more candidates rather than more episodes.
    "arm_cmaes_pop": {
        "args": ["--algo", "cmaes"],
        "hyperparams": {"diagonal": True, "popsize": 108, "fitness_episodes": 4, "generations": 240},
        "goal": CMAES_GOAL,
    },
    # ... and a floor under the step (sep's sigma fell from 0.1 to 0.005 by generation 215, faster than
    # its fitness rose), and 3x sep's 300 generations: the 60 minutes of the goal (~3.6 s a generation
    # with both cores: ~900).
    "arm_cmaes_floor": {
        "args": ["--algo", "cmaes"],
        "hyperparams": {"diagonal": True, "fitness_episodes": 16, "min_std": 0.02, "generations": 900},
        "goal": CMAES_GOAL,
    },
    # ... on a controller of 8 units (476 weights against 2,516): sep-CMA-ES's progress per generation
    # falls with the number of weights. 600 generations: ~6.9 s each on one core, ~3.5 s on two.
    "arm_cmaes_small8": {
        "args": ["--algo", "cmaes"],
        "hyperparams": {
            "diagonal": True,
            "fitness_episodes": 16,
            "min_std": 0.02,
            "generations": 600,
            "policy_kwargs": {**SMALL_CONTROLLER, "lstm_hidden_size": 8},
        },
        "goal": CMAES_GOAL,
    },
    # Can CMA-ES's controller (2.5k weights) reach at all? The arm baseline distilled into it (DAgger):
    # what the weights can do when a teacher shows them, the ceiling a search could find.
    "arm_distill_small": {
        "args": ["--algo", "distill"],
        "teacher": PRETRAINED_PREFIX + "MuscleArmReach-v0",
        "hyperparams": {"policy_kwargs": SMALL_CONTROLLER},
        "goal": "reported beside arm_cmaes: the small controller's ceiling",
    },
    "arm_rppo_small": {  # RecurrentPPO's arm settings, on CMA-ES's controller
        "args": ["--algo", "recurrent_ppo", "--policy", "sensory_rnn"],
        "hyperparams": {"policy_kwargs": SMALL_CONTROLLER},
        "goal": "reported beside arm_cmaes",
    },
}
# The other training methods' figure: these settings, with PPO's arm run for reference.
METHODS = ("arm", "arm_distill_bc", "arm_distill_dagger", "arm_cmaes", "arm_rppo_small")
# Tiny budgets of --quick, per kind of setting.
QUICK = {
    "sb3": {"n_steps": 256, "batch_size": 256, "eval_freq": 1024, "n_eval_episodes": 2},
    # (SAC and TD3 read n_steps as n-step returns: not theirs to shrink)
    "off_policy": {"learning_starts": 256, "batch_size": 64, "eval_freq": 1024, "n_eval_episodes": 2},
    "distill": {
        "n_envs": 2,
        "demo_episodes": 4,
        "dagger_rounds": 1,
        "dagger_episodes": 2,
        "epochs": 1,
        "n_eval_episodes": 2,
        "compare_episodes": 2,
        "policy_kwargs": {"lstm_hidden_size": 8, "net_arch": [], "enable_critic_lstm": False},
    },
    "cmaes": {
        "generations": 2,
        "popsize": 4,
        "fitness_episodes": 2,
        "eval_every": 1,
        "n_eval_episodes": 2,
        "policy_kwargs": {"lstm_hidden_size": 8, "net_arch": [], "enable_critic_lstm": False},
    },
}


MINUTES_FILE = "bench_train_minutes.txt"  # a run's training minutes so far, over its resumptions


def train(command: list[str]) -> int:
    """Run the training ``command`` and return its exit status. The run has its own process group (a
    Ctrl-C in the terminal reaches this process only) and this process passes on each Ctrl-C and
    SIGTERM it gets: the run stops at its next safe point and saves, as when it runs alone (a second
    Ctrl-C stops it at once). (subprocess.run would kill it a quarter of a second after a Ctrl-C,
    before it saved, and leave a CMA-ES run's workers behind.)"""
    with subprocess.Popen(command, cwd=ROOT, start_new_session=True) as process:
        previous = {
            signum: signal.signal(signum, lambda signum, frame: process.send_signal(signum))
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            return process.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def run(name: str, quick: bool, results_path: Path, seed: int | None = None, resume: bool = False) -> dict:
    setting = SETTINGS[name]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = f"{name}{'_quick' if quick else ''}{'' if seed is None else f'_seed{seed}'}"
    run_dir = ROOT / "logs" / "bench" / f"{label}_{stamp}"
    if resume:  # the setting's latest run, continued (a run that a session's end stopped)
        earlier = sorted((ROOT / "logs" / "bench").glob(f"{label}_2*"))
        if not earlier:
            sys.exit(f"no run of {label} under logs/bench/ to resume")  # (the run of this seed)
        run_dir = earlier[-1]
    args = [*setting["args"], *([] if seed is None else ["--seed", str(seed)]), "--run_dir", str(run_dir)]
    args.append("--no_progress")
    # a run that starts from another setting's recorded run
    derived = []  # (option, the source run's directory)
    for source in ("teacher", "transfer", "finetune"):
        if source in setting and setting[source].startswith(PRETRAINED_PREFIX):  # or a shipped baseline
            derived.append((f"--{source}", baseline_dir(setting[source].removeprefix(PRETRAINED_PREFIX))))
        elif source in setting:
            recorded = load(results_path).get(setting[source])
            if recorded is None:
                sys.exit(f"{name} starts from the {setting[source]!r} run: run that setting first")
            derived.append((f"--{source}", ROOT / recorded["run_dir"]))
    for option, path in derived:
        args += [option, str(path)]
    kind = {"distill": "distill", "cmaes": "cmaes", "sac": "off_policy", "td3": "off_policy"}.get(
        setting_algo(setting["args"]), "sb3"
    )
    hyperparams = dict(setting.get("hyperparams", {}))
    if quick:
        policy_kwargs = {**hyperparams.get("policy_kwargs", {}), **QUICK[kind].get("policy_kwargs", {})}
        hyperparams.update(QUICK[kind])
        if policy_kwargs:
            hyperparams["policy_kwargs"] = policy_kwargs
        if kind in ("sb3", "off_policy"):
            args += ["--total_timesteps", "2048", "--n_envs", "2"]
    if hyperparams:
        file = run_dir.parent / f"{name}{'_quick' if quick else ''}_hyperparams.yml"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(yaml.safe_dump(hyperparams))
        args += ["--hyperparams", str(file)]
    start = time.monotonic()
    minutes_file = run_dir / MINUTES_FILE
    before = float(minutes_file.read_text()) if resume and minutes_file.is_file() else 0.0
    # python -m muscle_train train: the installed package's muscle-train (= train_sb3.py)
    # (--trust: CMA-ES's search state is a pickle; these are the benchmark's own runs)
    command = ["--resume", str(run_dir), "--no_progress", "--trust"] if resume else args
    try:
        status = train([sys.executable, "-m", "muscle_train", "train", *command])
    finally:  # (also when a session's end stops it: the next --resume adds on)
        if run_dir.is_dir():
            minutes_file.write_text(str(before + (time.monotonic() - start) / 60))
    if status in (130, 143):  # Ctrl-C or SIGTERM: the run saved itself
        again = f"python bench/learning.py {name}{'' if seed is None else f' --seed {seed}'} --resume"
        sys.exit(f"{label} stopped; continue it with: {again}")
    if status != 0:
        sys.exit(f"{label}: training failed (exit status {status})")
    train_seconds = before * 60 + time.monotonic() - start
    # the command as one would type it in the repository: the sources' paths relative to it
    sources = [f"{o} {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}" for o, p in derived]
    extra = setting.get("evaluate_args", [])
    evaluation, best = (evaluate(run_dir, which, quick, extra) for which in ("final", "best"))
    steps = [step for step in setting.get("evaluate_checkpoints", []) if not quick]
    checkpoints = {str(step): evaluate(run_dir, str(step), quick, extra) for step in steps}
    entry = {
        "setting": name,
        "goal": setting["goal"],
        "command": " ".join(["python train_sb3.py", *args[: args.index("--run_dir")], *sources]),
        "hyperparams": hyperparams,
        "run_dir": str(run_dir.relative_to(ROOT)),
        "train_minutes": round(train_seconds / 60, 2),
        "evaluation": evaluation,
        "best_evaluation": best,
        **({"checkpoint_evaluations": checkpoints} if checkpoints else {}),
        "curve": read_curve(run_dir),
        "seed": 0 if seed is None else seed,
    }
    report = run_dir / "distillation.json"
    if report.is_file():
        distillation = json.loads(report.read_text())
        keep = ("teacher_run", "success_ratio", "reward_ratio", "rounds")
        entry["distillation"] = {key: distillation[key] for key in keep}
        entry["distillation"]["teacher"] = {
            k: distillation["teacher"][k] for k in ("success_rate", "mean_reward")
        }
    return entry


def seed_record(entry: dict) -> dict:
    keep = ("seed", "run_dir", "train_minutes", "curve")
    best = entry.get("best_evaluation") or {}
    return {
        **{key: entry[key] for key in keep},
        "success_rate": entry["evaluation"]["success_rate"],
        "best_success_rate": best.get("success_rate"),
        "checkpoint_success_rate": {
            step: result["success_rate"] for step, result in entry.get("checkpoint_evaluations", {}).items()
        },
    }


def seed_summary(records: list[dict]) -> dict:
    """Mean, min and max over seeds (``seed_record``s) of the final, the best and the evaluated
    checkpoints' success, and of the minutes."""
    columns = {
        "final": [r["success_rate"] for r in records],
        "best": [r["best_success_rate"] for r in records if r.get("best_success_rate") is not None],
        "train_minutes": [r["train_minutes"] for r in records],
    }
    for step in {step for r in records for step in r.get("checkpoint_success_rate", {})}:
        columns[f"checkpoint_{step}"] = [
            r["checkpoint_success_rate"][step]
            for r in records
            if step in r.get("checkpoint_success_rate", {})
        ]
    return {
        key: {"mean": sum(v) / len(v), "min": min(v), "max": max(v), "n": len(v)}
        for key, v in sorted(columns.items())
        if v
    }


def with_seeds(runs: list[dict], recorded: dict | None) -> dict:
    """The lowest seed's run as the entry, with every seed's record and their spread: the recorded
    entry's seeds (a one-seed entry counts as its seed's), replaced by ``runs``' where they ran again."""
    previous = (recorded or {}).get("seeds", [])
    if recorded is not None and not previous:  # recorded without seeds: the run of its seed (0)
        previous = [seed_record({**recorded, "seed": recorded.get("seed") or 0})]
    records = {r["seed"]: r for r in previous}
    records.update({r["seed"]: seed_record(r) for r in runs})
    ordered = [records[seed] for seed in sorted(records)]
    first = min(runs, key=lambda r: r["seed"])
    entry = first if recorded is None or not previous or first["seed"] <= previous[0]["seed"] else recorded
    return {**entry, "seeds": ordered, "seed_summary": seed_summary(ordered)}


def evaluate(run_dir: Path, which: str, quick: bool, extra: list[str]) -> dict:
    """evaluate.py on the run's final or best model (the best periodic evaluation's checkpoint), with
    the setting's ``extra`` options (e.g. the multi-task test set: ``--env_kwargs test=true``)."""
    out = run_dir / f"evaluation_{which}.json"
    episodes = "4" if quick else "100"
    command = [
        sys.executable,
        "-m",
        "muscle_train",
        "evaluate",
        str(run_dir),
        "--load",
        which,
        "--episodes",
        episodes,
        "--json",
        str(out),
        *extra,
    ]
    subprocess.run(command, cwd=ROOT, check=True)
    return json.loads(out.read_text())


def read_curve(run_dir: Path) -> list[dict]:
    keep = ("step", "wall_time_s", "success_rate", "mean_reward", "mean_episode_length")
    extra = (
        "task/position_error_cm",  # the multi-task envs'
        "task/premature_movement_cm",
        "task/distance",  # the walking envs'
        "task/speed",
    )
    rows = rundir.read_csv(run_dir / rundir.EVALUATIONS_FILE)
    return [
        {key: float(row[key]) for key in (*keep, *extra) if row.get(key) not in (None, "")} for row in rows
    ]


def plot_errors(entries: dict[str, dict], path: Path) -> None:
    """The multi-task settings: mean position error and movement before the go cue (cm) of the
    periodic evaluations, against env steps, with the goals (2 cm, 1 cm)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for i, (name, entry) in enumerate(entries.items()):
        curve = [row for row in entry["curve"] if "task/position_error_cm" in row]
        if "distillation" in entry:  # after each DAgger round's fit, against the steps labelled so far
            curve = [{**r, "step": r["dataset_steps"]} for r in entry["distillation"]["rounds"]]
        if not curve:
            continue
        steps = [row["step"] / 1e6 for row in curve]
        final = entry["evaluation"]["task/position_error_cm"]
        label = f"{name}: {final:.2f} cm on the test set ({entry['train_minutes']:.0f} min)"
        axes[0].plot(
            steps, [row["task/position_error_cm"] for row in curve], "o-", ms=3, color=f"C{i}", label=label
        )
        axes[1].plot(steps, [row["task/premature_movement_cm"] for row in curve], "o-", ms=3, color=f"C{i}")
    for ax, goal, what in (
        (axes[0], 2.0, "position error, movement and hold"),
        (axes[1], 1.0, "movement before the go cue"),
    ):
        ax.axhline(goal, color="k", ls=":", lw=0.8)
        ax.set(
            xlabel="env steps (millions; distillation: steps labelled)", ylabel=f"{what} (cm)", yscale="log"
        )
        ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(
        "MuscleArmMultiTask-v0: periodic evaluations during training (dotted: the goals)", fontsize=10
    )
    fig.tight_layout(rect=(0, 0.06 * (len(entries) + 1) / 2, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def plot_walk(entries: dict[str, dict], path: Path) -> None:
    """The walking settings (seed 002's comparison): how long the periodic evaluations' episodes last
    before a fall (of 10 s) and how far they walk, against env steps and against wall-clock minutes."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex="col")
    for i, (name, entry) in enumerate(entries.items()):
        curve = entry["curve"]
        final = entry["evaluation"]
        label = (
            f"{name}: {final['task/walk_duration']:.2f} s, {final['task/distance']:.2f} m "
            f"(mean of {final['n_episodes']} episodes; {entry['train_minutes']:.0f} min)"
        )
        seconds = [row["mean_episode_length"] * WALK_DT for row in curve]
        walked = [row for row in curve if "task/distance" in row]  # (recorded since the twelfth session)
        distance = [row["task/distance"] for row in walked]
        for column, at in enumerate((lambda row: row["step"], lambda row: row["wall_time_s"] / 60)):
            legend = None if column else label
            axes[0, column].plot([at(row) for row in curve], seconds, "o-", ms=3, color=f"C{i}", label=legend)
            axes[1, column].plot([at(row) for row in walked], distance, "o-", ms=3, color=f"C{i}")
    axes[0, 0].set(ylabel="time before a fall (s; 10 = the whole episode)", xscale="log")
    axes[1, 0].set(ylabel="distance walked (m)", xlabel="env steps", xscale="log")
    axes[1, 1].set(xlabel="wall-clock minutes of training (2 cores)")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.suptitle("MyoLegsWalk-v0: periodic deterministic evaluations during training", fontsize=10)
    fig.tight_layout(rect=(0, 0.04 * (len(entries) + 1) / 2, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def plot(
    entries: dict[str, dict],
    path: Path,
    title: str = "periodic deterministic evaluations during training (train_sb3.py defaults)",
) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2 + 0.25 * len(entries)))
    for i, (name, entry) in enumerate(entries.items()):
        curve = entry["curve"]
        if not curve:
            continue
        steps = [row["step"] / 1e6 for row in curve]
        minutes = [row["wall_time_s"] / 60 for row in curve]
        success = [100 * row["success_rate"] for row in curve]
        final = 100 * entry["evaluation"]["success_rate"]
        best = entry.get("best_evaluation")
        label = f"{name}: final {final:.0f}%"
        label += f", best model {100 * best['success_rate']:.0f}%" if best else ""
        label += f" of {entry['evaluation']['n_episodes']} episodes ({entry['train_minutes']:.0f} min)"
        axes[0].plot(steps, success, "o-", color=f"C{i}", ms=3, label=label)
        axes[1].plot(minutes, success, "o-", color=f"C{i}", ms=3)
        for other in entry.get("seeds", [])[1:]:  # the other seeds, thin
            rows = other["curve"]
            values = [100 * row["success_rate"] for row in rows]
            axes[0].plot([row["step"] / 1e6 for row in rows], values, "-", color=f"C{i}", lw=0.7, alpha=0.5)
            axes[1].plot(
                [row["wall_time_s"] / 60 for row in rows], values, "-", color=f"C{i}", lw=0.7, alpha=0.5
            )
    axes[0].set(xlabel="env steps (millions)", ylabel="evaluation success (%)", ylim=(-2, 102))
    axes[1].set(xlabel="wall-clock minutes of training (2 cores)", ylim=(-2, 102))
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.legend(fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05 * (len(entries) + 1) / 2, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def load(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.is_file() else {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("settings", nargs="*", help=f"what to train: {', '.join(SETTINGS)} (default arm)")
    parser.add_argument("--quick", action="store_true", help="a tiny budget, to check the pipeline")
    parser.add_argument("--plot", action="store_true", help="only redraw the figure")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue each setting's latest run (of the seed given) instead of starting a new one",
    )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds", type=int, metavar="N", help="run each setting with seeds 0..N-1 (default: seed 0)"
    )
    seeds.add_argument(
        "--seed",
        type=int,
        metavar="K",
        help="run seed K alone, recorded beside the setting's other seeds (run seeds side by side)",
    )
    args = parser.parse_args()
    if args.seed is not None:
        args.seeds = [args.seed]
    elif args.seeds is not None:
        args.seeds = list(range(args.seeds))
    unknown = sorted(set(args.settings) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown setting(s) {unknown}; known: {sorted(SETTINGS)}")
    suffix = "_quick" if args.quick else ""
    results_path = RESULTS / f"learning{suffix}.json"
    for name in [] if args.plot else args.settings or ["arm"]:
        if args.seeds is None:
            entry = run(name, args.quick, results_path, resume=args.resume)
        else:  # the lowest seed's run is the entry; every seed's outcome and curve, and the spread
            runs = [run(name, args.quick, results_path, seed, args.resume) for seed in args.seeds]
        entries = load(results_path)  # again: another setting (or seed) may have finished in the meantime
        if args.seeds is not None:
            entry = with_seeds(runs, entries.get(name))
            seeds = [r["seed"] for r in entry["seeds"]]
            print(f"{name} over seeds {seeds}: {json.dumps(entry['seed_summary'])}")
        entries[name] = entry
        results_path.parent.mkdir(exist_ok=True)
        results_path.write_text(json.dumps(entries, indent=2))
        evaluation = entries[name]["evaluation"]
        print(
            f"{name}: {evaluation['success_rate']:.0%} success over {evaluation['n_episodes']} episodes, "
            f"{entries[name]['train_minutes']:.1f} min of training"
        )
    entries = load(results_path)
    other = {name for name, s in SETTINGS.items() if setting_algo(s["args"]) in ("distill", "cmaes")}
    multitask = {name: entry for name, entry in entries.items() if name.startswith("multitask")}
    walk = {name: entries[name] for name in WALK_SETTINGS if name in entries}
    sb3 = {name: entry for name, entry in entries.items() if name not in other | set(multitask) | set(walk)}
    plot(sb3, FIGURES / f"learning_curves{suffix}.png")
    if walk:
        plot_walk(walk, FIGURES / f"walking_curves{suffix}.png")
    if multitask:
        plot_errors(multitask, FIGURES / f"multitask_curves{suffix}.png")
    methods = {name: entries[name] for name in METHODS if name in entries}
    if len(methods) > 1:
        plot(methods, FIGURES / f"training_methods{suffix}.png", "arm: PPO, distillation, CMA-ES (defaults)")


if __name__ == "__main__":
    main()
