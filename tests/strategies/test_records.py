"""Multi-trial search over a user's Keras space: random search and regularized evolution on records."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfnas.budgets.counters import count_madds
from tfnas.supernets.choices import KerasSpace, layer_choice, value_choice
from tfnas.strategies.records import search_records


def _build():
    inputs = keras.Input((6,))
    x = inputs
    for i in range(4):
        x = keras.layers.Dense(value_choice([2, 4, 8], f"w{i}"))(x)
        x = layer_choice([keras.layers.ReLU(), keras.layers.Activation("tanh"), keras.layers.Identity()], f"a{i}")(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


SPACE = KerasSpace(_build)


def _score(record):
    """A synthetic score: best with width 8 and tanh everywhere (3^8 = 6,561 records)."""
    return float(sum(record[f"w{i}"] for i in range(4)) + sum(record[f"a{i}"] == 1 for i in range(4)))


def test_evolution_mutates_tournament_winners_and_beats_random_on_average():
    trials = search_records(SPACE, _score, strategy="evolution", evaluations=60, population_size=10, sample_size=3,
                            seed=0)
    assert len(trials) == 60 and len({repr(t.record) for t in trials}) == 60
    for i, trial in enumerate(trials[10:], start=10):  # after the random population: one choice from a recent parent
        window = trials[max(0, i - 10):i]
        assert any(sum(trial.record[k] != p.record[k] for k in trial.record) == 1 for p in window)
    best = lambda strategy, seed: max(t.score for t in search_records(SPACE, _score, strategy=strategy,
                                                                      evaluations=60, seed=seed))
    assert np.mean([best("evolution", s) for s in range(4)]) > np.mean([best("random", s) for s in range(4)])


def test_the_parameter_budget_is_a_hard_constraint_and_bad_input_is_refused():
    trials = search_records(SPACE, _score, strategy="random", evaluations=15, max_params=120, seed=1)
    assert all(t.params <= 120 for t in trials) and all(t.params == SPACE.fixed_model(t.record).count_params()
                                                        for t in trials)
    trials = search_records(SPACE, _score, strategy="evolution", evaluations=15, max_madds=100, seed=1)
    assert all(t.madds <= 100 for t in trials) and all(t.madds == count_madds(SPACE.fixed_model(t.record))
                                                       for t in trials)
    assert max(t.madds for t in search_records(SPACE, _score, strategy="random", evaluations=15, seed=1)) > 100
    with pytest.raises(ValueError, match="fits max_params=10, max_madds=None"):
        search_records(SPACE, _score, evaluations=3, max_params=10, max_redraws=20)
    with pytest.raises(ValueError, match="strategy must be one of random, evolution"):
        search_records(SPACE, _score, strategy="bayes")
    with pytest.raises(ValueError, match="non-finite score"):
        search_records(SPACE, lambda r: float("nan"), evaluations=1)
