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
