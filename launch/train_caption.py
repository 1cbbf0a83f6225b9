r"""Train a captioning decoder (the AutoRNN child or the LSTM baseline) and score it on the test split.

`--model` is an AutoRNN genotype (`"tanh|relu<0|..."`, see `tfnas.captioning.autornn`) or
`lstm` (the hand-designed baseline). The encoder is frozen (its region features are cached in
the workdir); the decoder is trained with teacher forcing (Adam, clipping), resumable per
epoch; the test split is captioned greedily and with beam search. The last line printed is
the JSON report (also `<workdir>/report.json`): `cider_d`, `bleu_4` (of the beam captions,
`decoding` says which), `greedy`, `beam`, `params`, `train_cpu_seconds`.

Example (the CIFAR-10 grid set, built on first use):
  python -m launch.train_caption --model=lstm --units=128 --epochs=10 --workdir=runs/caption_lstm
  python -m launch.train_caption --model=lstm --params_budget=289000 --workdir=runs/caption_lstm_289k
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from launch import _caption_common as common

_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder; reusing it resumes the training.", required=True)
_MODEL = flags.DEFINE_string("model", "lstm", "An AutoRNN genotype ('tanh|relu<0|...') or 'lstm'.")
_UNITS = flags.DEFINE_integer("units", 128, "Recurrent state size.")
_PARAMS_BUDGET = flags.DEFINE_integer(
    "params_budget", None, "Instead of --units: the largest state size whose decoder has at most this many "
    "parameters (e.g. the searched decoder's `params`, for the LSTM baseline at the same size).")
_EMBED_DIM = flags.DEFINE_integer("embed_dim", 64, "Word embedding size.")
_ATTENTION_DIM = flags.DEFINE_integer("attention_dim", 64, "Attention hidden size.")
_EPOCHS = flags.DEFINE_integer("epochs", 20, "Training epochs.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Captions per step.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 2e-3, "Adam learning rate (see CaptionSearchConfig).")
_MAX_LENGTH = flags.DEFINE_integer(
    "max_length", None, "Longest caption (words), in training and decoding (default: the 95th percentile of the "
    "training captions' lengths).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of initialisation and shuffling.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()
    from tfnas.captioning.pipeline import train_child, units_for_params
    from tfnas.runs import check_workdir, write_json

    try:
        check_workdir(_WORKDIR.value)
        data, captions = common.prepare(_WORKDIR.value, _MAX_LENGTH.value)
        units = _UNITS.value
        if _PARAMS_BUDGET.value is not None:
            if _UNITS.present:
                raise ValueError("--units and --params_budget both size the decoder: pass one.")
            units, params = units_for_params(_MODEL.value, data, _PARAMS_BUDGET.value, _EMBED_DIM.value,
                                             _ATTENTION_DIM.value)
            print(f"units {units}: {params:,} parameters (budget {_PARAMS_BUDGET.value:,})")
        report = train_child(_MODEL.value, data, os.path.join(_WORKDIR.value, "child"), units=units,
                             embed_dim=_EMBED_DIM.value, attention_dim=_ATTENTION_DIM.value, epochs=_EPOCHS.value,
                             batch_size=_BATCH_SIZE.value, learning_rate=_LEARNING_RATE.value,
                             max_length=data.max_length, seed=_SEED.value, beam=common.BEAM.value,
                             fine_tune=common.FINE_TUNE.value, encoder_learning_rate=common.ENCODER_LEARNING_RATE.value)
    except (ValueError, KeyError, FileNotFoundError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    report["captions"] = captions
    write_json(os.path.join(_WORKDIR.value, "report.json"), report)
    print(f"test CIDEr-D {report['cider_d']:.4f}, BLEU-4 {report['bleu_4']:.4f} ({report['decoding']})")
    print(json.dumps(report))


if __name__ == "__main__":
    app.run(main)
