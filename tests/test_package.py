"""The training stack as a package: its layers, its entry points, its typed configuration."""

import ast
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import muscle_train
from muscle_train import config as mt_config
from muscle_train.trainers import ALGOS, TRAINERS, trainer_for
from muscle_train.training import RunRequest, load_hyperparams, new_run_config, start_run

PACKAGE = Path(muscle_train.__file__).parent
ROOT = Path(__file__).resolve().parents[1]
# muscle_train's layers in order: a module may import only the layers before it (and its own).
LAYERS = [
    "config",
    "pretrained",
    "rundir",
    "envs",
    "rollouts",
    "analysis",
    "plots",
    "evaluation",
    "callbacks",
    "tracking",
    "trainers",
    "training",
    "cli",
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from the file's own package upwards
                package = ["muscle_train", *path.relative_to(PACKAGE).parent.parts]
                module = ".".join([*package[: len(package) - node.level + 1], *([module] if module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "muscle_train" and len(parts) > 1 and parts[1] in LAYERS else None


def test_each_layer_imports_only_the_layers_below_it_and_no_script():
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).with_suffix("")
        own = relative.parts[0]
        if own not in LAYERS:  # __init__, __main__
            continue
        for module in imported_modules(path):
            assert module.split(".")[0] not in ("train_sb3", "evaluate"), (path, module)  # the scripts
            layer = layer_of(module)
            if layer is not None:
                assert LAYERS.index(layer) <= LAYERS.index(own), f"{relative} imports {module}"
        checked += 1
    assert checked >= len(LAYERS)


def test_the_envs_and_the_policies_never_import_the_training_stack():
    for package in ("muscle_envs", "policies"):
        for path in (ROOT / package).rglob("*.py"):
            assert not any(m.startswith("muscle_train") for m in imported_modules(path)), path


def test_the_analyses_read_recordings_without_the_run_or_the_envs():
    """muscle_analysis works on recordings alone: no envs, policies, training stack or SB3."""
    forbidden = ("muscle_train", "muscle_envs", "policies", "stable_baselines3", "sb3_contrib", "mujoco")
    paths = list((ROOT / "muscle_analysis").rglob("*.py"))
    assert len(paths) >= 8
    for path in paths:
        assert not any(m.split(".")[0] in forbidden for m in imported_modules(path)), path


def test_every_training_method_has_a_trainer_and_valid_shipped_hyperparameters():
    table = mt_config.hyperparams_table()
    assert set(table) == set(ALGOS) == {"ppo", "recurrent_ppo", "sac", "td3", "distill", "cmaes"}
    for algo in ALGOS:
        trainer = trainer_for(algo)
        assert algo in trainer.algos and set(trainer.run_settings) <= set(mt_config.RUN_SETTINGS)
        for env_id in table[algo]:
            load_hyperparams(algo, env_id)  # raises on a key the trainer does not take
    assert len({id(t) for t in TRAINERS.values()}) == 3  # SB3, distillation, CMA-ES


def test_a_run_configuration_is_typed_frozen_and_complete():
    config = new_run_config(RunRequest(env="MuscleArm6Reach-v1", total_timesteps=5000, seed=3))
    assert (config.env, config.algo, config.policy, config.seed) == ("MuscleArm6Reach-v1", "ppo", "mlp", 3)
    assert config.total_timesteps == 5000 and config.n_envs == 16  # the request over hyperparams.yml
    assert config.env_config["model"] == "arm6" and config.action_range == (-1.0, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 4  # type: ignore[misc]
    cmaes = new_run_config(RunRequest(algo="cmaes"))
    assert cmaes.normalize is False and cmaes.n_envs is None and "n_envs" not in cmaes.to_dict()
    with pytest.raises(mt_config.RunError, match="n_envs does not apply to cmaes"):
        new_run_config(RunRequest(algo="cmaes", n_envs=4))


def test_a_configuration_made_by_hand_is_checked_before_anything_is_written(tmp_path):
    """start_run checks a RunConfig it did not make: a missing setting, a bad count, a policy the
    algorithm cannot train, an unknown hyperparameter, a retired env id; the run directory stays empty."""
    good = new_run_config(RunRequest(total_timesteps=512))
    bad = {
        "a ppo run needs the settings \\['n_envs', 'vec_env'": good.replace(n_envs=None, vec_env=None),
        "total_timesteps must be >= 1": good.replace(total_timesteps=0),
        "policy 'lstm' is recurrent": good.replace(policy="lstm"),
        "unknown hyperparameter 'learning_rte'": good.replace(hyperparams={"learning_rte": 0.1}),
        "MuscleArm6Reach-v0 no longer exists": good.replace(env="MuscleArm6Reach-v0"),
    }
    for message, config in bad.items():
        with pytest.raises(mt_config.RunError, match=message):
            start_run(config, tmp_path / "run")
        assert not (tmp_path / "run").exists()


def test_hyperparams_ship_with_the_package_and_the_entry_points_answer(tmp_path):
    shipped = mt_config.hyperparams_file()
    assert shipped.parent == PACKAGE and "ppo" in yaml.safe_load(shipped.read_text())
    env = {**os.environ, "WANDB_MODE": "disabled"}
    by_module = subprocess.run(
        [sys.executable, "-m", "muscle_train", "train", "--show_hyperparams"],
        cwd=tmp_path,  # not the checkout
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert by_module.returncode == 0, by_module.stderr
    assert Path(by_module.stdout.strip()) == shipped
    script = Path(sys.executable).parent / "muscle-evaluate"  # installed beside this interpreter
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and "--load" in result.stdout
    # a successful evaluation exits with status 0 (a console script exits with what main() returns)
    run = ROOT / "tests" / "fixtures" / "legacy_runs" / "ppo_mlp"
    result = subprocess.run(
        [str(script), str(run), "--episodes", "1", "--trust"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0 and "success rate" in result.stdout, result.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "muscle_train", "fly"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert unknown.returncode == 2 and "train,evaluate" in unknown.stderr
