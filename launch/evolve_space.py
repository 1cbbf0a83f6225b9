r"""AutoSpace: evolve a search space, search in it, report: `python -m launch.evolve_space --space=...`.

`--space=nb201`: evolves a learned sub-space of NAS-Bench-201 (per edge the `--keep` fittest
ops), runs `--search_algorithm` (DARTS- by default) for every seed in the learned space and
in the full space, looks every cell up in `$TFNAS_DATA_DIR/nb201/nats_bench_tss_200ep.csv`
and ends with one JSON line:
`{"members_cifar10": {"mean", "median", "best", "size"}, "full_space_cifar10": {...},
"search_in_learned": {"cifar10_mean", "cifar10_std", ...}, "search_in_full": {...}, ...}`.
Defaults (8 channels, 1 cell per stage, 16x16 images, 10,000 CIFAR-10 images, batch 64,
3 generations x 4 epochs, 2 x 3 searches x 10 epochs) took 14 minutes wall (756 CPU-seconds)
on these 2 cores while another search shared them; `--evolve_algorithm` picks the softmax
algorithm of the generations (darts_minus default; darts, darts2, pc_darts).

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

_SPACE = flags.DEFINE_enum("space", "nb201", ["nb201", "mobile"], "The space to evolve.")
_BUDGET_MADDS = flags.DEFINE_float(
    "budget_madds", None,
    "MAdds budget (nb201: of the 16-channel 5-cell 32x32 benchmark network, default none; mobile: of the "
    "searched network at its input size, default 500e6 imagenet / 3.5e6 cifar).",
)
_WORKDIR = flags.DEFINE_string("workdir", "runs/evolve_space", "Output folder.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Shared data folder; default $TFNAS_DATA_DIR.")
_DATASET = flags.DEFINE_enum(
    "dataset", None, ["cifar10", "digits"], "Search data (default cifar10; imagenet2012 with --preset=imagenet).")
_GENERATIONS = flags.DEFINE_integer("generations", 3, "AutoSpace generations.")
_GENERATION_EPOCHS = flags.DEFINE_integer("generation_epochs", None, "Supernet epochs per generation.")
_SAMPLE_SIZE = flags.DEFINE_integer("sample_size", None, "Candidates per decision in a generation's supernet (K).")
_KEEP = flags.DEFINE_integer("keep", None, "Candidates per decision kept in the learned space.")
_FITNESS = flags.DEFINE_enum(
    "fitness", None, ["perturbation", "alpha"],
    "nb201: candidate fitness: perturbation (default; each op's share of the validation loss rise when it is "
    "removed from the trained supernet, arXiv 2108.04392) or alpha (the paper's K*softmax(alpha)).")
_SEARCH_ALGORITHM = flags.DEFINE_string("search_algorithm", None, "Search run in the learned space.")
_EVOLVE_ALGORITHM = flags.DEFINE_string(
    "evolve_algorithm", None, "nb201: softmax-mixing algorithm training each generation's supernet (default darts_minus).")
_SEARCH_EPOCHS = flags.DEFINE_integer("search_epochs", None, "Epochs of each search in the learned/full space.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "nb201: seeds of the searches.")
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

    try:
        overrides: dict = {}
        for name, flag in (("generation_epochs", _GENERATION_EPOCHS), ("sample_size", _SAMPLE_SIZE),
                           ("keep", _KEEP), ("search_algorithm", _SEARCH_ALGORITHM),
                           ("search_epochs", _SEARCH_EPOCHS), ("max_train_examples", _MAX_TRAIN_EXAMPLES),
                           ("batch_size", _BATCH_SIZE), ("budget_madds", _BUDGET_MADDS)):
            _set(overrides, name, flag)
        if _SPACE.value == "nb201":
            try:
                seeds = tuple(int(s) for s in _SEEDS.value)
            except ValueError:
                raise ValueError(f"--seeds must be integers. Received: {_SEEDS.value}") from None
            _set(overrides, "evolve_algorithm", _EVOLVE_ALGORITHM)
            _set(overrides, "fitness", _FITNESS)
            config = autospace.NB201ExperimentConfig(
                generations=_GENERATIONS.value, seeds=seeds, channels=_CHANNELS.value, layers=_LAYERS.value,
                image_size=_IMAGE_SIZE.value, dataset=_DATASET.value or "cifar10", data_dir=_DATA_DIR.value, seed=_SEED.value,
                **overrides)
            summary = autospace.nb201_experiment(config, _WORKDIR.value, log=lambda m: print(m, flush=True))
            _print_nb201_table(summary)
        else:
            from tfnas.algorithms import mobile_search as mobile_pipeline

            _set(overrides, "train_epochs", _TRAIN_EPOCHS)
            config = mobile_pipeline.MobileExperimentConfig.preset(
                _PRESET.value, generations=_GENERATIONS.value, dataset=_DATASET.value, data_dir=_DATA_DIR.value,
                imagenet_manual_dir=_IMAGENET_MANUAL_DIR.value, latency_runs=_LATENCY_RUNS.value, seed=_SEED.value,
                latency_form=_LATENCY_FORM.value, latency_target_ms=_LATENCY_TARGET_MS.value, **overrides)
            summary = mobile_pipeline.mobile_experiment(config, _WORKDIR.value, log=lambda m: print(m, flush=True))
    except (ValueError, KeyError, FileNotFoundError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(summary))


def _print_nb201_table(summary: dict) -> None:
    m, f = summary["members_cifar10"], summary["full_space_cifar10"]
    learned, full = summary["search_in_learned"], summary["search_in_full"]
    print("NAS-Bench-201 CIFAR-10 (200-epoch test accuracy, %)")
    print(f"  learned space ({m['size']} cells): mean {m['mean']:.2f}  median {m['median']:.2f}  best {m['best']:.2f}")
    print(f"  full space ({f['size']} cells):  mean {f['mean']:.2f}  median {f['median']:.2f}  best {f['best']:.2f}"
          "  (published: median 90.75, best 94.37)")
    print(f"  search in learned space: {learned['cifar10_mean']:.2f} +- {learned['cifar10_std']:.2f}")
    print(f"  search in full space:    {full['cifar10_mean']:.2f} +- {full['cifar10_std']:.2f}"
          "  (published DARTS- 93.80 +- 0.40, GDAS 93.61, DARTS 54.30)")


if __name__ == "__main__":
    app.run(main)
