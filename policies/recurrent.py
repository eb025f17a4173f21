"""Recurrent sensory policies for sb3-contrib's RecurrentPPO, with the fusimotor loop closed.

The proprioceptors run *inside* the recurrence: at each step the gamma drive computed from the
core's previous state modulates the spindles, whose afferents feed the core and, through reflex
arcs, the alpha output (the action mean). sb3-contrib handles sequences, padding and state resets at
episode starts; it only needs the recurrent core to look like ``nn.LSTM`` (call signature and
``input_size``), which :class:`FusimotorRNN` does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.distributions import DiagGaussianDistribution, Distribution
from stable_baselines3.common.torch_layers import CombinedExtractor
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from policies.extractors import SensoryInputs
from policies.motor import ReflexArcs
from policies.sensory import Afferents, SensoryModule

# Single-step cells: the loop runs one step at a time (the fusimotor loop needs each step's state).
CORES = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": partial(nn.RNNCell, nonlinearity="relu")}


class FusimotorRNN(nn.Module):
    """A recurrent core with muscle spindles and tendon organs inside its loop.

    Per step t, with ``h_{t-1}`` the core's previous output::

        gamma_static_t, gamma_dynamic_t = sigmoid(W_g h_{t-1} + b_g)
        Ia_t, II_t, Ib_t = SensoryModule(L_t, v_t, F_t, gamma_static_t, gamma_dynamic_t)
        h_t = core([Ia_t, II_t, Ib_t, context_t], h_{t-1})

    so the gamma drive the controller sets at t modulates the spindles at t+1. Input per step:
    ``[L | v | F | context]`` (:class:`~policies.extractors.SensoryInputs`); output per step:
    ``[h_t | Ia_t | II_t | Ib_t]`` (the afferents feed the reflex arcs). States are ``(h, c)`` shaped
    as for ``nn.LSTM`` (1, batch, hidden); a GRU or ReLU RNN core carries ``c`` through untouched.

    Args:
        n_muscles: muscles.
        context_dim: size of the context part of the input.
        hidden_size: core units.
        core: ``"lstm"``, ``"gru"`` or ``"rnn"`` (ReLU units, as in seeds 000/001).
        learnable_gains: train the afferent gains.
    """

    def __init__(
        self,
        n_muscles: int,
        context_dim: int,
        hidden_size: int,
        core: str = "lstm",
        learnable_gains: bool = True,
    ):
        super().__init__()
        if core not in CORES:
            raise ValueError(f"core must be one of {sorted(CORES)}, got {core!r}")
        self.n_muscles = n_muscles
        self.input_size = 3 * n_muscles + context_dim  # sb3-contrib reads input_size, hidden_size, num_layers
        self.num_layers = 1
        self.hidden_size = hidden_size
        self.core_kind = core
        self.sensory = SensoryModule(n_muscles, learnable=learnable_gains)
        self.gamma = nn.Linear(hidden_size, 2 * n_muscles)
        self.core = CORES[core](self.input_size, hidden_size)

    def step(self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], gains=None):
        """One step: ``inputs`` (batch, input_size), ``state`` ((1, batch, hidden) x 2) ->
        (hidden (batch, hidden), afferents, gamma drives ((batch, n) x 2), new state). ``gains``:
        ``self.sensory.gains()``, passed in when stepping through a sequence."""
        n = self.n_muscles
        h, c = state[0][0], state[1][0]  # (batch, hidden) each
        gamma_static, gamma_dynamic = torch.sigmoid(self.gamma(h)).chunk(2, dim=-1)  # (batch, n) each
        afferents = self.sensory(
            inputs[:, :n], inputs[:, n : 2 * n], inputs[:, 2 * n : 3 * n], gamma_static, gamma_dynamic, gains
        )
        core_in = torch.cat(
            [afferents.ia, afferents.ii, afferents.ib, inputs[:, 3 * n :]], dim=1
        )  # (batch, in)
        if self.core_kind == "lstm":
            h, c = self.core(core_in, (h, c))
        else:
            h = self.core(core_in, h)
        return h, afferents, (gamma_static, gamma_dynamic), (h[None], c[None])

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """``inputs`` (time, batch, input_size) -> (outputs (time, batch, hidden + 3 n), final state)."""
        gains = self.sensory.gains()
        outputs = []
        for x in inputs:  # x: (batch, input_size)
            hidden, afferents, _, state = self.step(x, state, gains)
            outputs.append(torch.cat([hidden, afferents.ia, afferents.ii, afferents.ib], dim=1))
        return torch.stack(outputs), state

    @torch.no_grad()
    def probe(
        self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Per-step ``ia``, ``ii``, ``ib``, ``gamma_static``, ``gamma_dynamic`` (time, batch, n) and
        ``hidden`` (time, batch, hidden_size) along ``inputs`` (time, batch, input_size)."""
        names = ("ia", "ii", "ib", "gamma_static", "gamma_dynamic", "hidden")
        trace: dict[str, list[torch.Tensor]] = {name: [] for name in names}
        gains = self.sensory.gains()
        for x in inputs:
            hidden, afferents, gammas, state = self.step(x, state, gains)
            for name, value in zip(names, (*afferents, *gammas, hidden), strict=True):
                trace[name].append(value)
        return {name: torch.stack(values) for name, values in trace.items()}


class _ReflexLatent(nn.Module):
    """The actor's latent is [core output | afferents]: the MLP sees the core output; the afferents
    pass through to the reflex arcs. The critic's latent is the critic core's output."""

    def __init__(self, mlp: nn.Module, hidden_size: int):
        super().__init__()
        self.mlp = mlp
        self.hidden_size = hidden_size
        self.latent_dim_pi = mlp.latent_dim_pi
        self.latent_dim_vf = mlp.latent_dim_vf

    def forward_actor(self, latent: torch.Tensor) -> torch.Tensor:
        core, afferents = latent[:, : self.hidden_size], latent[:, self.hidden_size :]
        return torch.cat([self.mlp.forward_actor(core), afferents], dim=1)

    def forward_critic(self, latent: torch.Tensor) -> torch.Tensor:
        return self.mlp.forward_critic(latent)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features[:, : self.hidden_size])


class SensoryRecurrentPolicy(RecurrentActorCriticPolicy):
    """RecurrentPPO policy whose actor core is a :class:`FusimotorRNN` and whose action mean is
    ``W latent + reflex(Ia, II, Ib)`` (:class:`~policies.motor.ReflexArcs`, non-negative gains).

    The critic keeps sb3-contrib's LSTM over the same inputs. Takes ``RecurrentActorCriticPolicy``'s
    arguments (``lstm_hidden_size`` sizes the core; one layer), plus:

    Args:
        core: ``"lstm"``, ``"gru"`` or ``"rnn"``.
        antagonists: (muscle, antagonist) index pairs for reciprocal Ia inhibition.
        learnable_gains: train the afferent gains.
        learnable_reflexes: train the reflex gains.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        core: str = "lstm",
        antagonists: Sequence[tuple[int, int]] = (),
        learnable_gains: bool = True,
        learnable_reflexes: bool = True,
        **kwargs: Any,
    ):
        if kwargs.get("n_lstm_layers", 1) != 1 or kwargs.get("use_sde", False):
            raise ValueError("SensoryRecurrentPolicy supports one recurrent layer and no gSDE")
        kwargs.setdefault("features_extractor_class", SensoryInputs)
        self.core = core
        self.antagonists = tuple(tuple(pair) for pair in antagonists)
        self.learnable_gains = learnable_gains
        self.learnable_reflexes = learnable_reflexes
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        inputs = self.pi_features_extractor
        self.lstm_actor = FusimotorRNN(
            inputs.n_muscles, inputs.context_dim, self.lstm_output_dim, core, learnable_gains
        )
        self.reflexes = ReflexArcs(inputs.n_muscles, self.antagonists, learnable_reflexes)
        # The parent built its optimizer over a plain LSTM that is now replaced.
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _build_mlp_extractor(self) -> None:
        super()._build_mlp_extractor()
        self.mlp_extractor = _ReflexLatent(self.mlp_extractor, self.lstm_output_dim)

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor) -> Distribution:
        assert isinstance(self.action_dist, DiagGaussianDistribution)
        n = self.action_space.shape[0]
        latent, ia, ii, ib = latent_pi[:, : -3 * n], *latent_pi[:, -3 * n :].chunk(3, dim=1)
        mean = self.action_net(latent) + self.reflexes(Afferents(ia, ii, ib))  # (batch, n)
        return self.action_dist.proba_distribution(mean, self.log_std)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            core=self.core,
            antagonists=self.antagonists,
            learnable_gains=self.learnable_gains,
            learnable_reflexes=self.learnable_reflexes,
        )
        return data

    @torch.no_grad()
    def probe(self, observations: dict[str, Any]) -> dict[str, torch.Tensor]:
        """What the actor computes along one episode's ``observations`` (arrays with a leading time
        axis, as the policy receives them, i.e. after VecNormalize), from a fresh state: per step
        ``ia``, ``ii``, ``ib``, ``gamma_static``, ``gamma_dynamic``, ``reflex`` (time, n_muscles)
        and ``hidden`` (time, hidden_size)."""
        tensors, _ = self.obs_to_tensor(observations)
        inputs = self.extract_features(tensors, self.pi_features_extractor)  # (time, input_size)
        zeros = torch.zeros(1, 1, self.lstm_output_dim, device=inputs.device)
        trace = self.lstm_actor.probe(inputs[:, None, :], (zeros, zeros))  # (time, 1, ...) each
        trace["reflex"] = self.reflexes(Afferents(trace["ia"], trace["ii"], trace["ib"]))
        return {name: value[:, 0] for name, value in trace.items()}


class LstmShaped(nn.Module):
    """An ``nn.GRU`` or ``nn.RNN`` behind ``nn.LSTM``'s interface, which sb3-contrib's recurrent
    policies expect: called with ``(inputs, (h, c))``, it returns ``(outputs, (h, c))`` with ``c``
    carried through untouched."""

    def __init__(self, core: nn.GRU | nn.RNN):
        super().__init__()
        self.core = core
        self.input_size, self.hidden_size, self.num_layers = (
            core.input_size,
            core.hidden_size,
            core.num_layers,
        )

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        outputs, h = self.core(inputs, state[0])  # (time, batch, hidden), (layers, batch, hidden)
        return outputs, (h, state[1])


# Whole-sequence cores of PlainRecurrentPolicy (C++ loops; no sensory modules inside).
SEQUENCE_CORES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": partial(nn.RNN, nonlinearity="relu")}


class PlainRecurrentPolicy(RecurrentActorCriticPolicy):
    """sb3-contrib's recurrent policy with a choice of core for the actor: LSTM, GRU or a vanilla
    ReLU RNN (seed 001's student). No sensory modules: the observation entries are flattened as for
    ``MultiInputLstmPolicy``. The critic keeps sb3-contrib's LSTM. Takes ``RecurrentActorCriticPolicy``'s
    arguments (``lstm_hidden_size`` and ``n_lstm_layers`` size the core), plus ``core``.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        core: str = "gru",
        **kwargs: Any,
    ):
        if core not in SEQUENCE_CORES:
            raise ValueError(f"core must be one of {sorted(SEQUENCE_CORES)}, got {core!r}")
        self.core = core
        if isinstance(observation_space, spaces.Dict):  # as MultiInputLstmPolicy
            kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        if core != "lstm":
            actor = self.lstm_actor
            self.lstm_actor = LstmShaped(
                SEQUENCE_CORES[core](actor.input_size, actor.hidden_size, num_layers=actor.num_layers)
            )
            self.optimizer = self.optimizer_class(
                self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
            )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(core=self.core)
        return data


def actor_means(
    policy: RecurrentActorCriticPolicy,
    observations: dict[str, torch.Tensor] | torch.Tensor,
    state: tuple[torch.Tensor, torch.Tensor],
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """The deterministic actions (the Gaussian's mean, before clipping) of a recurrent policy along
    sequences that start from ``state`` and contain no episode start after their first step.

    ``observations``: (time, batch, ...) tensors, as the policy receives them (normalized);
    ``state``: ``(h, c)`` of shape (layers, batch, hidden) each (zeros at an episode start).
    Returns (means (time, batch, action_dim), final state), differentiable. What
    ``policy.predict(..., deterministic=True)`` computes step by step, for a whole sequence at once.
    """
    leading = next(iter(observations.values())) if isinstance(observations, dict) else observations
    time, batch = leading.shape[:2]
    flat = (
        {key: value.flatten(0, 1) for key, value in observations.items()}
        if isinstance(observations, dict)
        else observations.flatten(0, 1)
    )
    features = policy.extract_features(flat, policy.pi_features_extractor)  # (time * batch, features)
    latent, state = policy.lstm_actor(features.reshape(time, batch, -1), state)  # (time, batch, out)
    latent_pi = policy.mlp_extractor.forward_actor(latent.flatten(0, 1))  # (time * batch, latent_pi)
    means = policy._get_action_dist_from_latent(latent_pi).mode()  # (time * batch, action_dim)
    return means.reshape(time, batch, -1), state


def initial_state(policy: RecurrentActorCriticPolicy, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The actor's state at an episode start: zeros, ((layers, batch, hidden) x 2)."""
    shape = (policy.lstm_actor.num_layers, batch, policy.lstm_actor.hidden_size)
    zeros = torch.zeros(shape, device=policy.device)
    return zeros, zeros.clone()


def carries_cell(policy: RecurrentActorCriticPolicy) -> bool:
    """Whether the actor's core is an LSTM, whose state is ``(h, c)`` (a GRU's or ReLU RNN's ``c`` is
    carried through untouched and is not part of its state)."""
    core = policy.lstm_actor
    return isinstance(core, nn.LSTM) or getattr(core, "core_kind", None) == "lstm"


def recurrent_map(
    policy: RecurrentActorCriticPolicy,
) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], Callable[[dict[str, Any]], torch.Tensor]]:
    """The actor's recurrent core as a map for fixed-point analysis (``muscle_analysis.fixed_points``):
    ``(step, inputs)``, with ``step(states, u)`` the core's update of a batch of states (B, S) under
    one input u, and ``inputs(observations)`` the inputs u the core received along one episode's
    observations (time, ...; as the policy receives them), (time, I).

    A state is the core's ``h``, or ``[h | c]`` for an LSTM. For a sensory core (``FusimotorRNN``) the
    map is the network alone: u is ``[Ia | II | Ib | context]``, the afferents held fixed (the
    fusimotor loop through the spindles is cut). One-layer cores only.
    """
    core = policy.lstm_actor
    if core.num_layers != 1:
        raise ValueError(f"fixed-point analysis takes one-layer cores; this one has {core.num_layers}")
    hidden, lstm = core.hidden_size, carries_cell(policy)
    # A float64 copy: the search needs the precision, and the policy stays as it is.
    if isinstance(core, FusimotorRNN):
        cell = copy.deepcopy(core.core).double()

        def step(states: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
            u = u.to(states.dtype).expand(len(states), -1)
            if lstm:
                h, c = cell(u, (states[:, :hidden], states[:, hidden:]))
                return torch.cat([h, c], dim=1)
            return cell(u, states)

        def inputs(observations: dict[str, Any]) -> torch.Tensor:
            trace = policy.probe(observations)
            tensors, _ = policy.obs_to_tensor(observations)
            context = policy.extract_features(tensors, policy.pi_features_extractor)[:, 3 * core.n_muscles :]
            return torch.cat([trace["ia"], trace["ii"], trace["ib"], context], dim=1)

        return step, inputs

    module = copy.deepcopy(core).double()

    def step(states: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        h = states[:, :hidden][None]
        c = states[:, hidden:][None] if lstm else torch.zeros_like(h)
        _, (h, c) = module(u.to(states.dtype).expand(1, len(states), -1), (h, c))
        return torch.cat([h[0], c[0]], dim=1) if lstm else h[0]

    def inputs(observations: dict[str, Any]) -> torch.Tensor:
        tensors, _ = policy.obs_to_tensor(observations)
        return policy.extract_features(tensors, policy.pi_features_extractor)

    return step, inputs
