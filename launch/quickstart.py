r"""The quickstart: train a published-genotype network on the embedded digits data.

`make quickstart` runs this. It needs no download: scikit-learn ships the 8x8 digits
(1,797 images), resized to 32x32 RGB. It trains a small DARTS_V2 network (the cell DARTS
found on CIFAR-10, arXiv 1806.09055) with the full child-training recipe and prints its test
accuracy, parameters and MAdds; the last line is the JSON report.
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", "runs/quickstart", "Where results are written.")
_GENOTYPE = flags.DEFINE_string("genotype", "darts_v2", "Genotype to train.")
_EPOCHS = flags.DEFINE_integer("epochs", 8, "Training epochs.")
_CHANNELS = flags.DEFINE_integer("channels", 8, "Initial channels.")
_LAYERS = flags.DEFINE_integer("layers", 5, "Number of cells.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas.children.training import TrainConfig, train

    config = TrainConfig(
        genotype=_GENOTYPE.value,
        dataset="digits",
        epochs=_EPOCHS.value,
        batch_size=64,
        learning_rate=0.05,
        cutout=8,
        drop_path_rate=0.1,
        auxiliary_weight=0.4,
        channels=_CHANNELS.value,
        layers=_LAYERS.value,
        seed=_SEED.value,
    )
    start = time.perf_counter()
    try:
        report = train(config, _WORKDIR.value, verbose=2)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    seconds = time.perf_counter() - start
    print()
    print(f"genotype        {report['genotype']}")
    print(f"test accuracy   {report['test_accuracy']:.4f}  (digits, {config.epochs} epochs)")
    print(f"parameters      {report['trainable_params']:,} trainable")
    print(f"MAdds           {report['madds']:,}")
    print(f"wall time       {seconds:.0f} s")
    print(f"results in      {os.path.abspath(_WORKDIR.value)} (report.json, model.keras, tensorboard/)")
    summary = {k: v for k, v in report.items() if k != "history"}
    summary["wall_seconds"] = seconds
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)
