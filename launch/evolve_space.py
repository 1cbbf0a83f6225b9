r"""AutoSpace: evolve a search space, search in it, report: `python -m launch.evolve_space --space=...`.

`--space=nb201`: evolves a population of NB201 cell motifs (whole cells: 4-node DAGs with an op
per edge), K of them in parallel per generation in a motif supernet trained by first-order
DARTS, and keeps the `--keep` fittest; they span the learned sub-space (per edge, the ops
they use). Then runs `--search_strategy` (PNAS by default, on the table's `--table_column`) over
`--strategy_seeds` seeds and `--search_algorithm` (DARTS- by default) for every `--seeds`
seed, each in the learned space and in the full space, looks every cell up in
`$TFNAS_DATA_DIR/nb201/nats_bench_tss_200ep.csv` and ends with one JSON line:
`{"members_cifar10": {"mean", "median", "best", "size"}, "full_space_cifar10": {...},
"strategy_in_learned": {"cifar10_mean", "cifar10_std", ...}, "strategy_in_full": {...},
"search_in_learned": {...}, "search_in_full": {...}, "motifs": [...], ...}`.
Defaults: 8 channels, 1 cell per stage, 16x16 images, 10,000 CIFAR-10 images, batch 64,
10 generations x 4 epochs of K = 4 motifs from a population of 8, keep 3
(about 14 minutes, 876 CPU-seconds, on these 2 cores). A rerun in the same `--workdir` with
the same evolution flags reuses the finished evolution (its `learned_space.json`), so an
interrupted run, or new `--seeds` / `--search_strategy` / `--strategy_*` flags, does not evolve again.

`--space=mobile`: evolves a learned mobile block space (per layer slot the `--keep` fittest
blocks) inside the reference network's skeleton, searches in it with budgeted GDAS
(`--budget_madds`, hard limit on the exported network), trains the found child briefly and
ends with one JSON line (genotype, MAdds, params, test accuracy, LiteRT latency on this CPU,
the same figures for MobileNetV2 and EfficientNet-B0 at the same input). `--preset=cifar`
(default) is the 2-core proxy (32x32 CIFAR-10, a narrow 5-stage skeleton). With
`--latency_form=proxyless --latency_target_ms=T` (or `fbnet`) the search prices the expected
LiteRT latency from a per-block lookup table measured on this CPU instead of MAdds, and
`--budget_madds` remains the hard limit. `--preset=imagenet`
is the ImageNet setting (ProxylessNAS skeleton, 224x224, `--budget_madds=500e6`, tfds
`imagenet2012` prepared from `--imagenet_manual_dir`), for real accelerators.

Both write `config.json`, `learned_space.json` and `report.json` in `--workdir`.

`--strategy` (auto, one_device, mirrored, multi_worker; `launch/_cluster.py`) is the
distribution, as in every launch script: the supernets, searches and child trainings are
built in its scope, so Keras's `fit` spreads each batch over its replicas (the bilevel steps
sum their gradients over replicas, `tfnas.algorithms.base`). Under `multi_worker` the chief
writes into `--workdir` and every other worker its own copy into `<workdir>/worker-<index>`.
The table look-ups and multi-trial strategies run on every worker. `--strategy=pnas` (or
another multi-trial strategy's name), this script's spelling before `--search_strategy`, is
still read as `--search_strategy` with a deprecation warning, for one release.
Errors print `error: ...` on stderr and exit with status 2.

Example (smoke size):
  python -m launch.evolve_space --space=nb201 --generations=1 --generation_epochs=1 \
      --search_epochs=1 --seeds=0 --channels=4 --image_size=8 --max_train_examples=256 \
      --workdir=runs/autospace_smoke
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from launch._cluster import legacy_value, strategy_from_flags, strategy_name

_SPACE = flags.DEFINE_enum("space", "nb201", ["nb201", "mobile"], "The space to evolve.")
_BUDGET_MADDS = flags.DEFINE_float(
    "budget_madds", None,
    "MAdds budget (nb201: of the 16-channel 5-cell 32x32 benchmark network, default none; mobile: of the "
    "searched network at its input size, default 500e6 imagenet / 3.5e6 cifar).",
)
_WORKDIR = flags.DEFINE_string("workdir", "runs/evolve_space", "Output folder.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Shared data folder; default $TFNAS_DATA_DIR.")
_DATASET = flags.DEFINE_string(
    "dataset", None,
    "Search data (default cifar10; imagenet2012 with --preset=imagenet). mobile: also digits, a folder of images "
    "with one sub-folder per class, or tfds:NAME[:CONFIG]; nb201: cifar10 or digits (the table is CIFAR-10's).")
_GENERATIONS = flags.DEFINE_integer("generations", None, "AutoSpace generations (default nb201 10, mobile 3).")
_GENERATION_EPOCHS = flags.DEFINE_integer("generation_epochs", None, "Supernet epochs per generation.")
_SAMPLE_SIZE = flags.DEFINE_integer("sample_size", None, "Candidates per decision in a generation's supernet (K).")
_KEEP = flags.DEFINE_integer("keep", None, "Candidates per decision kept in the learned space.")
_FITNESS = flags.DEFINE_enum(
    "fitness", None, ["perturbation", "alpha", "meco"],
    "nb201: motif fitness: alpha (default, the paper's K*softmax(alpha)), perturbation (each motif's share "
    "of the validation loss rise when it is taken out of the trained supernet, arXiv 2108.04392) or meco (each "
    "motif's share of the generation's summed MeCo score; no supernet is trained).")
_POPULATION_SIZE = flags.DEFINE_integer("population_size", None, "nb201: initial motifs (reference + random).")
_MUTATION_RATE = flags.DEFINE_float("mutation_rate", None, "nb201: probability a tournament winner is mutated.")
_SEARCH_STRATEGY = flags.DEFINE_string(
    "search_strategy", None, "nb201: multi-trial strategy run in the learned and the full space (default pnas).")
_STRATEGY_EVALUATIONS = flags.DEFINE_integer("strategy_evaluations", None, "nb201: the strategy's evaluations per run.")
_STRATEGY_SEEDS = flags.DEFINE_integer("strategy_seeds", None, "nb201: the strategy's runs per space.")
_TABLE_COLUMN = flags.DEFINE_enum(
    "table_column", None, ["cifar100", "cifar10", "imagenet16"],
    "nb201: the table column the strategy sees (default cifar100, transfer; cifar10 is a simulation).")
_SEARCH_ALGORITHM = flags.DEFINE_string("search_algorithm", None, "Search run in the learned space.")
_EVOLVE_ALGORITHM = flags.DEFINE_string(
    "evolve_algorithm", None, "nb201: algorithm training each generation's motif supernet (darts).")
_SEARCH_EPOCHS = flags.DEFINE_integer("search_epochs", None, "Epochs of each search in the learned/full space.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "nb201: seeds of the differentiable searches (empty: none).")
_CHANNELS = flags.DEFINE_integer("channels", 8, "nb201: supernet channels.")
_LAYERS = flags.DEFINE_integer("layers", 1, "nb201: cells per stage.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 16, "nb201: search image side.")
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer("max_train_examples", None, "First N training images.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Batch size of each part per step.")
_PRESET = flags.DEFINE_enum("preset", "cifar", ["cifar", "imagenet"], "mobile: the 2-core CIFAR-10 proxy or ImageNet.")
_TRAIN_EPOCHS = flags.DEFINE_integer("train_epochs", None, "mobile: epochs of the found child's training.")
_IMAGENET_MANUAL_DIR = flags.DEFINE_string(
    "imagenet_manual_dir", None, "mobile imagenet: folder with ILSVRC2012_img_{train,val}.tar (tfds manual_dir).")
_LATENCY_RUNS = flags.DEFINE_integer("latency_runs", 30, "mobile: timed LiteRT invocations per model.")
_LATENCY_FORM = flags.DEFINE_enum(
    "latency_form", "none", ["none", "proxyless", "fbnet"],
    "mobile: the search's differentiable term: none (the MAdds hinge) or the expected LiteRT latency "
    "from the per-block lookup table measured on this CPU, ProxylessNAS (additive, needs "
    "--latency_target_ms) or FBNet (multiplicative); --budget_madds stays the hard limit.")
_MUTATION_RANGE = flags.DEFINE_enum(
    "mutation_range", None, ["open", "space"],
    "mobile: open (default: candidates mutate beyond the preset's choices, to kernel 3-9, expansion 1-8, "
    "SE 0-0.5, relu/relu6/hswish/swish) or space (within the preset's choices).")
_LATENCY_TARGET_MS = flags.DEFINE_float("latency_target_ms", None, "mobile: ProxylessNAS reference latency (ms).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the evolution.")


def _set(overrides: dict, name: str, flag) -> None:
    if flag.value is not None:
        overrides[name] = flag.value


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.algorithms import autospace
    from tfnas.runs import STRATEGY_NAMES, task_workdir
    from tfnas.strategies import STRATEGIES

    try:
        old = legacy_value(STRATEGIES.names())  # --strategy=pnas: the multi-trial strategy, as before
        search_strategy = _search_strategy(old)
        if old is None and strategy_name() not in STRATEGY_NAMES:
            raise ValueError(f"--strategy must be one of {', '.join(STRATEGY_NAMES)} (the distribution; the "
                             f"multi-trial strategy is --search_strategy: {', '.join(STRATEGIES.names())}). "
                             f"Received: --strategy={strategy_name()!r}")
        strategy = strategy_from_flags("auto" if old else None)
        workdir = task_workdir(_WORKDIR.value, strategy)  # the chief's results, another worker's own copy
        overrides: dict = {}
        for name, flag in (("generation_epochs", _GENERATION_EPOCHS), ("sample_size", _SAMPLE_SIZE),
                           ("keep", _KEEP), ("search_algorithm", _SEARCH_ALGORITHM),
                           ("search_epochs", _SEARCH_EPOCHS), ("max_train_examples", _MAX_TRAIN_EXAMPLES),
                           ("batch_size", _BATCH_SIZE), ("budget_madds", _BUDGET_MADDS),
                           ("generations", _GENERATIONS)):
            _set(overrides, name, flag)
        if _SPACE.value == "nb201":
            try:
                seeds = tuple(int(s) for s in _SEEDS.value)
            except ValueError:
                raise ValueError(f"--seeds must be integers. Received: {_SEEDS.value}") from None
            for name, flag in (("evolve_algorithm", _EVOLVE_ALGORITHM), ("fitness", _FITNESS),
                               ("population_size", _POPULATION_SIZE), ("mutation_rate", _MUTATION_RATE),
                               ("strategy_evaluations", _STRATEGY_EVALUATIONS),
                               ("strategy_seeds", _STRATEGY_SEEDS), ("table_column", _TABLE_COLUMN)):
                _set(overrides, name, flag)
            if search_strategy is not None:
                overrides["strategy"] = search_strategy
            if _DATASET.value not in (None, "cifar10", "digits"):
                raise ValueError(f"--space=nb201 looks cells up in the CIFAR-10 table: --dataset must be cifar10 "
                                 f"(or digits for smoke runs). Received: {_DATASET.value!r}; use --space=mobile "
                                 f"to search your own data.")
            config = autospace.NB201ExperimentConfig(
                seeds=seeds, channels=_CHANNELS.value, layers=_LAYERS.value,
                image_size=_IMAGE_SIZE.value, dataset=_DATASET.value or "cifar10", data_dir=_DATA_DIR.value, seed=_SEED.value,
                **overrides)
            with strategy.scope():
                summary = autospace.nb201_experiment(config, workdir, log=lambda m: print(m, flush=True))
            _print_nb201_table(summary)
        else:
            from tfnas.algorithms import mobile_pipeline

            _set(overrides, "train_epochs", _TRAIN_EPOCHS)
            _set(overrides, "mutation_range", _MUTATION_RANGE)
            overrides.setdefault("generations", 3)
            config = mobile_pipeline.MobileExperimentConfig.preset(
                _PRESET.value, dataset=_DATASET.value, data_dir=_DATA_DIR.value,
                imagenet_manual_dir=_IMAGENET_MANUAL_DIR.value, latency_runs=_LATENCY_RUNS.value, seed=_SEED.value,
                latency_form=_LATENCY_FORM.value, latency_target_ms=_LATENCY_TARGET_MS.value, **overrides)
            with strategy.scope():
                summary = mobile_pipeline.mobile_experiment(config, workdir, log=lambda m: print(m, flush=True))
    except (ValueError, KeyError, FileNotFoundError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(summary))


def _search_strategy(old: str | None) -> str | None:
    """`--search_strategy`, or `old`, the multi-trial strategy of the deprecated `--strategy=NAME`.

    Raises:
        ValueError: if both are given.
    """
    if old is None:
        return _SEARCH_STRATEGY.value
    if _SEARCH_STRATEGY.present:
        raise ValueError(f"--strategy={old} is the deprecated spelling of --search_strategy: pass only "
                         f"--search_strategy (--strategy is the distribution: auto, one_device, mirrored, multi_worker).")
    print(f"warning: --strategy={old} naming the multi-trial strategy is deprecated and will be removed; use "
          f"--search_strategy={old} (--strategy is the distribution: auto, one_device, mirrored, multi_worker).",
          file=sys.stderr)
    return old


def _print_nb201_table(summary: dict) -> None:
    m, f = summary["members_cifar10"], summary["full_space_cifar10"]
    print("NAS-Bench-201 CIFAR-10 (200-epoch test accuracy, %)")
    for motif in summary["motifs"]:
        print(f"  kept motif {motif['cell']}  fitness {motif['fitness']:.3f}  table {motif['cifar10']:.2f}")
    print(f"  learned space ({m['size']} cells): mean {m['mean']:.2f}  median {m['median']:.2f}  best {m['best']:.2f}")
    print(f"  full space ({f['size']} cells):  mean {f['mean']:.2f}  median {f['median']:.2f}  best {f['best']:.2f}"
          "  (published: median 90.75, best 94.37)")
    learned, full = summary["strategy_in_learned"], summary["strategy_in_full"]
    recipe = f"{learned['strategy']}, {learned['evaluations']} evaluations on the {learned['column']} column"
    print(f"  strategy in learned space: {learned['cifar10_mean']:.2f} +- {learned['cifar10_std']:.2f}  ({recipe})")
    print(f"  strategy in full space:    {full['cifar10_mean']:.2f} +- {full['cifar10_std']:.2f}")
    if "search_in_learned" in summary:
        learned, full = summary["search_in_learned"], summary["search_in_full"]
        print(f"  search in learned space: {learned['cifar10_mean']:.2f} +- {learned['cifar10_std']:.2f}")
        print(f"  search in full space:    {full['cifar10_mean']:.2f} +- {full['cifar10_std']:.2f}"
              "  (published DARTS- 93.80 +- 0.40, GDAS 93.61, DARTS 54.30)")


if __name__ == "__main__":
    app.run(main)
