"""Multi-trial search over a user's Keras space (`tfnas.supernets.choices.KerasSpace`).

`search_records(space, evaluate, strategy=...)` runs random search (Li & Talwalkar, arXiv
1902.07638) or regularized evolution (Real et al., arXiv 1802.01548: tournament of `sample`,
mutate the winner's one choice, the oldest dies) over the space's choice records, where
`evaluate(record) -> score` is the user's (higher is better; `fit_evaluator` gives the usual
one: train the fixed model briefly, score its validation accuracy). Hardware budgets on
parameters (`max_params`) and multiply-adds of one image (`max_madds`, counted by
`tfnas.budgets.count_madds` on the fixed model) are hard constraints: a record whose fixed
model is over either is redrawn before it is evaluated and costs no evaluation. Value choices are searched too (the
fixed model is built anew for every record), which the weight-sharing supernet cannot do.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tfnas.budgets.counters import count_madds
from tfnas.supernets.choices import KerasSpace

RECORD_STRATEGIES = ("random", "evolution")


@dataclasses.dataclass
class RecordTrial:
    """One evaluated record: its score, parameter count, MAdds and the wall seconds it took."""

    record: dict[str, Any]
    score: float
    params: int
    madds: int
    seconds: float


def _key(record: dict[str, Any]) -> str:
    return repr(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in record.items()))


def search_records(space: KerasSpace, evaluate: Callable[[dict[str, Any]], float], *, strategy: str = "evolution",
                   evaluations: int = 20, population_size: int = 10, sample_size: int = 3, seed: int = 0,
                   max_params: int | None = None, max_madds: int | None = None,
                   max_redraws: int = 1000) -> list[RecordTrial]:
    """Searches `space` with `evaluations` calls of `evaluate`; returns the trials in order.

    Each distinct record is evaluated once (a record drawn again is redrawn). The best trial
    is `max(trials, key=lambda t: t.score)`.

    Raises:
        ValueError: for an unknown strategy, a non-positive budget, a non-finite score, or
            when no record within `max_params` is found in `max_redraws` draws.
    """
    if strategy not in RECORD_STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(RECORD_STRATEGIES)}. Received: {strategy!r}")
    if evaluations < 1 or population_size < 1 or not 1 <= sample_size <= population_size:
        raise ValueError(f"Need evaluations >= 1 and 1 <= sample_size <= population_size. Received: "
                         f"evaluations={evaluations}, population_size={population_size}, sample_size={sample_size}")
    rng = np.random.default_rng(seed)
    trials: list[RecordTrial] = []
    seen: set[str] = set()
    evaluations = min(evaluations, space.size())

    def admit(propose: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], int, int] | None:
        for _ in range(max_redraws):
            record = propose()
            if _key(record) in seen:
                continue
            model = space.fixed_model(record)
            params, madds = model.count_params(), count_madds(model)
            if (max_params is None or params <= max_params) and (max_madds is None or madds <= max_madds):
                return record, params, madds
        return None

    def run(record: dict[str, Any], params: int, madds: int) -> RecordTrial:
        started = time.perf_counter()
        score = float(evaluate(record))
        if not np.isfinite(score):
            raise ValueError(f"evaluate returned a non-finite score {score} for {record}.")
        seen.add(_key(record))
        trial = RecordTrial(dict(record), score, int(params), int(madds), time.perf_counter() - started)
        trials.append(trial)
        return trial

    population: collections.deque[RecordTrial] = collections.deque()
    while len(trials) < evaluations:
        if strategy == "random" or len(population) < population_size:
            found = admit(lambda: space.random_record(rng))
        else:
            contenders = [population[int(i)] for i in rng.choice(len(population), size=sample_size, replace=False)]
            parent = max(contenders, key=lambda t: t.score)
            found = admit(lambda parent=parent: space.mutate_record(parent.record, rng))
        if found is None:
            if not trials:
                raise ValueError(f"No record of the space fits max_params={max_params}, max_madds={max_madds} in "
                                 f"{max_redraws} draws; raise the budget or shrink the space.")
            break  # Every reachable record within the budget is evaluated.
        population.append(run(*found))
        if len(population) > population_size:
            population.popleft()  # Regularized evolution: the oldest dies.
    return trials


def fit_evaluator(space: KerasSpace, train_data, validation_data, *, epochs: int = 1,
                  learning_rate: float = 1e-3, seed: int = 0) -> Callable[[dict[str, Any]], float]:
    """`evaluate(record)`: trains the record's fixed model with Adam for `epochs` on `train_data`
    (a `tf.data.Dataset` of `(images, labels)` batches) and returns its accuracy (%) on
    `validation_data`; every model starts from the same seed."""
    import keras

    def evaluate(record: dict[str, Any]) -> float:
        keras.utils.set_random_seed(seed)
        model = space.fixed_model(record)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(train_data, epochs=epochs, verbose=0)
        return 100.0 * float(model.evaluate(validation_data, verbose=0, return_dict=True)["accuracy"])

    return evaluate
