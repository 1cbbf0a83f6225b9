"""Searches in a given (hand-made or learned) space under a hardware budget.

Two pieces, used by `tfnas.algorithms.autospace` and `launch.evolve_space`:

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

import dataclasses
import time
from collections.abc import Callable
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


# ------------------------------------------------------------------------------ the mobile pipeline
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@dataclasses.dataclass(frozen=True)
class MobileExperimentConfig:
    """The mobile AutoSpace pipeline: evolve a space, search in it under a budget, train, time.

    Presets (`MobileExperimentConfig.preset(name)`):
    - `"cifar"`: the 2-core proxy. 32x32 CIFAR-10, a narrow 5-stage skeleton (stem 16;
      widths 16, 24, 40, 80, 96; strides 1, 2, 2, 2, 1; depths 1, 2, 2, 2, 1; head 256),
      choices kernel {3, 5, 7} x expansion {3, 6} x SE {0, 0.25}, relu6, zero for depth;
      reference MobileNetV2-like `ir_k3_e6` everywhere (3.93M MAdds at 32x32); budget 3.5M
      MAdds (the space spans 0.97M-6.02M).
    - `"imagenet"`: ProxylessNAS-mobile's skeleton (the paper's setting), kernel {3, 5, 7}
      x expansion {1, 3, 6}, ds or ir, relu6, zero; reference ProxylessNAS-mobile; 224x224
      tfds `imagenet2012` from `imagenet_manual_dir`; budget 500M MAdds (AutoSpace's).

    Args:
        preset_name: `"cifar"` or `"imagenet"`.
        generations: AutoSpace generations.
        generation_epochs: Supernet epochs per generation.
        sample_size: K candidates per slot per generation.
        keep: Candidates per slot in the learned space.
        search_algorithm: `gdas` or `rome` (single-path).
        search_epochs: Epochs of the search in the learned space.
        budget_madds: MAdds budget of the searched network at its input size (hinge term in
            every architecture loss; hard limit on the exported network).
        train_epochs: Training epochs of the found child.
        max_train_examples: First N training images (search and child training).
        batch_size: Search batch size of each part.
        dataset: `cifar10` (`digits` for smoke runs) or `imagenet2012`.
        data_dir: Shared data folder (CIFAR-10).
        imagenet_manual_dir: tfds manual dir holding the ImageNet tars (imagenet preset).
        latency_runs: Timed LiteRT invocations per block / model.
        latency_form: `"none"`: the search's differentiable term is the MAdds hinge;
            `"proxyless"` (ProxylessNAS, `CE + (E[lat] - target) / target`) or `"fbnet"`
            (FBNet, `CE * 0.2 * log(E[lat]) ** 0.6`): it is the expected LiteRT latency
            from the per-block lookup table measured on this CPU (`latency_lut.json`),
            while `budget_madds` stays the hard limit of the exported network.
        latency_target_ms: The ProxylessNAS reference latency in ms (required for it).
        mutation_range: `"open"` (candidates mutate beyond the preset's choices, to any
            value of `autospace.MOBILE_PRIMITIVES`) or `"space"` (within them).
        seed: Seed.

    Raises:
        ValueError: naming the bad field.
    """

    preset_name: str = "cifar"
    generations: int = 2
    generation_epochs: int = 2
    sample_size: int = 3
    keep: int = 2
    search_algorithm: str = "gdas"
    search_epochs: int = 4
    budget_madds: float = 3.5e6
    train_epochs: int = 5
    max_train_examples: int | None = 10000
    batch_size: int = 64
    dataset: str = "cifar10"
    data_dir: str | None = None
    imagenet_manual_dir: str | None = None
    latency_runs: int = 30
    latency_form: str = "none"
    latency_target_ms: float | None = None
    mutation_range: str = "open"
    seed: int = 0

    PRESETS = {
        "cifar": {},
        "imagenet": {"budget_madds": 500e6, "dataset": "imagenet2012", "max_train_examples": None,
                     "generations": 4, "generation_epochs": 5, "sample_size": 4, "keep": 3, "search_epochs": 50,
                     "train_epochs": 150, "batch_size": 256},
    }

    def __post_init__(self) -> None:
        if self.preset_name not in self.PRESETS:
            raise ValueError(f"preset must be one of {sorted(self.PRESETS)}. Received: {self.preset_name!r}")
        if self.search_algorithm not in ("gdas", "rome"):
            raise ValueError(f"The mobile supernet is single-path: search_algorithm must be gdas or rome. "
                             f"Received: {self.search_algorithm!r}")
        if not self.budget_madds > 0:
            raise ValueError(f"budget_madds must be > 0. Received: budget_madds={self.budget_madds}")
        if self.mutation_range not in ("open", "space"):
            raise ValueError(f"mutation_range must be open or space. Received: {self.mutation_range!r}")
        if self.latency_form not in ("none", "proxyless", "fbnet"):
            raise ValueError(f"latency_form must be none, proxyless or fbnet. Received: {self.latency_form!r}")
        if self.latency_form == "proxyless" and not (self.latency_target_ms or 0) > 0:
            raise ValueError("latency_form='proxyless' needs latency_target_ms > 0 (the reference latency, ms). "
                             f"Received: latency_target_ms={self.latency_target_ms!r}")
        if self.dataset == "imagenet2012" and not self.imagenet_manual_dir:
            raise ValueError("The imagenet preset needs --imagenet_manual_dir (the folder holding "
                             "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar for tfds imagenet2012).")
        for name in ("generation_epochs", "search_epochs", "train_epochs", "batch_size", "latency_runs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1. Received: {name}={value!r}")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> MobileExperimentConfig:
        """The preset's config with `overrides` (None values ignored).

        Raises:
            ValueError: for an unknown preset or field.
        """
        if name not in cls.PRESETS:
            raise ValueError(f"preset must be one of {sorted(cls.PRESETS)}. Received: {name!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"Unknown MobileExperimentConfig fields: {unknown}")
        values = {**cls.PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(preset_name=name, **values)

    def skeleton(self):
        """`(space, reference, input_size, num_classes)` of the preset."""
        from tfnas.genotypes import published_blocks
        from tfnas.spaces.mobile import DEFAULT_SPACE, MobileSpace, StageSpec

        if self.preset_name == "imagenet":
            space = dataclasses.replace(DEFAULT_SPACE, kernels=(3, 5, 7), expansions=(1, 3, 6), se_ratios=(0.0,),
                                        activations=("relu6",))
            return space, published_blocks.PROXYLESSNAS_MOBILE, 224, 1000
        space = MobileSpace(
            stem=16, stages=(StageSpec(16, 1, 1), StageSpec(24, 2, 2), StageSpec(40, 2, 2), StageSpec(80, 2, 2),
                             StageSpec(96, 1, 1)),
            head=256, kernels=(3, 5, 7), expansions=(3, 6), se_ratios=(0.0, 0.25), activations=("relu6",),
            block_types=("ir",))
        reference = BlockGenotype.from_string(
            "stem=16;blocks=ir_r1_k3_s1_e6_c16|ir_r2_k3_s2_e6_c24|ir_r2_k3_s2_e6_c40|ir_r2_k3_s2_e6_c80|"
            "ir_r1_k3_s1_e6_c96;head=256;act=relu6")
        return space, reference, 32, 10

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _imagenet_train_set(manual_dir: str, size: int, max_examples: int | None):
    import tensorflow_datasets as tfds

    builder = tfds.builder("imagenet2012")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    ds = builder.as_dataset(split="train", as_supervised=True)
    if max_examples:
        ds = ds.take(max_examples)

    def _resize(image, label):
        image = tf.image.resize(image, (size, size), antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label

    ds = ds.map(_resize, num_parallel_calls=tf.data.AUTOTUNE)
    count = int(ds.cardinality().numpy())
    return ds, count


def mobile_experiment(config: MobileExperimentConfig, workdir: str,
                      log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Evolves a mobile space, searches in it under the MAdds budget, trains the child, times it.

    Writes `<workdir>/config.json`, `learned_space.json`, `search.json`, `child/` (the
    `tfnas.children.training` run), `latency_lut.json` and `report.json`.

    Returns:
        The summary: learned space size, the searched genotype, its exact MAdds (counted on
        the built child, <= the budget), parameters, test accuracy after `train_epochs`,
        LiteRT latency (lookup-table prediction and whole-model measurement) and, for
        comparison at the same input, MobileNetV2's and EfficientNet-B0's MAdds, parameters
        and measured latency, plus their figures at 224x224 / 1000 classes.

    Raises:
        ValueError: if the budget is below the cheapest architecture; FileNotFoundError
            without the data.
    """
    import json
    import os

    from tfnas.algorithms.autospace import AutoSpaceConfig, evolve_mobile
    from tfnas.algorithms.runner import make_search_config
    from tfnas.budgets.counters import count_madds, count_params
    from tfnas.budgets.latency import LiteRTLatencyTable, model_latency
    from tfnas.budgets.losses import BudgetLoss, mobile_cost_table
    from tfnas.children.mobile_net import build_mobile_network
    from tfnas.genotypes import published_blocks
    from tfnas.supernets.mobile import MobileSupernet

    log = log or (lambda message: None)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config.to_dict(), f, indent=2)
    space, reference, size, classes = config.skeleton()
    start = time.perf_counter()
    data_options: dict[str, Any] = {}
    if config.dataset == "imagenet2012":
        train_ds, n = _imagenet_train_set(config.imagenet_manual_dir, size, config.max_train_examples)
        data_options = {"stats": IMAGENET_STATS, "flip": True}
        shape = (size, size, 3)
    else:
        train_ds, n, shape, classes = load_search_data(config.dataset, data_dir=config.data_dir,
                                                       max_train_examples=config.max_train_examples)
        size = shape[0]
    search = make_search_config(config.search_algorithm, "nb201", epochs=config.generation_epochs,
                                batch_size=config.batch_size, seed=config.seed)
    learned, records = evolve_mobile(
        search, AutoSpaceConfig(generations=config.generations, sample_size=config.sample_size, keep=config.keep,
                                seed=config.seed),
        space, reference, train_ds=train_ds, num_examples=n, input_shape=shape, num_classes=classes,
        dataset=config.dataset, budget_madds=config.budget_madds, mutation_range=config.mutation_range, log=log)
    evolve_seconds = time.perf_counter() - start
    with open(os.path.join(workdir, "learned_space.json"), "w", encoding="utf-8") as f:
        json.dump({**learned.to_dict(), "generations": records}, f, indent=2)
    log(f"learned space: {learned.num_architectures()} architectures ({evolve_seconds:.0f} s)")

    table = mobile_cost_table(learned, "madds", input_size=size, num_classes=classes)
    lut = LiteRTLatencyTable(os.path.join(workdir, "latency_lut.json"), runs=config.latency_runs)
    if config.latency_form == "none":
        budget = BudgetLoss(table, "hinge", target=config.budget_madds)
    else:  # the expected latency of the learned space's blocks, measured here
        budget = BudgetLoss(lut.cost_table(learned, input_size=size, num_classes=classes), config.latency_form,
                            target=config.latency_target_ms)
        log(f"latency term: {config.latency_form}, lookup table of {budget.table.num_decisions} slots "
            f"({budget.table.cost([0] * budget.table.num_decisions):.3f} ms for the first candidates)")
    supernet = MobileSupernet(learned, num_classes=classes, input_shape=shape, seed=config.seed)
    report = run_search(
        search.replace(epochs=config.search_epochs), supernet, train_ds=train_ds, num_examples=n,
        dataset=config.dataset, budget=budget, hard_budget=config.budget_madds, hard_table=table,
        data_options=data_options)
    genotype = supernet.export(report["choices"])
    with open(os.path.join(workdir, "search.json"), "w", encoding="utf-8") as f:
        json.dump({**genotype.to_dict(), "search": report}, f, indent=2)
    child = build_mobile_network(genotype, input_shape=shape, num_classes=classes)
    madds = count_madds(child)
    if madds != report["table_cost"] or madds > config.budget_madds:
        raise RuntimeError(f"Budget check failed: counted {madds}, table {report['table_cost']}, "
                           f"budget {config.budget_madds}.")
    log(f"searched: {genotype}  MAdds {madds / 1e6:.2f}M (budget {config.budget_madds / 1e6:.1f}M)")

    trained: dict[str, Any] = {}
    baselines: dict[str, Any] = {}
    if config.dataset != "imagenet2012":
        from tfnas.children.training import TrainConfig, train

        def train_child(g: BlockGenotype, folder: str) -> dict[str, Any]:
            return train(TrainConfig(genotype=g.to_string(), dataset=config.dataset, data_dir=config.data_dir,
                                     epochs=config.train_epochs, batch_size=128, learning_rate=0.05,
                                     auxiliary_weight=0.0, drop_path_rate=0.0,
                                     max_train_examples=config.max_train_examples, seed=config.seed),
                         os.path.join(workdir, folder), verbose=0)

        trained = train_child(genotype, "child")
        log(f"child trained {config.train_epochs} epochs: test accuracy {trained['test_accuracy']:.4f}")
        # The hand-designed networks at the searched network's MAdds, trained with the same recipe,
        # downsampling as much as the searched network (their earliest stride-2 blocks at stride 1,
        # the usual small-image adaptation: at 32x32 their ImageNet layout ends in a 1x1 map).
        for name, reference in (("mobilenet_v2", published_blocks.MOBILENET_V2),
                                ("efficientnet_b0", published_blocks.EFFICIENTNET_B0)):
            # BatchNorm momentum is part of the recipe: MobileNetV2's ImageNet 0.999 leaves the moving
            # statistics near their initial values after a short CIFAR run (measured: 49% train,
            # 10.00% test after 30 epochs), so every network gets the searched one's.
            reference = dataclasses.replace(reference.with_reduction(min(genotype.reduction, reference.reduction)),
                                            bn_momentum=genotype.bn_momentum)
            width, scaled, scaled_madds = width_for_madds(reference, madds, input_size=size, num_classes=classes)
            result = train_child(scaled, f"baseline_{name}")
            scaled_model = build_mobile_network(scaled, input_shape=shape, num_classes=classes)
            baselines[name] = {"width": width, "reduction": scaled.reduction, "genotype": scaled.to_string(),
                               "madds": scaled_madds,
                               "params": count_params(scaled_model).trainable,
                               "test_accuracy": result["test_accuracy"],
                               "litert_ms": model_latency(scaled_model, runs=config.latency_runs)["median_ms"]}
            log(f"{name} x{width:.3f} ({scaled_madds / 1e6:.2f}M MAdds) trained {config.train_epochs} epochs: "
                f"test accuracy {result['test_accuracy']:.4f}")

    predicted = lut.genotype_latency(genotype, input_size=size, num_classes=classes)

    def figures(g, side, n_classes):
        model = build_mobile_network(g, input_shape=(side, side, 3), num_classes=n_classes)
        return {"madds": count_madds(model), "params": count_params(model).trainable,
                "litert_ms": model_latency(model, runs=config.latency_runs)["median_ms"]}

    models = {"searched": genotype, "mobilenet_v2": published_blocks.MOBILENET_V2,
              "efficientnet_b0": published_blocks.EFFICIENTNET_B0}
    at_input = {name: figures(g, size, classes) for name, g in models.items()}
    at_224 = {name: figures(g, 224, 1000) for name, g in models.items()} if size != 224 else at_input
    summary = {
        "genotype": genotype.to_string(),
        "learned_space_size": learned.num_architectures(),
        "hand_space_size": space.num_architectures(),
        "budget_madds": config.budget_madds,
        "madds": madds,
        "params": count_params(child).trainable,
        "test_accuracy": trained.get("test_accuracy"),
        "train_epochs": config.train_epochs if trained else 0,
        "litert_ms_lookup": predicted,
        "search_term": ({"form": "hinge", "unit": "madds", "target": config.budget_madds}
                        if config.latency_form == "none" else
                        {"form": config.latency_form, "unit": "latency_ms", "target": config.latency_target_ms,
                         "lookup_ms_of_exported": budget.table.cost(report["choices"])}),
        "at_input": {"input_size": size, "num_classes": classes, **at_input},
        "baselines_equal_madds": baselines,
        "at_224": at_224,
        "evolve_seconds": evolve_seconds,
        "search_seconds": report["search_seconds"],
        "total_seconds": time.perf_counter() - start,
        "load_avg_1m": os.getloadavg()[0],
    }
    with open(os.path.join(workdir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return summary
