"""Muscle calibration: sweep the joint space once to learn each muscle's length and velocity ranges.

After seed 000's "calibration" of its arm: before a model is used, every limited joint is swept over
its range (a grid for small models, fixed-seed random samples for large ones) and each muscle's
musculotendon length and moment arms are recorded. The length range becomes the actuator's
``lengthrange``, from which MuJoCo derives the optimal fibre length L0 = excursion / (range[1] -
range[0]) and the tendon slack length, so the plant can report length in L0 units, velocity in L0/s
and force in units of the peak isometric force. The velocity range is the fastest shortening and
lengthening a muscle can see when its joints turn at ``PEAK_JOINT_SPEED``.

The sweep is kinematic (``mj_fwdPosition`` only) and exact for the swept samples; MuJoCo's own
``<lengthrange mode="muscle">`` simulates instead. Results are cached on disk, keyed by the model's
canonical XML, the MuJoCo version and the sweep settings, so each model is swept once per machine.
The cache lives in ``$MUSCLE_ENVS_CACHE_DIR`` or ``$XDG_CACHE_HOME/muscle_envs`` (default
``~/.cache/muscle_envs``); deleting it is always safe.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
from numpy.typing import NDArray

# Joint speed at which the velocity range is evaluated (rad/s): the upper end of shoulder and elbow
# speeds in fast human reaching (peak elbow velocities of ~10 rad/s).
PEAK_JOINT_SPEED = 10.0
# Bump when the sweep or the file format changes, so stale cache entries are ignored.
_CALIBRATION_VERSION = 1
_MAX_GRID_SAMPLES = 100_000


@dataclass(frozen=True)
class MuscleCalibration:
    """What the sweep learned about each muscle (rows follow ``muscle_names``).

    Attributes:
        muscle_names: names of the muscle actuators, in actuator order.
        joint_names: names of the swept joints (columns of ``max_moment_arm``).
        length_range: (n_muscles, 2) shortest and longest musculotendon length over the sweep, m.
        max_moment_arm: (n_muscles, n_joints) largest |d length / d angle| over the sweep, m/rad.
        velocity_range: (n_muscles, 2) fastest shortening (negative) and lengthening velocity when
            every joint the muscle crosses turns at ``PEAK_JOINT_SPEED``, m/s.
        n_samples: number of joint configurations swept.
    """

    muscle_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    length_range: NDArray[np.float64]
    max_moment_arm: NDArray[np.float64]
    velocity_range: NDArray[np.float64]
    n_samples: int

    def to_json(self) -> dict:
        return {
            "version": _CALIBRATION_VERSION,
            "muscle_names": list(self.muscle_names),
            "joint_names": list(self.joint_names),
            "length_range": self.length_range.tolist(),
            "max_moment_arm": self.max_moment_arm.tolist(),
            "velocity_range": self.velocity_range.tolist(),
            "n_samples": self.n_samples,
        }

    @classmethod
    def from_json(cls, obj: dict) -> MuscleCalibration:
        if obj.get("version") != _CALIBRATION_VERSION:
            raise ValueError(f"calibration format {obj.get('version')} != {_CALIBRATION_VERSION}")
        return cls(
            muscle_names=tuple(obj["muscle_names"]),
            joint_names=tuple(obj["joint_names"]),
            length_range=np.asarray(obj["length_range"], dtype=np.float64),
            max_moment_arm=np.asarray(obj["max_moment_arm"], dtype=np.float64),
            velocity_range=np.asarray(obj["velocity_range"], dtype=np.float64),
            n_samples=int(obj["n_samples"]),
        )


def cache_dir() -> Path:
    """Folder of the on-disk calibration cache."""
    if "MUSCLE_ENVS_CACHE_DIR" in os.environ:
        return Path(os.environ["MUSCLE_ENVS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "muscle_envs"


def muscle_actuators(spec: mujoco.MjSpec) -> list:
    """The spec's actuators whose dynamics are MuJoCo muscles, in actuator order."""
    return [a for a in spec.actuators if a.dyntype == mujoco.mjtDyn.mjDYN_MUSCLE]


def compile_calibrated(path: str | os.PathLike, points_per_joint: int = 61) -> mujoco.MjModel:
    """Compile the MJCF at ``path`` with every muscle's ``lengthrange`` taken from its calibration."""
    spec = mujoco.MjSpec.from_file(str(path))
    calibration = calibrate(spec, points_per_joint)
    for actuator, length_range in zip(muscle_actuators(spec), calibration.length_range, strict=True):
        actuator.lengthrange = length_range
    return spec.compile()


def calibrate(spec: mujoco.MjSpec, points_per_joint: int = 61, use_cache: bool = True) -> MuscleCalibration:
    """Calibration of the muscles in ``spec``, from the disk cache when it has this exact model."""
    probe = _kinematic_copy(spec)
    if not use_cache:
        return _sweep(probe, points_per_joint)
    # The probe's XML is canonical (includes resolved) and cheap to produce: it skips MuJoCo's own
    # length-range simulation, which ``to_xml`` would otherwise run.
    key = hashlib.sha256(
        f"{_CALIBRATION_VERSION}|{mujoco.__version__}|{points_per_joint}|{probe.to_xml()}".encode()
    ).hexdigest()[:24]
    found = _from_disk(key)
    if found is not None:
        return found
    calibration = _sweep(probe, points_per_joint)
    _write(key, calibration)
    return calibration


def _kinematic_copy(spec: mujoco.MjSpec) -> mujoco.MjSpec:
    """Copy of ``spec`` that compiles without computing muscle length ranges."""
    probe = spec.copy()
    probe.compiler.LRopt.mode = mujoco.mjtLRMode.mjLRMODE_NONE
    for actuator in muscle_actuators(probe):
        actuator.lengthrange = [0.0, 1.0]  # placeholder: the sweep only needs kinematics
    return probe


@functools.lru_cache(maxsize=32)
def _from_disk(key: str) -> MuscleCalibration | None:
    try:
        return MuscleCalibration.from_json(json.loads((cache_dir() / f"{key}.json").read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as err:  # corrupt or stale entry: sweep again
        warnings.warn(f"ignoring unreadable calibration cache entry {key}: {err}", stacklevel=3)
        return None


def write_to_cache(filename: str, save: Callable[[str], None]) -> None:
    """Store ``filename`` in :func:`cache_dir` by calling ``save(path)`` on a temporary path and
    renaming it, so parallel workers never read a half-written file. A cache that cannot be written
    is a warning, not an error: the caller has its result already."""
    folder = cache_dir()
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".tmp", delete=False) as handle:
            tmp = handle.name
        save(tmp)
        os.replace(tmp, folder / filename)
    except OSError as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        warnings.warn(f"could not write {filename} to the cache in {folder}: {err}", stacklevel=3)


def _write(key: str, calibration: MuscleCalibration) -> None:
    write_to_cache(f"{key}.json", lambda path: Path(path).write_text(json.dumps(calibration.to_json())))
    _from_disk.cache_clear()


def _sweep(probe: mujoco.MjSpec, points_per_joint: int) -> MuscleCalibration:
    """Sweep the limited joints of ``probe`` (a kinematic copy) and measure every muscle."""
    model = probe.compile()
    data = mujoco.MjData(model)

    muscle_ids = [i for i in range(model.nu) if model.actuator_dyntype[i] == mujoco.mjtDyn.mjDYN_MUSCLE]
    joint_ids = [
        j
        for j in range(model.njnt)
        if model.jnt_limited[j]
        and int(model.jnt_type[j]) in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    ]
    if not muscle_ids or not joint_ids:
        raise ValueError("calibration needs at least one muscle actuator and one limited hinge/slide joint")
    qpos_adr = model.jnt_qposadr[joint_ids]
    dof_adr = model.jnt_dofadr[joint_ids]
    ranges = model.jnt_range[joint_ids]

    if points_per_joint ** len(joint_ids) <= _MAX_GRID_SAMPLES:
        axes = [np.linspace(lo, hi, points_per_joint) for lo, hi in ranges]
        samples = np.array(list(itertools.product(*axes)))
    else:
        rng = np.random.default_rng(0)
        samples = rng.uniform(ranges[:, 0], ranges[:, 1], size=(_MAX_GRID_SAMPLES, len(joint_ids)))

    lengths = np.empty((len(samples), len(muscle_ids)))
    max_moment = np.zeros((len(muscle_ids), len(joint_ids)))
    moment = np.zeros((model.nu, model.nv))
    for k, q in enumerate(samples):
        data.qpos[qpos_adr] = q
        mujoco.mj_fwdPosition(model, data)
        lengths[k] = data.actuator_length[muscle_ids]
        mujoco.mju_sparse2dense(
            moment, data.actuator_moment, data.moment_rownnz, data.moment_rowadr, data.moment_colind
        )
        np.maximum(max_moment, np.abs(moment[np.ix_(muscle_ids, dof_adr)]), out=max_moment)

    peak_speed = max_moment.sum(axis=1) * PEAK_JOINT_SPEED
    return MuscleCalibration(
        muscle_names=tuple(model.actuator(i).name for i in muscle_ids),
        joint_names=tuple(model.joint(j).name for j in joint_ids),
        length_range=np.stack([lengths.min(axis=0), lengths.max(axis=0)], axis=1),
        max_moment_arm=max_moment,
        velocity_range=np.stack([-peak_speed, peak_speed], axis=1),
        n_samples=len(samples),
    )
