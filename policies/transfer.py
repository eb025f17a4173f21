"""Transfer through the rule input (seed 004): learn a new task by training only the actor's weights
from one observation entry (the task's one-hot ``rule``), the rest of the actor frozen, the critic
free.

Works for the policies whose observation entries are concatenated before the actor's first layer
(SB3's ``CombinedExtractor``): ``mlp`` (its first policy layer, or the action head if it has none)
and the recurrent ``lstm``, ``gru`` and ``rnn`` (the core's input weights). The sensory policies route
their entries through their own modules and are refused.
"""

from __future__ import annotations

import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor
from torch import nn

# Parameter-name prefixes of the critic in SB3's and sb3-contrib's actor-critic policies.
CRITIC_PREFIXES = ("value_net.", "mlp_extractor.value_net.", "lstm_critic.", "critic.")


def input_columns(policy: ActorCriticPolicy, key: str) -> tuple[nn.Parameter, slice]:
    """The actor's first weight matrix and its columns that read observation entry ``key``.

    Raises:
        ValueError: the policy does not concatenate its entries (``CombinedExtractor``), or has no
            entry ``key``.
    """
    extractor = policy.pi_features_extractor
    if not isinstance(extractor, CombinedExtractor):
        raise ValueError(
            f"transfer through an input needs a policy that concatenates its observation entries "
            f"(mlp, lstm, gru, rnn); {type(policy).__name__} uses {type(extractor).__name__}"
        )
    start = 0
    for name, space in policy.observation_space.spaces.items():  # CombinedExtractor's order
        size = int(torch.Size(space.shape).numel())
        if name == key:
            return _first_actor_weight(policy), slice(start, start + size)
        start += size
    raise ValueError(
        f"the policy has no observation entry {key!r} (it has {list(policy.observation_space.spaces)})"
    )


def _first_actor_weight(policy: ActorCriticPolicy) -> nn.Parameter:
    actor_core = getattr(policy, "lstm_actor", None)
    if actor_core is not None:  # recurrent: the core's input weights (LstmShaped wraps GRU and RNN)
        return getattr(actor_core, "core", actor_core).weight_ih_l0
    first = next((m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)), None)
    return (first or policy.action_net).weight


def train_only_input(policy: ActorCriticPolicy, key: str) -> tuple[nn.Parameter, slice]:
    """Freeze the actor except its weights from observation entry ``key`` (a gradient hook zeroes
    the rest of that matrix's gradient); the critic stays trainable. The policy's optimizer is made
    anew, so no moment carried over from earlier training moves a frozen entry (Adam leaves a
    parameter without gradient alone, and a zero gradient from zero moments is a zero step); it
    keeps every parameter, so the saved model loads as any other. Returns the weight matrix and the
    trained columns."""
    weight, columns = input_columns(policy, key)
    for name, parameter in policy.named_parameters():
        parameter.requires_grad_(name.startswith(CRITIC_PREFIXES) or parameter is weight)
    mask = torch.zeros_like(weight)
    mask[:, columns] = 1.0
    weight.register_hook(lambda grad: grad * mask)
    learning_rate = policy.optimizer.param_groups[0]["lr"]
    policy.optimizer = policy.optimizer_class(
        policy.parameters(), lr=learning_rate, **policy.optimizer_kwargs
    )
    return weight, columns
