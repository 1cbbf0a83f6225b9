"""The mobile AutoSpace pipeline: evolve a MobileNet-like space, search in it under a MAdds
budget, train the child, time it on LiteRT (`launch.evolve_space --space=mobile`).

Built on `tfnas.algorithms.autospace` (the space's evolution) and
`tfnas.algorithms.mobile_search` (the budgeted search); kept apart from both so that neither
imports the other back.

References:
    - Zhou et al., AutoSpace, arXiv 2103.11833.
    - Sandler et al., MobileNetV2, arXiv 1801.04381.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from tfnas.algorithms.mobile_search import load_search_data, run_search, width_for_madds
from tfnas.budgets.losses import BudgetLoss
from tfnas.genotypes.block import BlockGenotype

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
    from tfnas.budgets.losses import mobile_cost_table
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
