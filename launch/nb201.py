r"""NAS-Bench-201 benchmark: search with several algorithms and seeds, look the cells up.

`python -m launch.nb201 --algorithms=darts,darts_minus,gdas,pc_darts --seeds=0,1,2 --epochs=N`
searches on CIFAR-10 in the NAS-Bench-201 space (`tfnas.algorithms.runner.search`, one
workdir per algorithm and seed: `<workdir>/<algorithm>/seed<k>`, each resumable), looks
every found cell up in `$TFNAS_DATA_DIR/nb201/nats_bench_tss_200ep.csv`
(`tfnas.benchmarks.NB201Table`) and prints:

- one line per search: algorithm, seed, the found cell, its CIFAR-10 / CIFAR-100 /
  ImageNet16-120 200-epoch test accuracy, search seconds;
- the summary table: per algorithm the mean +- std over seeds on the three datasets next to
  the published numbers (DARTS 54.30, GDAS 93.61, PC-DARTS 93.41, DARTS- 93.80, optimum 94.37);
- as its LAST line one JSON object keyed by algorithm:
  `{"darts_minus": {"cells": [...], "cifar10_mean": .., "cifar10_std": .., "cifar100_mean": ..,
  "imagenet16_mean": .., "search_seconds": .., "cifar10_by_epoch": [..],
  "parameter_free_by_epoch": [..]}, ...}` (`search_seconds`: mean wall time of one seed's
  search, resumed epochs included; the two `_by_epoch` lists trace the search: the cell
  derived at the end of each epoch, looked up, and its count of parameter-free ops of 6,
  mean over seeds; they show when and how fast a search drifts toward skip connections).

Recipes: every algorithm runs at its paper's recipe for this benchmark (its `nb201` preset
where it has one, else its CIFAR preset), scaled only where the CPU proxy forces it: the data
(`--max_train_examples=50000`: 25,000 images for the weights, 25,000 for the architecture, as
the paper) and the network (the NB201 supernet with `--channels=8` and `--layers=1` cell per
stage, the paper 16 and 5; CIFAR-10 resized to `--image_size=16`, paper 32). Epochs and batch
size are each algorithm's: DARTS and DARTS2 the NB201 benchmark's DARTS configuration (50
epochs, batch 64, weight decay 5e-4, Nesterov), DARTS- 50 epochs at batch 64, GDAS 240 epochs
at batch 64 (its reference configuration), PC-DARTS 50 epochs at batch 256. `--epochs` and
`--batch_size` override them for every algorithm. The recipe actually run is printed under
the table, one line per algorithm, and is in the JSON (`recipe`). The data budget matters more than the network here: at 10,000 images (78 steps
an epoch) DARTS- collapsed on 1 seed of 3 (78.63 +- 17.30 over seeds 0-2); at the default
50,000 none of 3 did (91.20 +- 2.18).

Measured cost of one seed on these 2 cores, machine otherwise idle: DARTS- 1,571 s (26
minutes) at 50 epochs, batch 64; GDAS's 240 epochs take about 5x its 50-epoch time; first-order DARTS about the same, GDAS and PC-DARTS less;
second-order DARTS about 2x DARTS, so over the bound: give it fewer images or epochs.
`--max_train_examples=10000` takes 290-365 s for 50 epochs (a quick check).

Scale up on real hardware with `--channels=16 --layers=5 --image_size=32` (the NB201
paper's network).

ROME is not offered here: its sampling keeps exactly two inputs per node, which the NB201
cell (every edge kept) does not have.

`--compare` runs multi-trial strategies and differentiable searches under one budget per seed
(`tfnas.strategies`): `--strategies=random,evolution,pnas,darts_minus --evaluator=table|train|supernet|scorer
--budget_evaluations=N --num_seeds=K` (or `--budget_hours`). Multi-trial strategies score cells
with the evaluator (`table`: the `--table_column` the strategies see, CIFAR-100 by default so
that they never see the CIFAR-10 column they are judged on; `supernet`: the accuracy with
inherited weights of a SPOS supernet (arXiv 1904.00420) trained once in
`<workdir>/spos_supernet` at the proxy flags of the differentiable searches (resumable), on
`--proxy_val_examples` images of the split's architecture half, its training time added to
every run's cost; `train`: standalone training at
the `--channels/--layers/--image_size/--proxy_*` proxy, scored on held-out training images,
each result kept in `<workdir>/train_evaluations.jsonl` so a rerun resumes and a cell met
again costs its recorded seconds without training; `scorer`: a training-free `--scorer`
(`naswot` by default, arXiv 2006.04647) at the NB201 network, zero-cost mode);
differentiable ones run `runner.search` at the flags above. `--learned_space=FILE` (the
`learned_space.json` of `launch.evolve_space`) makes every strategy and search run inside that
sub-space instead of the full space. `--strategy` (auto, one_device, mirrored, multi_worker)
distributes the differentiable searches and the SPOS supernet's training (only the chief writes
`compare.json` and `compare.png`). `--warm_start_scorer=NAME` (`--warm_start_cells`,
`--warm_start_climb`) starts evolution's population and local search's climb from the best
cells of a training-free scorer (arXiv 2101.08134), its cost charged to every run; with the
climb, from the scorer's own local optimum. It prints per strategy the found
cell's CIFAR-10 test accuracy (table, 200 epochs) mean +- std over seeds, the rank
percentile, evaluations and hours of this machine per seed; writes `<workdir>/compare.png`
(best-so-far accuracy against cost) and `<workdir>/compare.json`; and prints as its LAST line
`{strategy: {"mean": .., "std": .., "cpu_hours": .., "percentile": .., "evaluations": ..,
"seeds": .., "cells": [..]}}`.

Errors (unknown algorithm, missing data or table, corrupt checkpoint, NaN) print
`error: ...` on stderr and exit with status 2.

Example (a smoke-size run):
  python -m launch.nb201 --algorithms=darts_minus --seeds=0 --epochs=1 --channels=4 \
      --max_train_examples=256 --image_size=8 --workdir=runs/nb201_smoke
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from launch._cluster import strategy_from_flags

NB201_ALGORITHMS = ("darts", "darts2", "darts_minus", "beta_darts", "pc_darts", "gdas", "gdas_reference", "bnas")

_ALGORITHMS = flags.DEFINE_list(
    "algorithms", ["darts", "darts_minus", "gdas", "pc_darts"],
    f"Algorithms to run, from {', '.join(NB201_ALGORITHMS)}.",
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (one search per algorithm and seed).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/nb201", "Parent folder of the searches' workdirs.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Shared data folder (cifar10/ and nb201/); default $TFNAS_DATA_DIR."
)
_DATASET = flags.DEFINE_enum(
    "dataset", "cifar10", ["cifar10", "digits"], "Search data (the benchmark is CIFAR-10; digits for smoke tests)."
)
_EPOCHS = flags.DEFINE_integer(
    "epochs", None, "Search epochs of every algorithm (default: each algorithm's NB201 recipe; see the docstring)."
)
_CHANNELS = flags.DEFINE_integer("channels", 8, "Initial supernet channels (paper 16).")
_LAYERS = flags.DEFINE_integer("layers", 1, "Cells per stage (paper 5).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 16, "Image side the search sees (paper 32).")
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer(
    "max_train_examples", 50000, "First N CIFAR-10 training images (split 50/50); paper 50000."
)
_BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", None, "Global batch size of each part per step (default: each algorithm's recipe; 64 for --compare's proxy)."
)
_VERBOSE = flags.DEFINE_integer("verbose", 1, "Keras progress verbosity of each search.")

# --compare: multi-trial strategies (and differentiable searches) under one budget.
_COMPARE = flags.DEFINE_bool(
    "compare", False, "Compare --strategies under one budget per seed instead of running --algorithms."
)
_STRATEGIES = flags.DEFINE_list(
    "strategies", ["random", "evolution", "pnas"],
    "With --compare: multi-trial strategies (random, evolution, pnas) and differentiable algorithms "
    f"({', '.join(NB201_ALGORITHMS)}), compared on the same seeds.",
)
_EVALUATOR = flags.DEFINE_enum(
    "evaluator", "table", ["table", "train", "supernet", "scorer"],
    "With --compare: how multi-trial strategies score a cell: the NB201 table (benchmark mode), "
    "standalone training at the proxy (real mode), a trained supernet (one-shot mode), or a "
    "training-free scorer (zero-cost mode, --scorer).",
)
_SCORER = flags.DEFINE_enum(
    "scorer", "naswot", ["params", "synflow", "naswot", "grad_norm", "zico", "meco"],
    "With --evaluator=scorer: the training-free scorer, at the NB201 network (16 channels, 5 cells per "
    "stage, 32x32, batch 64: the settings of launch.rank's table).",
)
_WARM_START_SCORER = flags.DEFINE_enum(
    "warm_start_scorer", None, ["params", "synflow", "naswot", "grad_norm", "zico", "meco"],
    "With --compare: start the strategies that can (evolution, local) from the best of --warm_start_cells random "
    "cells by this training-free scorer (zero-cost warm-up, arXiv 2101.08134); its cost is charged to every run.",
)
_WARM_START_CELLS = flags.DEFINE_integer("warm_start_cells", 100, "With --warm_start_scorer: random cells it scores.")
_WARM_START_CLIMB = flags.DEFINE_bool(
    "warm_start_climb", False,
    "With --warm_start_scorer: also hill-climb the scorer from the best of those cells to its local optimum "
    "(every neighbour scored and charged), which then leads the warm start.")
_TABLE_COLUMN = flags.DEFINE_enum(
    "table_column", "cifar100", ["cifar10", "cifar100", "imagenet16-120"],
    "With --evaluator=table: the 200-epoch test-accuracy column the strategies see; found cells are "
    "judged on cifar10 (cifar10 here is a simulation with a perfect evaluator, not a search result).",
)
_TABLE_NOISE = flags.DEFINE_float("table_noise", 0.0, "With --evaluator=table: Gaussian noise std on each score.")
_SECONDS_PER_EVALUATION = flags.DEFINE_float(
    "seconds_per_evaluation", 0.0,
    "With --evaluator=table: the declared cost of one evaluation in seconds (e.g. the train evaluator's).",
)
_BUDGET_EVALUATIONS = flags.DEFINE_integer("budget_evaluations", 100, "With --compare: evaluations per run.")
_BUDGET_HOURS = flags.DEFINE_float(
    "budget_hours", None, "With --compare: cost per run in hours of this machine (with or instead of evaluations)."
)
_NUM_SEEDS = flags.DEFINE_integer(
    "num_seeds", 3, "With --compare: seeds 0..K-1 for every strategy (an explicit --seeds list overrides it).")
_LEARNED_SPACE = flags.DEFINE_string(
    "learned_space", None,
    "With --compare: search inside this learned sub-space (launch.evolve_space's learned_space.json) instead of "
    "the full space, every strategy and differentiable search alike.")
_PROXY_EPOCHS = flags.DEFINE_integer("proxy_epochs", 10, "With --evaluator=train: epochs per cell.")
_PROXY_TRAIN_EXAMPLES = flags.DEFINE_integer(
    "proxy_train_examples", 5000, "With --evaluator=train: training images per cell."
)
_PROXY_VAL_EXAMPLES = flags.DEFINE_integer(
    "proxy_val_examples", 1000,
    "With --evaluator=train or supernet: held-out training images that score a cell.",
)


RECIPES: dict[str, str] = {}


def _run_searches(algorithms: list[str], seeds: list[int], table, learned_space=None,
                  strategy=None) -> dict[str, list[dict]]:
    """Runs the differentiable searches (one resumable workdir per algorithm and seed), in
    `learned_space` when given."""
    from tfnas.algorithms.config import recipe_text
    from tfnas.algorithms.runner import make_search_config, search

    results: dict[str, list[dict]] = {}
    for algorithm in algorithms:
        results[algorithm] = []
        for seed in seeds:
            config = make_search_config(
                algorithm, "nb201", epochs=_EPOCHS.value, batch_size=_BATCH_SIZE.value,
                channels=_CHANNELS.value, layers=_LAYERS.value, seed=seed,
            )
            RECIPES[algorithm] = recipe_text(config)
            workdir = os.path.join(_WORKDIR.value, algorithm, f"seed{seed}")
            print(f"== {algorithm}, seed {seed}: {workdir}", flush=True)
            report = search(
                config, space="nb201", dataset=_DATASET.value, workdir=workdir, data_dir=_DATA_DIR.value,
                max_train_examples=_MAX_TRAIN_EXAMPLES.value, image_size=_IMAGE_SIZE.value,
                verbose=_VERBOSE.value, learned_space=learned_space, strategy=strategy,
            )
            entry = table.lookup(report["genotype"])
            print(f"   {report['genotype']}  C10 {entry.cifar10:.2f}  C100 {entry.cifar100:.2f}  "
                  f"IN16 {entry.imagenet16:.2f}  ({report['search_seconds']:.0f} s)", flush=True)
            results[algorithm].append(report)
    return results


def _setting() -> str:
    return (f"{_IMAGE_SIZE.value}x{_IMAGE_SIZE.value} images, {_CHANNELS.value} channels, "
            f"{_LAYERS.value} cell(s) per stage, {_MAX_TRAIN_EXAMPLES.value} training images")


def _print_recipes() -> None:
    if RECIPES:
        print("recipes run (the paper rows above are at the papers' full network and data):")
        for algorithm, text in RECIPES.items():
            print(f"  {algorithm:<12} {text}")


def _compare(table, strategy=None) -> dict:
    """The --compare mode: returns the JSON summary (after printing the table)."""
    from tfnas import strategies as strategies_lib
    from tfnas.strategies import compare

    names = [n.strip() for n in _STRATEGIES.value if n.strip()]
    known = set(strategies_lib.STRATEGIES.names()) | set(NB201_ALGORITHMS)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"--strategies must name strategies from {', '.join(sorted(known))}. "
                         f"Received: {unknown or names}")
    if _NUM_SEEDS.value < 1:
        raise ValueError(f"--num_seeds must be >= 1. Received: {_NUM_SEEDS.value}")
    seeds = list(range(_NUM_SEEDS.value))
    if _SEEDS.present:  # an explicit list (e.g. the one seed a run still lacks) overrides the count
        try:
            seeds = [int(s) for s in _SEEDS.value]
        except ValueError:
            raise ValueError(f"--seeds must be integers. Received: {_SEEDS.value}") from None
    budget = strategies_lib.Budget(
        evaluations=_BUDGET_EVALUATIONS.value,
        seconds=None if _BUDGET_HOURS.value is None else 3600.0 * _BUDGET_HOURS.value,
    )
    multi = {n: strategies_lib.make_strategy(n) for n in names if n in strategies_lib.STRATEGIES}
    if _WARM_START_SCORER.value:
        from tfnas.ranking.scorers import ProxyConfig as ScorerProxy, ScoringContext

        warm = strategies_lib.WarmStart(strategies_lib.ScorerEvaluator(
            _WARM_START_SCORER.value, ScoringContext(ScorerProxy(), data_dir=_DATA_DIR.value)), _WARM_START_CELLS.value,
            climb=_WARM_START_CLIMB.value)
        for strategy in multi.values():
            if strategy.supports_warm_start:
                strategy.with_warm_start(warm)
        climbed = ", then a climb to the scorer's local optimum" if warm.climb else ""
        print(f"warm start: the best of {warm.cells} random cells by {_WARM_START_SCORER.value}{climbed} "
              f"(for {', '.join(n for n, st in multi.items() if st.supports_warm_start) or 'no strategy here'})")
    if _EVALUATOR.value == "table":
        def make_evaluator(seed: int):
            return strategies_lib.TableEvaluator(
                _TABLE_COLUMN.value, noise_std=_TABLE_NOISE.value, seconds_per_evaluation=_SECONDS_PER_EVALUATION.value,
                seed=seed, table=table,
            )
        print(make_evaluator(0).describe("cifar10"))
    elif _EVALUATOR.value == "train":
        proxy = strategies_lib.ProxyConfig(
            dataset=_DATASET.value, data_dir=_DATA_DIR.value, channels=_CHANNELS.value, layers=_LAYERS.value,
            image_size=_IMAGE_SIZE.value, train_examples=_PROXY_TRAIN_EXAMPLES.value,
            val_examples=_PROXY_VAL_EXAMPLES.value, epochs=_PROXY_EPOCHS.value, batch_size=_BATCH_SIZE.value or 64,
        )
        os.makedirs(_WORKDIR.value, exist_ok=True)
        # One per process (the data loads once); results cached in the workdir, so a rerun resumes.
        evaluator = strategies_lib.TrainEvaluator(
            proxy, cache_path=os.path.join(_WORKDIR.value, "train_evaluations.jsonl"))

        def make_evaluator(seed: int):
            return evaluator
        print(f"strategies see the held-out accuracy of standalone training at the proxy {proxy}")
    elif _EVALUATOR.value == "scorer":
        from tfnas.ranking.scorers import ProxyConfig as ScorerProxy, ScoringContext

        context = ScoringContext(ScorerProxy(), data_dir=_DATA_DIR.value)
        evaluator = strategies_lib.ScorerEvaluator(_SCORER.value, context)

        def make_evaluator(seed: int):
            return evaluator
        print(f"strategies see the training-free score {_SCORER.value} of each cell's network at initialisation "
              f"({context.proxy}); each run is charged the wall seconds of every cell it scores")
    else:
        evaluator = _one_shot_evaluator(strategy)

        def make_evaluator(seed: int):
            return evaluator
        print(f"strategies see the held-out accuracy of each cell with the weights it inherits from a SPOS "
              f"supernet trained {evaluator.trained_epochs} epochs ({_setting()}), BatchNorm statistics per "
              f"cell; the supernet's training ({evaluator.training_hours:.3f} h) is added to every run's cost")
    learned = None
    if _LEARNED_SPACE.value:
        from tfnas.algorithms.autospace import load_learned_space

        learned = load_learned_space(_LEARNED_SPACE.value)
        print(f"searching inside the learned space {_LEARNED_SPACE.value} ({learned.size} cells): {learned.edge_ops}")
    results = compare.compare_strategies(multi, make_evaluator, budget, seeds,
                                         log=lambda line: print(line, flush=True),
                                         edge_ops=None if learned is None else learned.edge_ops)
    if _EVALUATOR.value == "supernet":  # One-shot mode pays for the supernet once per run.
        for runs in results.values():
            for run in runs:
                run["cost_seconds"] += 3600.0 * evaluator.training_hours
    differentiable = [n for n in names if n not in multi]
    if differentiable:
        compare.add_search_reports(results, _run_searches(differentiable, seeds, table, learned, strategy))
    results = {n: results[n] for n in names}
    summary = compare.summarize(results, table)
    from tfnas.benchmarks.nb201 import PUBLISHED

    published = {}
    for name in names:
        if name in PUBLISHED:
            p = PUBLISHED[name]
            published[name] = f"(paper {p.cifar10:.2f}, arXiv {p.arxiv})"
    print(compare.format_summary(summary, published))
    _print_recipes()
    for name in differentiable:
        summary[name]["recipe"] = RECIPES[name]
    budget_text = f"{budget.evaluations} evaluations" + (f" or {_BUDGET_HOURS.value} h" if budget.seconds else "")
    print(f"(budget per run: {budget_text}; seeds {seeds}; table optimum {table.best().cifar10:.2f}; "
          f"differentiable searches at: {_setting()})")
    os.makedirs(_WORKDIR.value, exist_ok=True)
    from tfnas.runs import is_chief, write_json

    if is_chief(strategy):  # the other workers of a cluster write nothing here
        write_json(os.path.join(_WORKDIR.value, "compare.json"), {"summary": summary, "runs": results})
        png = compare.plot_comparison(results, table, os.path.join(_WORKDIR.value, "compare.png"))
        print(f"wrote {png}")
    return summary


def _one_shot_evaluator(strategy=None):
    """Trains (or resumes) the SPOS supernet in `<workdir>/spos_supernet`; its inherited-weight evaluator."""
    from tfnas import strategies as strategies_lib
    from tfnas.algorithms.autospace import heldout_batches
    from tfnas.algorithms.config import recipe_text
    from tfnas.algorithms.runner import load_training_set, make_search_config, restore_search, search

    config = make_search_config("spos", "nb201", epochs=_EPOCHS.value, batch_size=_BATCH_SIZE.value,
                                channels=_CHANNELS.value, layers=_LAYERS.value, seed=0)
    workdir = os.path.join(_WORKDIR.value, "spos_supernet")
    print(f"== SPOS supernet ({recipe_text(config)}): {workdir}", flush=True)
    report = search(config, space="nb201", dataset=_DATASET.value, workdir=workdir, data_dir=_DATA_DIR.value,
                    max_train_examples=_MAX_TRAIN_EXAMPLES.value, image_size=_IMAGE_SIZE.value, verbose=_VERBOSE.value,
                    strategy=strategy)
    train_ds, _, _, _ = load_training_set(_DATASET.value, _DATA_DIR.value, _MAX_TRAIN_EXAMPLES.value, _IMAGE_SIZE.value)
    batches = heldout_batches(train_ds, split_seed=config.seed, examples=_PROXY_VAL_EXAMPLES.value,
                              dataset=_DATASET.value)
    evaluator = strategies_lib.SupernetEvaluator(restore_search(workdir).supernet, batches)
    evaluator.trained_epochs = config.epochs
    evaluator.training_hours = report["search_seconds"] / 3600.0
    return evaluator


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.benchmarks import NB201Table, format_search_results, summarize_searches
    from tfnas.runs import CorruptCheckpointError, NonFiniteLossError

    try:
        strategy = strategy_from_flags()  # the differentiable searches' (and the SPOS supernet's)
        table = NB201Table(data_dir=_DATA_DIR.value)  # Fails early when the table is missing.
        if _COMPARE.value:
            print(json.dumps(_compare(table, strategy)))
            return
        algorithms = [a.strip() for a in _ALGORITHMS.value if a.strip()]
        unknown = [a for a in algorithms if a not in NB201_ALGORITHMS]
        if unknown or not algorithms:
            raise ValueError(
                f"--algorithms must name algorithms from {', '.join(NB201_ALGORITHMS)}. Received: {unknown or algorithms}"
            )
        try:
            seeds = [int(s) for s in _SEEDS.value]
        except ValueError:
            raise ValueError(f"--seeds must be integers. Received: {_SEEDS.value}") from None
        if not seeds:
            raise ValueError("--seeds must name at least one seed.")
        results = _run_searches(algorithms, seeds, table, strategy=strategy)
    except (ValueError, KeyError, FileNotFoundError, CorruptCheckpointError, NonFiniteLossError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    print(format_search_results(results, table))
    _print_recipes()
    print(f"(setting: {_setting()}, seeds {seeds})")
    summary = summarize_searches(results, table)
    for algorithm in summary:
        summary[algorithm]["recipe"] = RECIPES[algorithm]
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)
