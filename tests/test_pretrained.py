"""The baselines shipped with the package load without pickles and still perform: each is evaluated
on fixed episodes and must not fall more than 3 binomial standard errors below its recorded success
(an env or library change that silently breaks a baseline fails here)."""

import math

import pytest

from muscle_train import evaluation
from muscle_train.config import RunError
from muscle_train.pretrained import baseline_dir, baselines

EPISODES = 30


def test_baselines_are_shipped():
    shipped = baselines()
    assert "MuscleArmReach-v0" in shipped
    for name, record in shipped.items():
        assert name.startswith(record["env"]) and record["reproduce"].startswith("python ")
        assert not list(baseline_dir(name).glob("*.pkl"))  # statistics as JSON, nothing pickled


@pytest.mark.parametrize("name", sorted(baselines()))
def test_a_shipped_baseline_keeps_its_recorded_success(name):
    record = baselines()[name]
    results = evaluation.evaluate(evaluation.run_source(baseline_dir(name)), EPISODES)
    n = record["n_episodes"]
    p = (record["success_rate"] * n + 1) / (n + 2)  # (smoothed: a recorded 100% still has a spread)
    floor = record["success_rate"] - 3 * math.sqrt(p * (1 - p) / EPISODES)
    assert results["success_rate"] >= floor, (name, results["success_rate"], record["success_rate"])


def test_an_unknown_baseline_is_refused_with_the_list():
    with pytest.raises(RunError, match="no pretrained baseline 'Nope-v0'; shipped: .*MuscleArmReach-v0"):
        baseline_dir("Nope-v0")
