"""Torch modules and SB3 policies that hold the sensory system (spindles, tendon organs, reflexes).

Policies read the env observation's keys and units (``muscle_envs.observations``) and never import
an env. Short names, for train_sb3.py's ``--policy`` and for code::

    from policies import policy_spec
    spec = policy_spec("sensory_mlp", net_arch=[128, 128])   # overrides merge into policy_kwargs
    model = PPO(spec.policy, env, policy_kwargs=spec.policy_kwargs)

| name           | algorithm    | policy                                                        |
|----------------|--------------|---------------------------------------------------------------|
| `mlp`          | PPO          | `MultiInputPolicy`: every observation entry, flattened         |
| `mlp_bounded`  | PPO          | `BoundedMeanPolicy`: the same, its mean kept in the action range (tanh) |
| `sensory_mlp`  | PPO          | `MultiInputPolicy` + `SensoryExtractor`: Ia/II/Ib, top-down gamma, context |
| `lstm`         | RecurrentPPO | sb3-contrib's `MultiInputLstmPolicy` (the stock recurrent baseline) |
| `sensory_lstm` | RecurrentPPO | `SensoryRecurrentPolicy`: closed fusimotor loop, reflex arcs, LSTM core |
| `sensory_gru`  | RecurrentPPO | the same with a GRU core                                      |
| `sensory_rnn`  | RecurrentPPO | the same with a ReLU RNN core (seeds 000/001)                 |
| `gru`          | RecurrentPPO | `PlainRecurrentPolicy`: flattened observation, GRU core       |
| `rnn`          | RecurrentPPO | the same with a vanilla ReLU RNN core (seed 001's student)    |
| `reflex`       | PPO          | `ReflexPolicy`: Song & Geyer's muscle-group reflexes (MyoLeg)  |

The recurrent policies are also what ``--algo distill`` trains as students and ``--algo cmaes``
evolves (``actor_means`` runs one along whole sequences), as it does ``reflex``'s gains.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy

from muscle_envs.observations import PROPRIOCEPTION, TARGET
from policies.bounded import BoundedMeanPolicy
from policies.extractors import SensoryExtractor
from policies.motor import MotorModule, MotorOutput, ReflexArcs, set_action_mean
from policies.recurrent import (
    FusimotorRNN,
    PlainRecurrentPolicy,
    SensoryRecurrentPolicy,
    actor_means,
    initial_state,
)
from policies.reflex import RAW_KEYS as REFLEX_RAW_KEYS
from policies.reflex import ReflexPolicy, SongGeyerReflexes
from policies.sensory import Afferents, SensoryModule
from policies.target import TargetEncoder

__all__ = [
    "POLICIES",
    "Afferents",
    "BoundedMeanPolicy",
    "FusimotorRNN",
    "MotorModule",
    "MotorOutput",
    "PlainRecurrentPolicy",
    "PolicySpec",
    "ReflexArcs",
    "ReflexPolicy",
    "SensoryExtractor",
    "SensoryRecurrentPolicy",
    "SensoryModule",
    "SongGeyerReflexes",
    "TargetEncoder",
    "actor_means",
    "initial_state",
    "set_action_mean",
    "policy_spec",
]


@dataclass(frozen=True)
class PolicySpec:
    """How to build a named policy.

    Attributes:
        policy: the SB3 policy (name or class) for the algorithm's constructor.
        policy_kwargs: its ``policy_kwargs``.
        raw_observation_keys: observation entries the policy needs in their physical units (the
            muscle entries its spindle and tendon-organ models read, the target its place cells
            encode in metres); keep them out of ``VecNormalize`` (pass the other keys as
            ``norm_obs_keys``).
        recurrent: train with sb3-contrib's RecurrentPPO (else PPO).
        off_policy: SAC and TD3 can train it too (their own actor of the same name).
        env_attributes: attributes of the env the policy's constructor takes (``muscle_names``):
            :meth:`kwargs_for` adds them to ``policy_kwargs``.
    """

    policy: str | type
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    raw_observation_keys: tuple[str, ...] = ()
    recurrent: bool = False
    off_policy: bool = True
    env_attributes: tuple[str, ...] = ()

    def kwargs_for(self, venv: Any) -> dict[str, Any]:
        """``policy_kwargs`` for a policy on ``venv`` (an SB3 VecEnv): with each of
        ``env_attributes`` read from its first env, unless given."""
        wanted = [name for name in self.env_attributes if name not in self.policy_kwargs]
        return {**self.policy_kwargs, **{name: venv.get_attr(name, [0])[0] for name in wanted}}

    def policy_class(self, algorithm: type[BaseAlgorithm]) -> type[BasePolicy]:
        """The policy class ``algorithm`` builds for this spec (a name is the algorithm's alias)."""
        return algorithm.policy_aliases[self.policy] if isinstance(self.policy, str) else self.policy

    @property
    def algorithm(self) -> type[PPO] | type[RecurrentPPO]:
        """The algorithm class that trains this policy: RecurrentPPO for recurrent ones, else PPO."""
        return RecurrentPPO if self.recurrent else PPO


# What the sensory policies read in physical units (see PolicySpec.raw_observation_keys).
SENSORY_RAW_KEYS = (*PROPRIOCEPTION, TARGET)

POLICIES: dict[str, PolicySpec] = {
    "mlp": PolicySpec("MultiInputPolicy"),
    "mlp_bounded": PolicySpec(BoundedMeanPolicy, off_policy=False),
    "sensory_mlp": PolicySpec(
        "MultiInputPolicy", {"features_extractor_class": SensoryExtractor}, SENSORY_RAW_KEYS
    ),
    "lstm": PolicySpec("MultiInputLstmPolicy", recurrent=True),
    **{
        f"sensory_{core}": PolicySpec(
            SensoryRecurrentPolicy, {"core": core}, SENSORY_RAW_KEYS, recurrent=True
        )
        for core in ("lstm", "gru", "rnn")
    },
    **{core: PolicySpec(PlainRecurrentPolicy, {"core": core}, recurrent=True) for core in ("gru", "rnn")},
    "reflex": PolicySpec(
        ReflexPolicy, {}, REFLEX_RAW_KEYS, off_policy=False, env_attributes=("muscle_names",)
    ),
}


def policy_spec(name: str, **policy_kwargs: Any) -> PolicySpec:
    """The named policy, with ``policy_kwargs`` merged over its own."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; known: {sorted(POLICIES)}")
    spec = POLICIES[name]
    return replace(spec, policy_kwargs={**spec.policy_kwargs, **policy_kwargs})
