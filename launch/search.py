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

Every field of `SearchConfig` is a flag of the same name (`--tau_max`, `--tau_min`,
`--num_samples`, `--anchor_weight`, ...; `launch/_config_flags.py`). Every one left unset keeps the algorithm's paper default for the space
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

from launch._cluster import strategy_from_flags
from launch._config_flags import config_overrides, define_config_flags
from tfnas.algorithms import ALGORITHMS
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.spos import Spos

#: The searches that derive a cell from their architecture weights; the one-shot supernets
#: (Spos and its subclasses: no architecture weights) are trained and searched by launch.rank.
_ALGORITHM_NAMES = [n for n in ALGORITHMS.names() if not issubclass(ALGORITHMS.get(n), Spos)]

_SPACE = flags.DEFINE_string(
    "space", "darts", "Search space: darts, nb201, or your own written in Keras as package.module:function, "
    "a build(input_shape, num_classes) returning a model with tfnas.supernets.choices (darts, darts2, "
    "darts_minus, gdas search it; the result is record.jsonl).")
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
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer("max_train_examples", None, "Search on the first N examples only.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Resize images to this side (default: the dataset's).")
_DETERMINISTIC = flags.DEFINE_bool("deterministic", True, "TensorFlow op determinism (resume = uninterrupted).")
_VERBOSE = flags.DEFINE_integer("verbose", 1, "Keras progress verbosity (0, 1 or 2).")
_LEARNED_SPACE = flags.DEFINE_string(
    "learned_space", None,
    "A learned space to search in place of the full one: the learned_space.json of launch.evolve_space (nb201).",
)

#: One flag per SearchConfig field (`--tau_max`, `--num_samples`, ...), applied only when set.
_OVERRIDES = define_config_flags(SearchConfig, exclude=("algorithm",))


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.algorithms.autospace import load_learned_space
    from tfnas.algorithms.runner import make_search_config, search
    from tfnas.runs import CorruptCheckpointError, NonFiniteLossError, check_workdir

    try:
        strategy = strategy_from_flags()
        if _ALGORITHM.value in ALGORITHMS and _ALGORITHM.value not in _ALGORITHM_NAMES:
            raise ValueError(
                f"--algorithm={_ALGORITHM.value} trains a one-shot supernet without architecture weights, so it "
                "derives no cell by itself: run `python -m launch.rank --scorer=spos --supernet_algorithm="
                f"{_ALGORITHM.value}` (or launch.nb201 --compare --evaluator=supernet). Searches here: "
                f"{', '.join(_ALGORITHM_NAMES)}.")
        config = make_search_config(
            _ALGORITHM.value, _SPACE.value, _PRESET.value, **config_overrides(_OVERRIDES)
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
            strategy=strategy,
        )
    except (ValueError, KeyError, FileNotFoundError, CorruptCheckpointError, NonFiniteLossError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    print(f"genotype: {report['genotype']}")
    print(json.dumps(report))


if __name__ == "__main__":
    app.run(main)
