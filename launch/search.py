r"""Differentiable architecture search: `python -m launch.search --algorithm=darts_minus ...`.

Runs one search of `tfnas.algorithms` (DARTS first/second order, DARTS-, PC-DARTS, GDAS,
ROME) in the DARTS or NAS-Bench-201 space with `tfnas.algorithms.runner.search`:
writes `<workdir>/config.json`, checkpoints every epoch and resumes after a kill (rerun the
same command), logs losses, architecture weights and the derived genotype per epoch to
TensorBoard (`<workdir>/tensorboard`), shows a progress bar, and writes `genotype.json`,
`cells.png`, `arch_weights.png` and `history.json`. `--learned_space=learned_space.json`
(written by `launch.evolve_space --space=nb201`) searches inside AutoSpace's learned space
instead of the full space, with the same checkpoints and resume. `--dataset` is cifar10,
digits, or the path of a folder of the user's images, one sub-folder per class
(`tfnas.data.user`: size, classes and normalisation statistics read from the images).

Every hyper-parameter flag left unset keeps the algorithm's paper default for the space
(`ALGORITHMS.get(name).default_config(preset)`; the preset is the space's name when the
algorithm has one, e.g. GDAS's `nb201`, else the algorithm's default, e.g. `cifar`).
`--batch_size` is global: under a MirroredStrategy each replica gets batch_size / replicas
examples of each part of the bilevel split.

Output: the derived genotype on one line (`genotype: ...`), then the report as JSON on the
last line. Errors (unknown algorithm, unsupported combination, a workdir holding another
search or not writable, a corrupt checkpoint, a NaN loss, missing data) print `error: ...`
on stderr and exit with status 2.

Examples (sizes these 2 CPU cores handle in minutes):
  python -m launch.search --space=nb201 --algorithm=darts_minus --dataset=digits \
      --epochs=3 --channels=8 --layers=1 --image_size=16 --workdir=runs/search_nb201_dm
  python -m launch.search --space=darts --algorithm=gdas --dataset=cifar10 \
      --epochs=5 --channels=8 --layers=5 --batch_size=32 --max_train_examples=5000 \
      --workdir=runs/search_darts_gdas
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

_ALGORITHM_NAMES = ["darts", "darts2", "darts_minus", "pc_darts", "gdas", "rome"]

_SPACE = flags.DEFINE_enum("space", "darts", ["darts", "nb201"], "Search space.")
_ALGORITHM = flags.DEFINE_string(
    "algorithm", "darts", f"Search algorithm: one of {', '.join(_ALGORITHM_NAMES)}."
)
_DATASET = flags.DEFINE_string(
    "dataset", "cifar10",
    "Training data (its train split): cifar10, digits, a folder of images with one sub-folder per class, or tfds:NAME[:CONFIG].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder; rerunning with it resumes the search.", required=True)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Folder holding cifar10/cifar10_jpg.tar.gz; default $TFNAS_DATA_DIR."
)
_PRESET = flags.DEFINE_string(
    "preset", None, "Paper-default preset of the algorithm (default: the space's name if the "
    "algorithm has that preset, else its default preset)."
)
_EPOCHS = flags.DEFINE_integer("epochs", None, "Search epochs (default: the paper's).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Global batch size of each part per step.")
_CHANNELS = flags.DEFINE_integer("channels", None, "Initial supernet channels (default 16).")
_LAYERS = flags.DEFINE_integer(
    "layers", None, "DARTS: cells (default 8, >= 3); NB201: cells per stage (default 5)."
)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", None, "Initial weight learning rate (SGD, cosine).")
_MIN_LEARNING_RATE = flags.DEFINE_float("min_learning_rate", None, "Final weight learning rate.")
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", None, "Coupled L2 on the weights.")
_ARCH_LEARNING_RATE = flags.DEFINE_float("arch_learning_rate", None, "Adam learning rate of the architecture.")
_ARCH_WEIGHT_DECAY = flags.DEFINE_float("arch_weight_decay", None, "Coupled L2 on the architecture.")
_ARCH_WARMUP_EPOCHS = flags.DEFINE_integer("arch_warmup_epochs", None, "Epochs with the architecture frozen.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None, "ROME: sub-models sampled per step (K).")
_BETA_SCHEDULE = flags.DEFINE_enum("beta_schedule", None, ["linear", "cosine"], "DARTS-: decay of beta.")
_SEED = flags.DEFINE_integer("seed", None, "Random seed (default 0).")
_TRAIN_PORTION = flags.DEFINE_float("train_portion", None, "Fraction of the train split for the weights.")
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer("max_train_examples", None, "Search on the first N examples only.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Resize images to this side (default: the dataset's).")
_DETERMINISTIC = flags.DEFINE_bool("deterministic", True, "TensorFlow op determinism (resume = uninterrupted).")
_VERBOSE = flags.DEFINE_integer("verbose", 1, "Keras progress verbosity (0, 1 or 2).")
_LEARNED_SPACE = flags.DEFINE_string(
    "learned_space", None,
    "A learned space to search in place of the full one: the learned_space.json of launch.evolve_space (nb201).",
)

#: Flag -> SearchConfig field, for the overrides applied only when the flag is set.
_OVERRIDES = {
    "epochs": _EPOCHS,
    "batch_size": _BATCH_SIZE,
    "channels": _CHANNELS,
    "layers": _LAYERS,
    "learning_rate": _LEARNING_RATE,
    "min_learning_rate": _MIN_LEARNING_RATE,
    "weight_decay": _WEIGHT_DECAY,
    "arch_learning_rate": _ARCH_LEARNING_RATE,
    "arch_weight_decay": _ARCH_WEIGHT_DECAY,
    "arch_warmup_epochs": _ARCH_WARMUP_EPOCHS,
    "num_samples": _NUM_SAMPLES,
    "beta_schedule": _BETA_SCHEDULE,
    "seed": _SEED,
    "train_portion": _TRAIN_PORTION,
}


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.algorithms.autospace import load_learned_space
    from tfnas.algorithms.runner import make_search_config, search
    from tfnas.runs import CorruptCheckpointError, NonFiniteLossError, check_workdir

    try:
        config = make_search_config(
            _ALGORITHM.value, _SPACE.value, _PRESET.value, **{k: f.value for k, f in _OVERRIDES.items()}
        )
        check_workdir(_WORKDIR.value)
        learned_space = load_learned_space(_LEARNED_SPACE.value) if _LEARNED_SPACE.value else None
        report = search(
            config,
            space=_SPACE.value,
            dataset=_DATASET.value,
            workdir=_WORKDIR.value,
            data_dir=_DATA_DIR.value,
            max_train_examples=_MAX_TRAIN_EXAMPLES.value,
            image_size=_IMAGE_SIZE.value,
            verbose=_VERBOSE.value,
            deterministic=_DETERMINISTIC.value,
            learned_space=learned_space,
        )
    except (ValueError, KeyError, FileNotFoundError, CorruptCheckpointError, NonFiniteLossError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    print(f"genotype: {report['genotype']}")
    print(json.dumps(report))


if __name__ == "__main__":
    app.run(main)
