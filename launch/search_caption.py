r"""AutoCaption: search the decoder's recurrent cell, train it from scratch, caption the test split.

Searches an AutoRNN cell (connections and operations, `tfnas.captioning.autornn`) with an
ENAS-style controller over shared decoder weights, rewarded by validation CIDEr-D
(`tfnas.captioning.search`; flags from `CaptionSearchConfig`), then trains the derived cell's
decoder from scratch on the training captions (`--child_epochs`) and captions the test split
greedily and with beam search. Every stage resumes when rerun with the same --workdir
(features cached, search and child checkpointed per epoch). Writes `<workdir>/cell.png` (the
searched cell), `search/search.json`, `report.json`. The last line printed is the JSON report:
`genotype`, `cider_d` and `bleu_4` of the searched decoder on the test split (beam captions;
`decoding` says which), `greedy`, `beam`, `val_cider_d`, `search_cpu_seconds`, `params`.

Data: `--captions` a Karpathy-split JSON (MSCOCO), or unset for the CIFAR-10 grid caption set
(`tfnas.captioning.data`). The encoder is a frozen zoo network (`--encoder`).

Example (the CIFAR-10 grid set, a CPU-sized search):
  python -m launch.search_caption --workdir=runs/autocaption --epochs=10 --child_epochs=20
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

from absl import app, flags

from launch import _caption_common as common
from launch._config_flags import config_overrides, define_config_flags
from tfnas.captioning.search import CaptionSearchConfig

_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder; reusing it resumes the run.", required=True)
_CHILD_EPOCHS = flags.DEFINE_integer("child_epochs", 20, "Epochs of the searched decoder's training from scratch.")
_CONFIG = define_config_flags(CaptionSearchConfig)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()
    from tfnas.captioning.autornn import RNNCellGenotype
    from tfnas.captioning.pipeline import train_child
    from tfnas.captioning.search import run_search
    from tfnas.runs import check_workdir, write_json

    workdir = _WORKDIR.value
    try:
        config = CaptionSearchConfig(**config_overrides(_CONFIG))
        check_workdir(workdir)
        data, captions = common.prepare(workdir, config.max_length)
        config = dataclasses.replace(config, max_length=data.max_length)
        train_regions, train_captions = data.training_pairs()
        search = run_search(config, train_regions, train_captions, data.regions["val"], data.references("val"),
                            data.vocab, os.path.join(workdir, "search"))
        genotype = search["genotype"]
        RNNCellGenotype.from_string(genotype).plot(os.path.join(workdir, "cell.png"))
        child = train_child(genotype, data, os.path.join(workdir, "child"), units=config.units,
                            embed_dim=config.embed_dim, attention_dim=config.attention_dim, epochs=_CHILD_EPOCHS.value,
                            batch_size=config.batch_size, learning_rate=config.learning_rate,
                            max_length=config.max_length, seed=config.seed, beam=common.BEAM.value,
                            fine_tune=common.FINE_TUNE.value, encoder_learning_rate=common.ENCODER_LEARNING_RATE.value)
    except (ValueError, KeyError, FileNotFoundError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    report = {"genotype": genotype, "val_cider_d": round(search["val_cider_d"], 4),
              "search_cpu_seconds": round(search["search_cpu_seconds"], 1), "captions": captions,
              **{k: v for k, v in child.items() if k != "model"}}
    write_json(os.path.join(workdir, "report.json"), report)
    print(f"genotype: {genotype}")
    print(f"test CIDEr-D {report['cider_d']:.4f}, BLEU-4 {report['bleu_4']:.4f} ({report['decoding']})")
    print(json.dumps(report))


if __name__ == "__main__":
    app.run(main)
