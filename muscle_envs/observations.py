"""Observation keys and units: the contract between the environments and the policies.

Every env returns a ``Dict`` observation keyed by modality. A policy may rely on a key meaning the
same thing, in the same unit, in every env that has it. Per-muscle entries follow the env's
``muscle_names`` order.

| key                  | unit / range                         | meaning                                   |
|----------------------|--------------------------------------|-------------------------------------------|
| `muscle_length`      | L0 (optimal fibre length), ~0.5-1.6  | fibre length / L0                         |
| `muscle_velocity`    | L0/s, + = lengthening                | fibre velocity / L0                       |
| `muscle_force`       | Fmax (peak isometric force), >= 0    | tensile force / Fmax                      |
| `muscle_activation`  | [0, 1]                               | muscle activation state                   |
| `target`             | m, world (x, z)                      | target position                           |
| `target_place_cells` | [0, 1]                               | Gaussian place-cell code of the target    |
| `hold_remaining`     | s                                    | time the hand must still hold the target  |
| `vision`             | m, world (x, z)                      | hand position                             |
| `joint_position`     | rad                                  | leg coordinates (hip, knee, ankle, ...)   |
| `joint_velocity`     | rad/s                                | their velocities                          |
| `pelvis_pose`        | m, then unit quaternion (w, x, y, z) | pelvis position and orientation           |
| `pelvis_velocity`    | m/s, then rad/s (world frame)        | pelvis linear and angular velocity        |
| `foot_contact`       | body weights                         | normal force under (right, left) foot     |
| `ground_reaction_force` | body weights, world (x, y, z)     | ground's force on the right, then left foot |
| `target_speed`       | m/s                                  | walking speed asked for (forward: -y)     |
| `rule`               | one-hot                              | which task (seed 004's rule input)         |
| `speed`              | [0, 1]                               | seed 004's speed signal, 0 before the cue  |
| `go_cue`             | 0 or 1                               | 1 from the start of the movement epoch     |
| `desired_position`   | m, world (x, z)                      | the path's point now (privileged)          |
| `desired_velocity`   | m/s, world (x, z)                    | the path's velocity now (privileged)       |
"""

MUSCLE_LENGTH = "muscle_length"
MUSCLE_VELOCITY = "muscle_velocity"
MUSCLE_FORCE = "muscle_force"
MUSCLE_ACTIVATION = "muscle_activation"
TARGET = "target"
TARGET_PLACE_CELLS = "target_place_cells"
HOLD_REMAINING = "hold_remaining"
VISION = "vision"

# The proprioceptive keys a spindle / Golgi tendon organ model reads.
PROPRIOCEPTION = (MUSCLE_LENGTH, MUSCLE_VELOCITY, MUSCLE_FORCE)

# Legs (MyoLegsStand-v0): whole-body state.
JOINT_POSITION = (
    "joint_position"  # rad: hip flexion/adduction/rotation, knee, ankle, subtalar, mtp, right then left
)
JOINT_VELOCITY = "joint_velocity"  # rad/s, same order
PELVIS_POSE = "pelvis_pose"  # m (x, y, z) then orientation quaternion (w, x, y, z)
PELVIS_VELOCITY = "pelvis_velocity"  # m/s (linear) then rad/s (angular), world frame
FOOT_CONTACT = "foot_contact"  # (right, left) normal force under each foot, body weights
# Walking (MyoLegsWalk-v0): the ground's 3-D force on each foot (right x, y, z, then left), body weights.
GROUND_REACTION_FORCE = "ground_reaction_force"
TARGET_SPEED = "target_speed"  # m/s, forward

# Delayed multi-task movements (MuscleArmMultiTask-v0, seed 004).
RULE = "rule"
SPEED = "speed"
GO_CUE = "go_cue"
DESIRED_POSITION = "desired_position"  # privileged: for teachers
DESIRED_VELOCITY = "desired_velocity"
# What only a teacher may see: a student distilled from it is given the other keys.
PRIVILEGED = (DESIRED_POSITION, DESIRED_VELOCITY)
# Codes rather than measurements: a normalizer leaves them as they are (a one-hot of a task unseen in
# training would otherwise normalize to the clip value, 10 standard deviations of nothing).
CATEGORICAL = (RULE, GO_CUE)
