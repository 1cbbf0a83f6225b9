"""Searches in a given (hand-made or learned) space under a hardware budget.

Two pieces, used by `tfnas.algorithms.autospace` and `tfnas.algorithms.mobile_pipeline`:

- `with_budget(cls)`: any registered bilevel algorithm (`gdas`, `rome`, `darts`,
  `darts_minus`, ...) with a `tfnas.budgets.losses.BudgetLoss` in its architecture loss.
  The architecture gradient is the algorithm's own (first or second order, K-sample
  accumulation, ...) plus the budget's: `g_CE + d term / d alpha` for the additive forms
  (ProxylessNAS, hinge), `term * g_CE + mean(CE) * d term / d alpha` for FBNet's
  multiplicative form (the product rule on `CE * term`). The weights are trained on the
  cross-entropy alone (the budget does not depend on them). The expected cost is logged
  as the `expected_cost` metric.
- `run_search(config, supernet, ...)`: the bilevel search of `config.algorithm` over a
  supernet built by the caller (an NB201 supernet restricted to a learned space, or a
  `tfnas.supernets.mobile.MobileSupernet`), one bilevel dataset per epoch seeded by
  `(seed, epoch)` as `tfnas.algorithms.runner.search` does; returns the genotype (the
  hard-budget one when the budget has a `hard` limit) and the run's figures.

`tfnas.algorithms.runner.search` is the resumable, checkpointed runner of the fixed
spaces; a learned NB201 space goes through it (`build_search(supernet_overrides=...)`), while
the mobile pipeline's searches here are short and re-run on a rerun (no checkpoints).

References:
    - Cai et al., ProxylessNAS, arXiv 1812.00332.
    - Wu et al., FBNet, arXiv 1812.03443.
    - Dong & Yang, GDAS, arXiv 1910.04465; Wang et al., ROME, arXiv 2011.11233.

Example:
>>> from tfnas.algorithms.runner import make_search_config
>>> config = make_search_config("gdas", "nb201", epochs=1, channels=4, layers=1)
>>> cls = with_budget(ALGORITHMS.get("gdas"))
>>> cls.__name__
'BudgetedGdas'
"""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfnas.algorithms.base import ALGORITHMS, BilevelSearch
from tfnas.algorithms.config import SearchConfig
from tfnas.budgets.losses import BudgetLoss, expected_cost, meet_budget
from tfnas.genotypes.block import BlockGenotype

_BUDGETED: dict[type, type] = {}


class _BudgetMixin:
    """Adds `self.budget` (a `BudgetLoss` or None) to an algorithm's architecture gradients."""

    budget: BudgetLoss | None = None

    def _init_budget(self, budget: BudgetLoss | None) -> None:
        if budget is not None and not isinstance(budget, BudgetLoss):
            raise ValueError(f"budget must be a BudgetLoss or None. Received: {type(budget).__name__}")
        if budget is not None and not hasattr(self.supernet, "arch_probabilities"):
            raise ValueError(
                f"A budget needs a supernet with arch_probabilities() (NB201, mobile). "
                f"Received: {type(self.supernet).__name__}"
            )
        self.budget = budget
        self.cost_tracker = keras.metrics.Mean(name="expected_cost")

    @property
    def metrics(self):
        return super().metrics + [self.cost_tracker]

    def arch_gradients(self, x_train, y_train, x_val, y_val):
        grads, cross_entropy, correct = super().arch_gradients(x_train, y_train, x_val, y_val)
        if self.budget is None:
            return grads, cross_entropy, correct
        variables = self.supernet.arch_variables
        with tf.GradientTape() as tape:
            probabilities = self.supernet.arch_probabilities()
            term = self.budget.term(probabilities)
        term_grads = tape.gradient(term, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        self.cost_tracker.update_state(tf.stop_gradient(expected_cost(probabilities, self.budget.table)))
        if self.budget.multiplicative:
            ce = tf.stop_gradient(tf.reduce_mean(cross_entropy))
            factor = tf.stop_gradient(term)
            grads = [factor * g + ce * t for g, t in zip(grads, term_grads)]
        else:
            grads = [g + t for g, t in zip(grads, term_grads)]
        return grads, cross_entropy, correct


def with_budget(cls: type) -> type:
    """Returns `cls` (a `BilevelSearch` subclass) with a budget term in its architecture loss.

    The returned class takes `budget=` (a `BudgetLoss` or None) as a constructor keyword.

    Raises:
        ValueError: if `cls` is not a `BilevelSearch` subclass.
    """
    if not (isinstance(cls, type) and issubclass(cls, BilevelSearch)):
        raise ValueError(f"with_budget needs a BilevelSearch subclass. Received: {cls!r}")
    if cls not in _BUDGETED:

        def __init__(self, supernet, config=None, *, budget: BudgetLoss | None = None, **kwargs):
            cls.__init__(self, supernet, config, **kwargs)
            self._init_budget(budget)

        _BUDGETED[cls] = type(f"Budgeted{cls.__name__}", (_BudgetMixin, cls), {"__init__": __init__})
    return _BUDGETED[cls]


def load_search_data(
    dataset: str, *, data_dir: str | None = None, max_train_examples: int | None = None,
    image_size: int | None = None,
) -> tuple[tf.data.Dataset, int, tuple[int, int, int], int]:
    """The search's training set, materialized once: `(dataset, size, image shape, classes)`.

    The same loading as `tfnas.algorithms.runner.search` (first N examples, area resize).

    Raises:
        FileNotFoundError: without the data; ValueError for an empty set.
    """
    from tfnas.algorithms.runner import load_training_set

    return load_training_set(dataset, data_dir, max_train_examples, image_size)


def run_search(
    config: SearchConfig,
    supernet: keras.Model,
    *,
    train_ds: tf.data.Dataset,
    num_examples: int,
    dataset: str = "cifar10",
    budget: BudgetLoss | None = None,
    hard_budget: float | None = None,
    hard_table=None,
    data_options: dict[str, Any] | None = None,
    verbose: int = 0,
) -> dict[str, Any]:
    """Runs `config.algorithm` (with `budget` in its architecture loss) over `supernet`.

    Args:
        config: The search hyper-parameters (`algorithm`, epochs, batch size, seed, ...).
        supernet: A built sampling/softmax supernet with `arch_probabilities()` when a
            budget is given (NB201 or mobile).
        train_ds: The training set (from `load_search_data`), split 50/50 per epoch.
        num_examples: Its size.
        dataset: Its name (normalisation statistics, flips).
        budget: The differentiable budget term, or None.
        hard_budget: A hard limit in `hard_table`'s unit: the exported architecture is
            `meet_budget(probabilities, hard_table, hard_budget)`.
        hard_table: The `CostTable` of the hard limit (default `budget.table`), e.g. MAdds
            while the differentiable term prices latency.
        data_options: Extra `tfnas.data.make_bilevel_dataset` arguments (`stats`, `flip`).
        verbose: Keras progress verbosity.

    Returns:
        `{"genotype", "choices", "table_cost", "search_seconds", "arch_state", "final"}`:
        the derived genotype (string), the chosen index per decision, its exact table cost
        (when a budget is given), the wall time and the last epoch's logs.

    Raises:
        ValueError: for a hard budget without a table, a supernet whose mixing the
            algorithm cannot use, or a budget below the cheapest architecture.
    """
    from tfnas import data
    from tfnas.algorithms.factory import make_optimizers
    from tfnas.algorithms.runner import epoch_seed

    hard_table = hard_table if hard_table is not None else (budget.table if budget is not None else None)
    if hard_budget is not None and hard_table is None:
        raise ValueError("hard_budget needs hard_table= or budget= (a cost table prices the architecture).")
    cls = ALGORITHMS.get(config.algorithm)
    mixing = getattr(getattr(supernet, "config", None), "mixing", None)
    if mixing is not None and cls.mixing != mixing and not (cls.mixing == "rome" and mixing == "gumbel"):
        raise ValueError(
            f"{config.algorithm} needs a supernet with mixing={cls.mixing!r}. Received: mixing={mixing!r}"
        )
    keras.utils.set_random_seed(int(config.seed))
    steps = data.bilevel_steps_per_epoch(num_examples, config.batch_size, config.train_portion)
    search = with_budget(cls)(supernet, config, budget=budget, name=f"{config.algorithm}_search")
    weight_optimizer, arch_optimizer = make_optimizers(config, steps)
    search.compile(weight_optimizer, arch_optimizer)
    search.build((None, *supernet_input_shape(supernet)))
    search.build_optimizers()
    padding = max(1, round(4 * supernet_input_shape(supernet)[0] / 32))
    callbacks = search.callbacks(config)
    start = time.perf_counter()
    logs: dict[str, float] = {}
    for epoch in range(config.epochs):
        batches = data.make_bilevel_dataset(
            train_ds, config.batch_size, train_portion=config.train_portion, split_seed=config.seed,
            seed=epoch_seed(config.seed, epoch), padding=padding, dataset=dataset, **(data_options or {}),
        )
        history = search.fit(batches, epochs=epoch + 1, initial_epoch=epoch, steps_per_epoch=steps,
                             callbacks=callbacks, verbose=verbose, shuffle=False)
        logs = {k: float(v[-1]) for k, v in history.history.items() if v}
    seconds = time.perf_counter() - start
    report: dict[str, Any] = {"search_seconds": seconds, "final": logs, "steps_per_epoch": steps,
                              "arch_state": {k: np.asarray(v).tolist() for k, v in supernet.arch_state().items()}}
    if hard_table is not None:
        probabilities = [np.asarray(p) for p in supernet.arch_probabilities()]
        if hard_budget is not None:
            choices = meet_budget(probabilities, hard_table, hard_budget)
        else:
            choices = tuple(int(np.argmax(p)) for p in probabilities)
        genotype = supernet.export(choices)
        report["choices"] = list(choices)
        report["table_cost"] = hard_table.cost(choices)
    else:
        genotype = supernet.export()
    report["genotype"] = genotype.to_string()
    return report


def width_for_madds(genotype: BlockGenotype, budget_madds: float, *, input_size: int, num_classes: int,
                    low: float = 0.1, high: float = 2.0, steps: int = 14) -> tuple[float, BlockGenotype, int]:
    """The widest width multiplier of `genotype` whose network fits `budget_madds` (bisection).

    Returns:
        `(multiplier, scaled genotype, its MAdds at input_size)`.

    Raises:
        ValueError: if even `low` exceeds the budget.
    """
    from tfnas.budgets.counters import count_madds
    from tfnas.children.mobile_net import build_mobile_network

    def madds(multiplier: float) -> int:
        return count_madds(build_mobile_network(genotype.scaled(multiplier), input_shape=(input_size, input_size, 3),
                                                num_classes=num_classes))

    if madds(low) > budget_madds:
        raise ValueError(f"Even width {low} exceeds {budget_madds:.0f} MAdds at {input_size}x{input_size}.")
    for _ in range(steps):
        middle = (low + high) / 2
        low, high = (middle, high) if madds(middle) <= budget_madds else (low, middle)
    return low, genotype.scaled(low), madds(low)


def supernet_input_shape(supernet: keras.Model) -> tuple[int, int, int]:
    """`(H, W, C)` of a supernet's images."""
    return tuple(supernet.config.input_shape)
