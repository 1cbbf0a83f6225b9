r"""Augmentation-policy search: `python -m launch.search_augment --method=ddas|pg|daas ...`.

Runs one search of `tfnas.algorithms.augment_runner.search_augment`:

- `ddas`: DDAS (arXiv 2104.04282) on a fixed NAS-Bench-201 cell network: exact direct
  gradient of the validation loss after one inner SGD step w.r.t. the two-level policy;
- `pg`: REINFORCE on the same policy with a moving-average baseline, reward = -validation
  loss of the shared network;
- `daas`: DAAS (arXiv 2109.15273): GDAS architecture search in the NAS-Bench-201 space and
  the policy-gradient policy search in one run.

Same conventions as `launch.search`: `<workdir>/config.json` (a rerun with the same flags
resumes from the last completed epoch, other flags are refused), a checkpoint per epoch,
TensorBoard logs (`<workdir>/tensorboard`: losses, apply probability, policy entropy, the
per-op probabilities of each stage, the policy string), the Keras progress bar, and
`genotype.json` (the policy), `policy.png` (op probabilities over the search),
`policy_final.png` (the final probability of every (op, magnitude) entry, per stage), `history.json`, `cost.json`; DAAS also `arch_genotype.json`, `cells.png`,
`arch_weights.png`.

`--strategy` (auto, one_device, mirrored, multi_worker; `launch/_cluster.py`) distributes the
search: `--batch_size` is global, each replica takes its rows of the one-device batch and the
train steps sum over the replicas what the one-device step computes on the whole batch (the
policy sample, gradients, DDAS's inner step and inner-product means, the REINFORCE reward), so
the search is the one-device search up to per-replica BatchNorm statistics and float order.
On a cluster the chief writes the results into `--workdir`, the other workers their state
into `<workdir>/worker-<index>`.

Output: `policy: <policy string>` (DAAS also `genotype: <cell>`), then the report as JSON
on the last line. Errors print `error: ...` on stderr and exit with status 2.

Examples (sizes these 2 CPU cores handle in minutes; DDAS's own search used 4,000 CIFAR-10
images, 2,000 + 2,000, for 20 epochs):
  python -m launch.search_augment --method=ddas --dataset=cifar10 --max_train_examples=4000 \
      --epochs=5 --channels=8 --workdir=runs/aug_ddas
  python -m launch.search_augment --method=daas --dataset=digits --image_size=16 --epochs=2 \
      --channels=4 --workdir=runs/aug_daas
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from launch._cluster import strategy_from_flags

_METHOD = flags.DEFINE_enum("method", "ddas", ["ddas", "pg", "daas"], "Search method.")
_DATASET = flags.DEFINE_string("dataset", "cifar10", "Training data (its train split): cifar10, digits, a folder of images with one sub-folder per class, or tfds:NAME[:CONFIG].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder; rerunning with it resumes the search.", required=True)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder holding cifar10/cifar10_jpg.tar.gz; default $TFNAS_DATA_DIR.")
_EPOCHS = flags.DEFINE_integer("epochs", 20, "Search epochs (DDAS: 20).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Global batch size of each part (train, validation) per step, over all replicas.")
_TRAIN_PORTION = flags.DEFINE_float("train_portion", 0.5, "Fraction of the examples for the weights.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 0.05, "Weight SGD learning rate (cosine); DDAS inner step size.")
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", 5e-4, "Coupled L2 on the weights.")
_POLICY_LR = flags.DEFINE_float("policy_learning_rate", 0.005, "Adam learning rate of the op/magnitude logits.")
_APPLY_LR = flags.DEFINE_float("apply_learning_rate", 0.001, "Adam learning rate of the apply probability.")
_APPLY_INIT = flags.DEFINE_float("apply_init", 0.5, "Initial apply probability.")
_STAGES = flags.DEFINE_integer("stages", 2, "Ops per sub-policy.")
_CUTOUT = flags.DEFINE_integer("cutout", 16, "Cutout side after the policy (0 disables).")
_BASELINE_DECAY = flags.DEFINE_float("baseline_decay", 0.9, "pg/daas: moving-average decay of the baseline.")
_NETWORK = flags.DEFINE_string(
    "network", None, "ddas/pg: NAS-Bench-201 cell string of the fixed network (default: the best NB201 cell).")
_CHANNELS = flags.DEFINE_integer("channels", 16, "Initial channels of the network / supernet.")
_LAYERS = flags.DEFINE_integer("layers", 1, "Cells per stage of the network / supernet.")
_ARCH_LR = flags.DEFINE_float("arch_learning_rate", 3e-4, "daas: Adam learning rate of the architecture.")
_TAU_MAX = flags.DEFINE_float("tau_max", 10.0, "daas: initial Gumbel temperature.")
_TAU_MIN = flags.DEFINE_float("tau_min", 0.1, "daas: final Gumbel temperature.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_INNER_PRODUCT = flags.DEFINE_enum(
    "inner_product", "exact", ["exact", "last_layer"],
    "ddas: per-image inner products over every weight (exact, the paper's) or the classifier's only (cheaper).")
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer("max_train_examples", None, "Search on the first N examples only.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Resize images to this side (default: the dataset's).")
_DETERMINISTIC = flags.DEFINE_bool("deterministic", True, "TensorFlow op determinism (resume = uninterrupted).")
_VERBOSE = flags.DEFINE_integer("verbose", 1, "Keras progress verbosity (0, 1 or 2).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.algorithms.augment_runner import search_augment
    from tfnas.algorithms.augment_search import DEFAULT_NETWORK, AugmentSearchConfig
    from tfnas.runs import CorruptCheckpointError, NonFiniteLossError, check_workdir

    try:
        strategy = strategy_from_flags()
        config = AugmentSearchConfig(
            method=_METHOD.value, epochs=_EPOCHS.value, batch_size=_BATCH_SIZE.value,
            train_portion=_TRAIN_PORTION.value, learning_rate=_LEARNING_RATE.value, weight_decay=_WEIGHT_DECAY.value,
            policy_learning_rate=_POLICY_LR.value, apply_learning_rate=_APPLY_LR.value, apply_init=_APPLY_INIT.value,
            stages=_STAGES.value, cutout=_CUTOUT.value, baseline_decay=_BASELINE_DECAY.value,
            network=_NETWORK.value or DEFAULT_NETWORK, channels=_CHANNELS.value, layers=_LAYERS.value,
            arch_learning_rate=_ARCH_LR.value, tau_max=_TAU_MAX.value, tau_min=_TAU_MIN.value, seed=_SEED.value,
            inner_product=_INNER_PRODUCT.value,
        )
        check_workdir(_WORKDIR.value)
        report = search_augment(
            config, dataset=_DATASET.value, workdir=_WORKDIR.value, data_dir=_DATA_DIR.value,
            max_train_examples=_MAX_TRAIN_EXAMPLES.value, image_size=_IMAGE_SIZE.value, verbose=_VERBOSE.value,
            deterministic=_DETERMINISTIC.value, strategy=strategy,
        )
    except (ValueError, KeyError, FileNotFoundError, CorruptCheckpointError, NonFiniteLossError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    print(f"policy: {report['policy']}")
    if "genotype" in report:
        print(f"genotype: {report['genotype']}")
    print(json.dumps(report))


if __name__ == "__main__":
    app.run(main)
