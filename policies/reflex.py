"""A reflex controller for the MyoLeg in the manner of Song & Geyer (2015): muscle-group reflexes
switched by each leg's stance and swing, as an SB3 policy whose gains CMA-ES (or PPO) tunes.

Song, S. & Geyer, H. (2015). A neural circuitry that emphasizes spinal feedback generates diverse
behaviours of human locomotion. J Physiol 593(16), 3493-3511. (Geyer, H. & Herr, H. (2010), IEEE
TNSRE 18(3), for the sagittal reflexes it extends.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from muscle_envs import observations as keys
from policies.bounded import register_action_bounds, within_bounds

# Song & Geyer's eleven muscle groups per leg, and the MyoLeg muscles each lumps (by name without the
# _r/_l side: myo-sim's 40 per leg, then the 13 of the 26-muscle model). Every muscle belongs to one.
GROUPS: dict[str, tuple[str, ...]] = {
    "HAB": ("glmed1", "glmed2", "glmed3", "glmin1", "glmin2", "glmin3", "tfl", "piri", "abd"),
    "HAD": ("addbrev", "addlong", "addmagDist", "addmagIsch", "addmagMid", "addmagProx", "grac", "add"),
    "HFL": ("iliacus", "psoas", "sart", "iliopsoas"),
    "GLU": ("glmax1", "glmax2", "glmax3", "glutmax"),
    "HAM": ("bflh", "semimem", "semiten", "hamstrings"),
    "RF": ("recfem", "rectfem"),
    "VAS": ("vasint", "vaslat", "vasmed", "vasti"),
    "BFSH": ("bfsh", "bifemsh"),
    "GAS": ("gaslat", "gasmed", "gastroc"),
    "SOL": ("soleus", "tibpost", "perbrev", "perlong", "fdl", "fhl"),
    "TA": ("tibant", "edl", "ehl"),
}
NAMES = tuple(GROUPS)
SIDES = ("_r", "_l")  # legs in the observation's order: right, then left

# The observation entries the controller reads, in their physical units (keep them out of a normalizer):
# all of the body's state, and one of the legs' loads (the walking envs' ground reaction force, else
# the standing envs' foot contact).
STATE_KEYS = (
    keys.MUSCLE_LENGTH,
    keys.MUSCLE_FORCE,
    keys.JOINT_POSITION,
    keys.JOINT_VELOCITY,
    keys.PELVIS_POSE,
    keys.PELVIS_VELOCITY,
)
LOAD_KEYS = (keys.GROUND_REACTION_FORCE, keys.FOOT_CONTACT)
RAW_KEYS = (*STATE_KEYS, *LOAD_KEYS)

# Starting gains, after Geyer & Herr (2010) and Song & Geyer (2015), in excitation per unit signal:
# forces in Fmax, lengths in L0, angles in rad, rates in rad/s, loads in body weights.
_START: dict[str, dict[str, float]] = {
    "stance_tonic": dict.fromkeys(NAMES, 0.01),
    "swing_tonic": dict.fromkeys(NAMES, 0.01),
    # compliant leg: positive force feedback of the antigravity muscles in stance
    "stance_force": {"SOL": 1.2, "GAS": 1.1, "VAS": 1.15, "GLU": 0.5},
    # ankle flexion: the tibialis stretched beyond its offset, in both phases; the hip flexors in swing
    "stance_length": {"TA": 1.1},
    "swing_length": {"TA": 1.1, "HFL": 0.35},
    # swing: the hamstrings slow the swinging leg (their force), the gluteals follow them
    "swing_force": {"HAM": 0.65, "GLU": 0.4},
    # trunk balance in stance, each term times the leg's load: a forward lean (rad, rad/s) excites
    # the hip extensors and relaxes the flexors
    "lean": {"HFL": -1.91, "GLU": 1.91, "HAM": 1.91},
    "lean_rate": {"HFL": -0.2, "GLU": 0.2, "HAM": 0.2},
    # lateral balance in stance: a lean toward the other leg excites this leg's abductors
    "side_lean": {"HAB": -1.0, "HAD": 1.0},
    "side_lean_rate": {"HAB": -0.1, "HAD": 0.1},
    # no knee hyperextension in stance: a knee straighter than knee_offset excites BFSH, relaxes VAS
    "knee_extension": {"BFSH": 2.0, "VAS": -2.0},
    # swing initiation: the other leg's load prepares this one's swing (double support)
    "other_load": {"HFL": 0.25, "GLU": -0.25},
    # swing leg placement: hip flexion toward hip_target (rad), damped
    "hip_error": {"HFL": 1.0, "GLU": -1.0, "HAM": -0.5},
    "hip_rate": {"HFL": -0.2, "GLU": 0.2, "HAM": 0.1},
}
_LENGTH_OFFSET = {"TA": 0.71, "HFL": 0.6}  # L0; 1 for the others
_SCALARS = {"lean_target": 0.0, "knee_offset": 0.1, "hip_target": 0.4, "ta_inhibition": 0.3}


def group_of(muscle: str) -> tuple[int, int]:
    """(leg, group) indices of a MyoLeg muscle name such as ``soleus_r``.

    Raises:
        ValueError: a name without a side suffix, or one no group lumps.
    """
    for leg, suffix in enumerate(SIDES):
        if muscle.endswith(suffix):
            stem = muscle[: -len(suffix)]
            for group, stems in enumerate(GROUPS.values()):
                if stem in stems:
                    return leg, group
            raise ValueError(f"muscle {muscle!r} is in none of the reflex groups {GROUPS}")
    raise ValueError(f"muscle {muscle!r} has no side suffix {SIDES}")


def _lean(pose: torch.Tensor, upright: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and rightward lean of the pelvis (rad) from its pose (position, quaternion w x y z)
    against the upright orientation: the tilt of its up axis toward world -y (forward) and -x (right)."""
    q = pose[..., 3:7]
    w0, x0, y0, z0 = upright  # q times the conjugate of upright: the rotation away from upright
    w1, x1, y1, z1 = q.unbind(-1)
    w = w1 * w0 + x1 * x0 + y1 * y0 + z1 * z0
    x = -w1 * x0 + x1 * w0 - y1 * z0 + z1 * y0
    y = -w1 * y0 + x1 * z0 + y1 * w0 - z1 * x0
    z = -w1 * z0 - x1 * y0 + y1 * x0 + z1 * w0
    up_x, up_y, up_z = 2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)
    return torch.atan2(-up_y, up_z), torch.atan2(-up_x, up_z)


class SongGeyerReflexes(nn.Module):
    """Muscle-group reflexes for two legs, switched by each leg's stance (its vertical ground reaction
    force above ``stance_threshold`` body weights) and swing; the same gains for both legs.

    Each of a leg's eleven groups (``GROUPS``) gets one excitation, which every muscle of the group
    receives, clipped to [0, 1]. With F and L a group's mean force (Fmax) and fibre length (L0) on
    that leg, (.)+ = max(., 0):

    - both phases: a tonic level, force feedback ``g_F F``, length feedback ``g_L (L - L_off)+``;
    - stance: trunk balance ``load (k_lean (lean - lean_target) + k_rate lean')`` and its lateral
      twin (the lean toward the other leg), knee hyperextension ``k_knee (knee_offset - knee)+``,
      swing preparation ``k_other other_load``, and the soleus inhibiting the tibialis
      (``- ta_inhibition F_SOL``, Geyer & Herr's SOL -> TA);
    - swing: leg placement ``k_hip (hip_target - hip) + k_hip' hip'`` (hip flexion, rad).

    Every gain is a parameter, per group (``lean`` etc. hold eleven, most starting at 0); the start
    follows Geyer & Herr (2010) and Song & Geyer (2015). Unlike theirs, the feedback here is not
    delayed (the observation of the step) and forces and lengths are the muscles' own (MuJoCo's
    muscle model, normalized).

    Args:
        muscle_names: the env's, in its action order (``group_of`` places each).
        upright: the pelvis quaternion (w, x, y, z) of an upright body (MyoLeg's standing pose).
        stance_threshold: vertical load (body weights) above which a leg is in stance.
    """

    def __init__(
        self,
        muscle_names: Sequence[str],
        upright: Sequence[float] = (0.5, 0.5, -0.5, -0.5),
        stance_threshold: float = 0.05,
    ):
        super().__init__()
        placed = [group_of(name) for name in muscle_names]
        n_groups = len(NAMES)
        member = torch.zeros(2 * n_groups, len(placed))  # (leg-group, muscle) membership
        for muscle, (leg, group) in enumerate(placed):
            member[leg * n_groups + group, muscle] = 1.0
        if (member.sum(1) == 0).any():
            empty = [
                f"{NAMES[i % n_groups]}{SIDES[i // n_groups]}"
                for i in range(2 * n_groups)
                if not member[i].any()
            ]
            raise ValueError(f"no muscle in the reflex groups {empty}")
        self.register_buffer("mean_of", member / member.sum(1, keepdim=True), persistent=False)
        self.register_buffer("spread", member.T.contiguous(), persistent=False)  # group -> its muscles
        self.register_buffer("upright", torch.as_tensor(upright, dtype=torch.float32), persistent=False)
        self.stance_threshold = stance_threshold
        self.gains = nn.ParameterDict(
            {
                name: nn.Parameter(torch.tensor([start.get(g, 0.0) for g in NAMES]))
                for name, start in _START.items()
            }
        )
        self.length_offset = nn.Parameter(torch.tensor([_LENGTH_OFFSET.get(g, 1.0) for g in NAMES]))
        self.scalars = nn.ParameterDict({name: nn.Parameter(torch.tensor(v)) for name, v in _SCALARS.items()})
        self.sol = NAMES.index("SOL")
        self.register_buffer("ta_only", torch.tensor([float(g == "TA") for g in NAMES]), persistent=False)

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """(batch, n_muscles) excitations in [0, 1] from a batch of raw observations."""
        n_groups, batch = len(NAMES), obs[keys.MUSCLE_FORCE].shape[0]

        def per_group(values: torch.Tensor) -> torch.Tensor:  # (batch, muscles) -> (batch, leg, group)
            return (values.float() @ self.mean_of.T).view(batch, 2, n_groups)

        force, length = per_group(obs[keys.MUSCLE_FORCE]), per_group(obs[keys.MUSCLE_LENGTH])
        if keys.GROUND_REACTION_FORCE in obs:
            load = obs[keys.GROUND_REACTION_FORCE].float()[:, [2, 5]]
        else:
            load = obs[keys.FOOT_CONTACT].float()
        load = load.unsqueeze(-1)  # (batch, leg, 1)
        other_load = load.flip(1)
        stance = (load > self.stance_threshold).float()
        joints, rates = obs[keys.JOINT_POSITION].float(), obs[keys.JOINT_VELOCITY].float()
        per_leg = joints.shape[1] // 2  # hip flexion first, the knee fourth, on each leg
        hip, hip_rate = joints[:, [0, per_leg]].unsqueeze(-1), rates[:, [0, per_leg]].unsqueeze(-1)
        knee = joints[:, [3, per_leg + 3]].unsqueeze(-1)
        forward, right = _lean(obs[keys.PELVIS_POSE].float(), self.upright)
        spin = obs[keys.PELVIS_VELOCITY].float()[:, 3:6]
        forward_rate, right_rate = spin[:, 0], -spin[:, 1]  # rotation about world x tilts up toward -y
        toward_other = torch.stack([-right, right], 1).unsqueeze(-1)  # leaning away from this leg
        toward_other_rate = torch.stack([-right_rate, right_rate], 1).unsqueeze(-1)
        g, s = self.gains, self.scalars
        stretch = torch.relu(length - self.length_offset)
        lean = (forward - s["lean_target"]).view(batch, 1, 1)
        stance_drive = (
            g["stance_tonic"]
            + g["stance_force"] * force
            + g["stance_length"] * stretch
            + load * (g["lean"] * lean + g["lean_rate"] * forward_rate.view(batch, 1, 1))
            + load * (g["side_lean"] * toward_other + g["side_lean_rate"] * toward_other_rate)
            + g["knee_extension"] * torch.relu(s["knee_offset"] - knee)
            + g["other_load"] * other_load
        )
        inhibition = s["ta_inhibition"] * force[:, :, self.sol, None] * self.ta_only  # SOL -> TA
        swing_drive = (
            g["swing_tonic"]
            + g["swing_force"] * force
            + g["swing_length"] * stretch
            + g["hip_error"] * (s["hip_target"] - hip)
            + g["hip_rate"] * hip_rate
        )
        drive = stance * (stance_drive - inhibition) + (1 - stance) * swing_drive
        return torch.clamp(drive.reshape(batch, 2 * n_groups) @ self.spread.T, 0.0, 1.0)


class ReflexPolicy(MultiInputActorCriticPolicy):
    """SB3's actor-critic policy whose action mean is :class:`SongGeyerReflexes`' excitation (mapped
    onto the action space), with SB3's Gaussian noise (a learnt std) around it for PPO; the critic is
    SB3's MLP (``net_arch`` default: none for the actor, [64, 64] for the critic). ``--algo cmaes``
    searches the reflex gains alone (the deterministic action depends on nothing else).

    Args:
        muscle_names: the env's (the trainers pass the env's ``muscle_names``; see
            ``PolicySpec.env_attributes``).
        reflex_kwargs: :class:`SongGeyerReflexes`' other arguments.
    """

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        lr_schedule: Schedule,
        muscle_names: Sequence[str] | None = None,
        reflex_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        if muscle_names is None:
            raise ValueError("ReflexPolicy needs muscle_names (the env's, in its action order)")
        observed = set(getattr(observation_space, "spaces", ()))
        missing = set(STATE_KEYS) - observed
        if not set(LOAD_KEYS) & observed:
            missing.add(keys.FOOT_CONTACT)
        if missing:
            raise ValueError(f"ReflexPolicy reads {sorted(missing)}, which this env does not observe")
        self.muscle_names, self.reflex_kwargs = list(muscle_names), dict(reflex_kwargs or {})
        kwargs.setdefault("net_arch", {"pi": [], "vf": [64, 64]})
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        self.reflexes = SongGeyerReflexes(self.muscle_names, **self.reflex_kwargs)  # before the optimizer
        super()._build(lr_schedule)
        if not isinstance(self.action_dist, DiagGaussianDistribution):
            raise ValueError(
                f"ReflexPolicy needs a Gaussian action (no gSDE), not {type(self.action_dist).__name__}"
            )
        register_action_bounds(self, self.action_space)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {
            **super()._get_constructor_parameters(),
            "muscle_names": self.muscle_names,
            "reflex_kwargs": self.reflex_kwargs,
        }

    def _distribution(self, obs: dict[str, torch.Tensor]) -> DiagGaussianDistribution:
        mean = within_bounds(self, self.reflexes(obs))
        return self.action_dist.proba_distribution(mean, self.log_std)

    def forward(
        self, obs: Any, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        distribution = self._distribution(obs)
        actions = distribution.get_actions(deterministic=deterministic)
        return actions, self.predict_values(obs), distribution.log_prob(actions)

    def get_distribution(self, obs: Any) -> DiagGaussianDistribution:
        return self._distribution(obs)

    def evaluate_actions(
        self, obs: Any, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        distribution = self._distribution(obs)
        return self.predict_values(obs), distribution.log_prob(actions), distribution.entropy()
