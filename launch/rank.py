r"""NAS-Bench-201 ranking benchmark: how well a scorer orders cells against the table.

`python -m launch.rank --space=nb201 --scorer=NAME --num_cells=N --seed=S` draws a fixed
sample of N distinct NAS-Bench-201 cells (`tfnas.ranking.sample_indices`: numpy
`Generator(seed)` over table indices, the same sample for every scorer given the same
seed), scores each with the scorer (`tfnas.ranking.SCORERS`: `params`, `synflow`,
`naswot`, `grad_norm`, `zico`, `meco`; `standalone` or `--reference`: standalone training; `spos`:
the inherited weights of a SPOS supernet, arXiv 1904.00420, trained first and resumably in
`<workdir>/spos_supernet` (`--supernet_algorithm=magic_t | magic_a | magic_at`: MAGIC-T / -A / -AT, arXiv
2108.12821, in `<workdir>/<algorithm>_supernet`) at the proxy for `--supernet_epochs` on
`--supernet_train_examples` images, half for its weights, the other half scoring the cells,
its training wall seconds in the JSON as `supernet_training_seconds`; `alpha`: the
architecture weights of a differentiable search, `--supernet_algorithm` (darts_minus by
default) trained the same way in `<workdir>/<algorithm>_supernet`, a cell scored by the summed
log-probability of its ops; `dna`: DNA's block-wise distillation, arXiv 1911.13053 (`tfnas.ranking.dna`): a
teacher (the ResNet cell, `--teacher_layers` cells per stage, `--teacher_epochs`) and the three block
students (`--supernet_epochs`, on the first half of `--supernet_train_examples`) trained resumably in
`<workdir>/dna` (`--teacher=ZOO_NAME` loads a zoo teacher instead of training one), a cell scored by minus its summed relative block loss on the next `--val_examples`
images; `ensemble`: the mean rank of the `--members` scorers, read from
their `<workdir>/<member>_scores.json` of the same sample, its `cpu_seconds` and
`supernet_training_seconds` the members' sums) and
compares the scores with the table's 200-epoch CIFAR-10 test accuracy. It prints:

- the setting, the Kendall tau, Spearman rho and top-10% precision (the fraction of the
  scorer's top 10% of the sample in the table's top 10%), the CPU seconds of scoring
  (process CPU time of all threads plus children), and the published tau where there is
  one (ZiCo arXiv 2301.11300 Tab. 1);
- as its LAST line one JSON object: `{"scorer", "label", "kendall_tau", "spearman_rho",
  "top10_precision", "cpu_seconds", "wall_seconds", "process_cpu_seconds", "num_cells",
  "seed", "degenerate", "proxy": {...}, "scorer_settings": {...}, "cpu",
  "cpu_vector_extensions", "kernel_library", "published_kendall_tau", "resumed_cells"}`.

The per-cell scorers (the training-free ones and `standalone`) append each cell's score and
seconds to `<workdir>/<label>_scores.partial.jsonl` as they go: a rerun of an interrupted run
with the same flags reads those cells back instead of scoring them again (their recorded
seconds are added to the cost; `resumed_cells` in the JSON), and the file is removed when the
run completes. It writes `<workdir>/<label>_scores.json` (per cell: index, arch, score, cifar10; a
degenerate `-inf` score is null) and `<workdir>/<label>_scatter.png`, where the label (also
in the JSON) is the scorer's name, suffixed with `_<supernet_algorithm>` when that is not the
scorer's default (e.g. `spos_magic_t`, `alpha_gdas`): the name an ensemble member goes by.

The training-free scorers build each cell's network at the proxy (`--channels=16
--layers=5 --image_size=32`: the NAS-Bench-201 network; smaller for quick runs) from
`--seed`'s initialisation, on the first `--batch_size` CIFAR-10 training images (ZiCo two
minibatches). `--reference` trains every cell standalone for `--epochs` on the first
`--max_train_examples` training images and scores it on the next `--val_examples` (never
the test split): slow at full sample size.

`--strategy` (auto, one_device, mirrored, multi_worker; `launch/_cluster.py`) distributes the
supernet searches of `spos` and `alpha` (`tfnas.algorithms.runner.search`: each replica on its
rows of the one-device batch). The scoring itself, and DNA's teacher and students, run in this
process on its default device (the first GPU if any), not in the strategy's scope: the scorers
clear the Keras session between cells, which ends any scope. Under `multi_worker` the scorers
that rate cell by cell (every one but `dna`, `alpha`, `spos` and `ensemble`), and `dna`, split the sample:
task k of n scores the cells `i % n == k` (each keeping its own resumable
`<label>_scores.partial.jsonl` in its task folder) and the scores are summed across the cluster
(an all-reduce), so n workers take about 1/n of the time; `cpu_seconds` is then the cluster's
total. `dna` splits its rating the same way (every worker trains the same teacher and students
from the same seeds, then rates the cells `i % n == k` of each block). The others score the
whole sample on every worker (the same seeds: the same scores).
Only the chief writes the scores JSON and the PNG into `--workdir`; every other worker keeps
its supernet checkpoints in `<workdir>/<algorithm>_supernet/worker-<index>` (the runner's rule),
its partial scores in `<workdir>/worker-<index>` and its DNA run in `<workdir>/worker-<index>/dna`.

Errors (unknown scorer, --num_cells out of range, missing table or data) print
`error: ...` on stderr and exit with status 2.

Example (a smoke-size run):
  python -m launch.rank --space=nb201 --scorer=synflow --num_cells=6 --channels=4 --layers=1 \
      --image_size=8 --batch_size=8 --workdir=runs/rank_smoke
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from launch._cluster import strategy_from_flags

_SPACE = flags.DEFINE_enum("space", "nb201", ["nb201"], "Search space whose benchmark table ranks the cells.")
_SCORER = flags.DEFINE_string(
    "scorer", "synflow", "Scorer: params, synflow, naswot, grad_norm, zico, meco, or standalone (= --reference)."
)
_REFERENCE = flags.DEFINE_bool(
    "reference", False, "Score by standalone training at the proxy (the scorer `standalone`)."
)
_NUM_CELLS = flags.DEFINE_integer("num_cells", 200, "Cells in the sample (1..15625).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the cell sample and of every network's initialisation.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/rank", "Folder for the scores JSON and the scatter PNG.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Shared data folder (cifar10/ and nb201/); default $TFNAS_DATA_DIR."
)
_CHANNELS = flags.DEFINE_integer("channels", 16, "Proxy network: initial channels (NB201: 16).")
_LAYERS = flags.DEFINE_integer("layers", 5, "Proxy network: cells per stage (NB201: 5).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 32, "Proxy network: image side (CIFAR-10: 32).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Images per minibatch (and training batch of --reference).")
_EPOCHS = flags.DEFINE_integer("epochs", 5, "With --reference: training epochs per cell.")
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer(
    "max_train_examples", 5000, "With --reference: training images per cell (the first of the split)."
)
_VAL_EXAMPLES = flags.DEFINE_integer(
    "val_examples", 1000, "With --reference or --scorer=spos: held-out training images that score a cell."
)
_SUPERNET_EPOCHS = flags.DEFINE_integer(
    "supernet_epochs", 50, "With --scorer=spos or alpha: the supernet's training epochs; with dna: the block "
    "students' (paper: 20).")
#: Per scorer: the searches whose trained supernet it reads, the first the default.
SUPERNET_ALGORITHMS = {"alpha": ("darts_minus", "darts", "pc_darts", "gdas"), "spos": ("spos", "magic_t", "magic_a", "magic_at", "spos_distinct")}
_SUPERNET_ALGORITHM = flags.DEFINE_string(
    "supernet_algorithm", None,
    "With --scorer=alpha: the differentiable search (darts_minus (default), darts, pc_darts, gdas) whose "
    "architecture weights rate the cells; with --scorer=spos: the single-path training (spos (default); "
    "MAGIC, arXiv 2108.12821: magic_t, adjacent paths differ in one op; magic_a, alignment to an anchor child; "
    "magic_at, both; spos_distinct, paths drawn over non-isomorphic cells, arXiv 2008.03064). Its paper recipe, at the proxy flags and --supernet_epochs.")
_ANCHOR_WEIGHT = flags.DEFINE_float(
    "anchor_weight", None, "With --supernet_algorithm=magic_a or magic_at: the weight of MAGIC-A's alignment "
    "loss (default: the config's, 1.0).")
_MEMBERS = flags.DEFINE_list(
    "members", [], "With --scorer=ensemble: the member scorers whose <workdir>/<member>_scores.json (same sample) "
    "are combined by mean rank, e.g. zico,naswot,params,spos.")
_TEACHER_EPOCHS = flags.DEFINE_integer("teacher_epochs", 30, "With --scorer=dna: the teacher's training epochs.")
_TEACHER_LAYERS = flags.DEFINE_integer(
    "teacher_layers", 2, "With --scorer=dna: the teacher's cells per stage (the students have --layers).")
_TEACHER = flags.DEFINE_string(
    "teacher", None, "With --scorer=dna: zoo weights of a trained teacher to load instead of training one, e.g. "
    "nb201_resnet.c8_l2_s16_cifar10 (the seed-0 teacher at the 8-channel, 16x16 proxy with --teacher_layers=2).")
_DNA_SEARCH = flags.DEFINE_bool(
    "dna_search", False, "With --scorer=dna: also run DNA's search: rate every distinct NB201 cell (6,466) with "
    "the block students and return the lowest summed loss within --budget_params (JSON key dna_search).")
_BUDGET_PARAMS = flags.DEFINE_float(
    "budget_params", None, "With --dna_search: parameter budget of the found cell's NB201 network (16 channels, "
    "5 cells per stage); none by default.")
_SUPERNET_TRAIN_EXAMPLES = flags.DEFINE_integer(
    "supernet_train_examples", 50000,
    "With --scorer=spos or alpha: training images of the supernet's search (half train the weights, half "
    "score cells or train the architecture); with dna: twice the teacher's and students' training images.",
)


def _train_supernet(algorithm: str, strategy, **overrides) -> tuple[str, float]:
    """Trains (or resumes) the `algorithm` search at the proxy in `<workdir>/<algorithm>_supernet`
    under `strategy`; returns the folder this process restores it from (`worker-<index>` inside it
    on a cluster's other workers) and its training wall seconds."""
    from tfnas.algorithms.runner import make_search_config, search
    from tfnas.runs import task_workdir

    workdir = os.path.join(_WORKDIR.value, f"{algorithm}_supernet")
    config = make_search_config(algorithm, "nb201", epochs=_SUPERNET_EPOCHS.value, batch_size=_BATCH_SIZE.value,
                                channels=_CHANNELS.value, layers=_LAYERS.value, seed=_SEED.value, **overrides)
    print(f"== {algorithm} supernet: {config.epochs} epochs, batch {config.batch_size}, "
          f"{_SUPERNET_TRAIN_EXAMPLES.value} images (half for the weights), {workdir}", flush=True)
    report = search(config, space="nb201", dataset="cifar10", workdir=workdir, data_dir=_DATA_DIR.value,
                    max_train_examples=_SUPERNET_TRAIN_EXAMPLES.value, image_size=_IMAGE_SIZE.value, verbose=2,
                    strategy=strategy)
    return task_workdir(workdir, strategy), float(report["search_seconds"])


def _partial_path(workdir: str, label: str) -> str:
    """Where a per-cell scorer keeps each cell's score until the run completes."""
    return os.path.join(workdir, f"{label}_scores.partial.jsonl")


def _scorer_name() -> str:
    name = _SCORER.value.strip()
    if _REFERENCE.value:
        if flags.FLAGS["scorer"].present and name != "standalone":
            raise ValueError(f"--reference scores with `standalone`; it conflicts with --scorer={name}.")
        return "standalone"
    return name


def _print_report(report, proxy, name: str, upstream: dict[str, float]) -> None:
    from tfnas.ranking.benchmark import PUBLISHED_KENDALL_TAU, PUBLISHED_SOURCE

    m = report.metrics
    print(f"NAS-Bench-201 ranking: scorer {name}, {m.num_cells} cells (seed {_SEED.value}), proxy "
          f"{proxy.channels} channels, {proxy.layers} cell(s) per stage, {proxy.image_size}x{proxy.image_size}, "
          f"batch {proxy.batch_size}" + (f", {report.settings}" if report.settings else ""))
    print(f"sample CIFAR-10 accuracy: mean {report.accuracies.mean():.2f}, best {report.accuracies.max():.2f}, "
          f"worst {report.accuracies.min():.2f}; degenerate scores (-inf): {m.degenerate}")
    print(f"Kendall tau {m.kendall_tau:.4f}   Spearman rho {m.spearman_rho:.4f}   "
          f"top-10% precision {m.top10_precision:.3f} (top {m.top_k} of {m.num_cells})")
    print(f"scoring: {report.cpu_seconds:.1f} CPU s, {report.wall_seconds:.1f} wall s "
          f"({report.wall_seconds / m.num_cells:.2f} s a cell)")
    if upstream["cpu_seconds"] or upstream["supernet_training_seconds"]:
        print(f"plus what the scores were built from: {upstream['cpu_seconds']:.1f} CPU s of scoring, "
              f"{upstream['supernet_training_seconds']:.1f} s of supernet training")
    if name in PUBLISHED_KENDALL_TAU:
        print(f"published Kendall tau: {PUBLISHED_KENDALL_TAU[name]:.2f} ({PUBLISHED_SOURCE})")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.benchmarks import NB201Table
    from tfnas.ranking import SCORERS, PerCellScorer, ProxyConfig, ScoringContext, make_scorer, sample_indices
    from tfnas.ranking.benchmark import PUBLISHED_KENDALL_TAU, cpu_seconds, plot_ranking, run_ranking
    from tfnas.runs import (CorruptCheckpointError, NonFiniteLossError, ResultLog, is_chief, sum_over_tasks,
                            task_share, task_workdir, write_json)

    try:
        strategy = strategy_from_flags()
        name = _scorer_name()
        if name not in SCORERS:
            raise ValueError(f"Unknown --scorer={name!r}; known: {', '.join(SCORERS.names())}.")
        indices = sample_indices(_NUM_CELLS.value, _SEED.value)
        proxy = ProxyConfig(channels=_CHANNELS.value, layers=_LAYERS.value, image_size=_IMAGE_SIZE.value,
                            batch_size=_BATCH_SIZE.value, seed=_SEED.value)
        options = {}
        if name == "standalone":
            options = {"epochs": _EPOCHS.value, "train_examples": _MAX_TRAIN_EXAMPLES.value,
                       "val_examples": _VAL_EXAMPLES.value}
        supernet_seconds = 0.0
        label = name
        if name in SUPERNET_ALGORITHMS:
            known = SUPERNET_ALGORITHMS[name]
            algorithm = _SUPERNET_ALGORITHM.value or known[0]
            label = name if algorithm == known[0] else f"{name}_{algorithm}"
            if algorithm not in known:
                raise ValueError(f"--supernet_algorithm must be one of {', '.join(known)} with --scorer={name}. "
                                 f"Received: {algorithm!r}")
            if _ANCHOR_WEIGHT.value is not None and algorithm not in ("magic_a", "magic_at"):
                raise ValueError(f"--anchor_weight belongs to --supernet_algorithm=magic_a or magic_at; it conflicts "
                                 f"with --supernet_algorithm={algorithm}.")
            supernet_workdir, supernet_seconds = _train_supernet(algorithm, strategy,
                                                                 anchor_weight=_ANCHOR_WEIGHT.value)
            options = {"supernet_workdir": supernet_workdir}
            if name == "spos":
                options.update(val_examples=_VAL_EXAMPLES.value, data_dir=_DATA_DIR.value)
        elif _SUPERNET_ALGORITHM.value:
            raise ValueError(f"--supernet_algorithm belongs to --scorer=spos or alpha; it conflicts with "
                             f"--scorer={name}.")
        if name == "dna":
            options = {"workdir": os.path.join(task_workdir(_WORKDIR.value, strategy), "dna"),
                       "teacher_epochs": _TEACHER_EPOCHS.value,
                       "teacher_layers": _TEACHER_LAYERS.value, "student_epochs": _SUPERNET_EPOCHS.value,
                       "batch_size": _BATCH_SIZE.value, "train_examples": _SUPERNET_TRAIN_EXAMPLES.value // 2,
                       "val_examples": _VAL_EXAMPLES.value, "seed": _SEED.value,
                       "teacher_weights": _TEACHER.value}
        elif _TEACHER.value:
            raise ValueError(f"--teacher belongs to --scorer=dna; it conflicts with --scorer={name}.")
        if name == "ensemble":
            options = {"members": _MEMBERS.value, "scores_dir": _WORKDIR.value}
        elif _MEMBERS.value:
            raise ValueError(f"--members belongs to --scorer=ensemble; it conflicts with --scorer={name}.")
        if _DNA_SEARCH.value and name != "dna":
            raise ValueError(f"--dna_search belongs to --scorer=dna; it conflicts with --scorer={name}.")
        scorer = make_scorer(name, **options)
        table = NB201Table(data_dir=_DATA_DIR.value)  # Fails early when the table is missing.
        results = None
        if isinstance(scorer, PerCellScorer):  # each cell kept as it is scored: a rerun resumes
            results = ResultLog(_partial_path(task_workdir(_WORKDIR.value, strategy), label),
                                {"scorer": name, "scorer_settings": scorer.settings(), "proxy": proxy.to_dict(),
                                 "space": _SPACE.value}, fields=("score", "cpu_seconds", "wall_seconds"))
        share = task_share(strategy) if scorer.splits_over_tasks else (0, 1)
        context = ScoringContext(proxy, data_dir=_DATA_DIR.value, log=lambda line: print(line, flush=True),
                                 results=results, share=share,
                                 combine=lambda values: sum_over_tasks(strategy, values))
        if scorer.minibatches:  # Load (and check) the data before the first cell.
            context.images(scorer.minibatches * proxy.batch_size)
        # Outside the strategy's scope: the scorers clear the Keras session between cells, which
        # would end a scope entered around them (TensorFlow: "pop from empty list" on its exit).
        scorer.prepare(context)  # training the scores depend on (DNA): upstream, not scoring time
        report = run_ranking(scorer, indices, table, context)
        upstream = scorer.upstream_seconds()
        found = None
        if _DNA_SEARCH.value:
            from tfnas.ranking.dna import search as dna_search

            found = dna_search(scorer.run, _BUDGET_PARAMS.value)
            if found["cell"] is not None:
                found.update(cifar10=table.accuracy(found["cell"]), percentile=table.percentile(found["cell"]))
    except (ValueError, KeyError, FileNotFoundError, CorruptCheckpointError, NonFiniteLossError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    _print_report(report, proxy, name, upstream)
    m = report.metrics
    cluster = getattr(scorer, "cluster_seconds", None)  # (cpu, wall) summed over a cluster's tasks
    summary = {
        "scorer": name,
        "label": label,
        "kendall_tau": round(m.kendall_tau, 6),
        "spearman_rho": round(m.spearman_rho, 6),
        "top10_precision": round(m.top10_precision, 6),
        "cpu_seconds": round((cluster[0] if cluster else report.cpu_seconds) + upstream["cpu_seconds"], 2),
        "wall_seconds": round(report.wall_seconds, 2),
        "process_cpu_seconds": round(cpu_seconds(), 2),
        "supernet_training_seconds": round(supernet_seconds + upstream["supernet_training_seconds"], 1),
        "num_cells": m.num_cells,
        "seed": _SEED.value,
        "degenerate": m.degenerate,
        "space": _SPACE.value,
        "proxy": proxy.to_dict(),
        "scorer_settings": report.settings,
        **runtime.machine(),
        "published_kendall_tau": PUBLISHED_KENDALL_TAU.get(name),
        "resumed_cells": scorer.resumed[0],
    }
    if found is not None:
        summary["dna_search"] = found
        print(f"DNA search over {found['candidates']} distinct cells ({found['fitting']} within the budget "
              f"{found['budget']} params), rated in {found['rating_seconds']:.0f} s: {found['cell']}"
              + (f", table CIFAR-10 {found['cifar10']:.2f} (percentile {found['percentile']:.1f})"
                 if found["cell"] is not None else ": no cell fits"))
    summary["replicas"] = strategy.num_replicas_in_sync
    summary["scoring_tasks"] = share[1]
    summary["cells_scored_here"] = getattr(scorer, "scored_here", m.num_cells) if share[1] > 1 else m.num_cells
    if is_chief(strategy):  # the other workers of a cluster write no results
        os.makedirs(_WORKDIR.value, exist_ok=True)
        scores_path = os.path.join(_WORKDIR.value, f"{label}_scores.json")
        write_json(scores_path, {**summary, "cells": report.per_cell()})
        png = plot_ranking(report, os.path.join(_WORKDIR.value, f"{label}_scatter.png"))
        print(f"wrote {scores_path} and {png}")
    if results is not None and os.path.exists(results.path):
        os.remove(results.path)  # the run is complete: a rerun measures again
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)
