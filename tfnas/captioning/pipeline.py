"""From a caption set to what the search and the child training consume: vocabulary, region
features of a frozen encoder (cached), caption ids, references.

`prepare(...)` reads a Karpathy-format JSON (a user's MSCOCO `dataset_coco.json`, or the
CIFAR-10 grid set, built on first use), builds the vocabulary from the training references
(count threshold), runs the encoder once over every split's images and caches the pooled
region features in the workdir (`features_<split>.npy`, keyed in `features.json` by the
encoder, the grid and the caption file's size and mtime, recomputed when any differs).

The encoder is a zoo network with CIFAR-10 weights (`tfnas.applications`, e.g.
`darts_v2.c16_l8_cifar10`), without its top, on the set's images at their own size, normalised
with the statistics the zoo weights were trained with; its last feature map is pooled to
`grid x grid` regions. The cached features are the frozen encoder's; `train_child(...,
fine_tune=True)` trains the encoder with the decoder instead (images streamed from their files).
`units_for_params` sizes a decoder to a parameter budget (the LSTM baseline at the searched
cell's size).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np

from tfnas.captioning.data import SPLITS, CaptionExample, Vocabulary, caption_dataset, load_karpathy


@dataclasses.dataclass
class CaptionData:
    """Everything a captioning run needs, per split."""

    vocab: Vocabulary
    examples: dict[str, list[CaptionExample]]
    regions: dict[str, np.ndarray]  # split -> [images, R, D]
    max_length: int
    encoder: str = ""  # the zoo weights name the regions came from
    grid: int = 0
    image_size: int = 0

    def references(self, split: str) -> list[tuple[tuple[str, ...], ...]]:
        return [e.references for e in self.examples[split]]

    def training_pairs(self) -> tuple[RowsOf, np.ndarray]:
        """One row per training caption: `(regions [N, R, D], caption ids [N, max_length + 2])`;
        the regions a view that repeats each image's features for its captions without copying."""
        rows = np.array([i for i, e in enumerate(self.examples["train"]) for _ in e.references])
        ids = [self.vocab.encode(r, self.max_length) for e in self.examples["train"] for r in e.references]
        return RowsOf(self.regions["train"], rows), np.array(ids, dtype="int32")


class RowsOf:
    """`array[index]` without the copy: indexing, `len` and `shape` as of the indexed array."""

    def __init__(self, array: np.ndarray, index: np.ndarray) -> None:
        self.array, self.index = array, np.asarray(index)

    def __getitem__(self, rows) -> np.ndarray:
        return self.array[self.index[rows]]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.array.shape[1:])


def default_caption_set(data_dir: str | None = None, seed: int = 0, **sizes: int) -> str:
    """The CIFAR-10 grid caption set in the tfnas cache (built on first use); returns its JSON path."""
    from tfnas.captioning.data import FORMAT_VERSION, build_cifar_captions
    from tfnas.data.cifar10 import cache_dir

    tag = "_".join(f"{k}{v}" for k, v in sorted(sizes.items()))
    folder = os.path.join(str(cache_dir()), "captions",
                          f"cifar10_grid_v{FORMAT_VERSION}_s{seed}" + (f"_{tag}" if tag else ""))
    return build_cifar_captions(folder, data_dir=data_dir, seed=seed, **sizes)


def zoo_encoder(name: str, image_size: int):
    """`(encoder without top, mean, std)` for a zoo weights name such as `darts_v2.c16_l8_cifar10`."""
    from tfnas.applications.zoo import build_zoo_model, weights_card
    from tfnas.data.pipeline import resolve_stats

    arch, _, tag = name.partition(".")
    if not tag:
        raise ValueError(f"encoder must be a zoo weights name 'arch.tag' (e.g. darts_v2.c16_l8_cifar10). Received: {name!r}")
    card = weights_card(name)
    encoder = build_zoo_model(arch, include_top=False, weights=tag, input_shape=(image_size, image_size, 3))
    encoder.trainable = False
    mean, std = resolve_stats(card["dataset"])
    return encoder, mean, std


def prepare(captions: str, workdir: str, encoder: str = "darts_v2.c16_l8_cifar10", grid: int = 4,
            min_count: int = 5, max_length: int | None = None, image_root: str | None = None,
            image_size: int | None = None,
            batch_size: int = 128, log=print) -> CaptionData:
    """Loads the set, builds the vocabulary, and computes (or reads cached) region features.

    `max_length` (words a caption keeps in training, and the longest generated) defaults to
    the 95th percentile of the training captions' lengths (16 on MSCOCO's Karpathy split, as
    the captioning papers truncate; about 33 on the CIFAR-10 grid set).

    Raises:
        FileNotFoundError, ValueError: from the loader (missing or malformed files), an unknown
            encoder, or images whose feature map does not split into the grid.
    """
    from tfnas.captioning.model import encode_features

    examples = load_karpathy(captions, image_root=image_root)
    for split in SPLITS:
        if not examples[split]:
            raise ValueError(f"{captions} has no {split!r} images; a captioning run needs train, val and test.")
    vocab = Vocabulary.build([r for e in examples["train"] for r in e.references], min_count=min_count)
    if max_length is None:  # the 95th percentile of the training captions' lengths
        max_length = int(np.ceil(np.percentile([len(r) for e in examples["train"] for r in e.references], 95)))
    if image_size is None:
        import tensorflow as tf

        image_size = int(tf.io.decode_image(tf.io.read_file(examples["train"][0].path), channels=3).shape[0])
    stat = os.stat(captions)
    key = {"captions": os.path.abspath(captions), "size": stat.st_size, "mtime": int(stat.st_mtime),
           "encoder": encoder, "grid": grid, "image_size": image_size}
    os.makedirs(workdir, exist_ok=True)
    key_path = os.path.join(workdir, "features.json")
    cached = None
    if os.path.exists(key_path):
        with open(key_path) as f:
            cached = json.load(f)
    regions: dict[str, np.ndarray] = {}
    if cached == key and all(os.path.exists(os.path.join(workdir, f"features_{s}.npy")) for s in SPLITS):
        for split in SPLITS:
            regions[split] = np.load(os.path.join(workdir, f"features_{split}.npy"))
    else:
        model, mean, std = zoo_encoder(encoder, image_size)
        for split in SPLITS:
            ds = caption_dataset(examples[split], vocab, max_length, image_size, mean, std, training=False,
                                 batch_size=batch_size)
            regions[split] = np.concatenate([np.asarray(encode_features(model, images, grid)) for images, _ in ds])
            np.save(os.path.join(workdir, f"features_{split}.npy"), regions[split])
            log(f"features {split}: {regions[split].shape}")
        with open(key_path, "w") as f:
            json.dump(key, f, sort_keys=True)
    return CaptionData(vocab, examples, regions, max_length, encoder=encoder, grid=grid, image_size=image_size)


def jsonable_scores(scores: dict[str, Any]) -> dict[str, Any]:
    """Metric dict without the caption list, floats rounded for a report."""
    return {k: round(float(v), 4) for k, v in scores.items() if k != "captions"}


def score_test_split(decoder, data: CaptionData, beam: int = 3) -> dict[str, Any]:
    """Greedy and (with `beam > 1`) beam-search scores on the test split; `cider_d` / `bleu_4`
    are the beam captions' (`decoding` says which)."""
    from tfnas.captioning.model import evaluate_captions

    refs = data.references("test")
    greedy = evaluate_captions(decoder, data.regions["test"], refs, data.vocab, data.max_length)
    result: dict[str, Any] = {"greedy": jsonable_scores(greedy), "examples": greedy["captions"][:3]}
    if beam > 1:
        result["beam"] = jsonable_scores(evaluate_captions(decoder, data.regions["test"], refs, data.vocab,
                                                           data.max_length, beam=beam))
    best = result.get("beam", result["greedy"])
    result.update(cider_d=best["cider_d"], bleu_4=best["bleu_4"], decoding=f"beam {beam}" if beam > 1 else "greedy")
    return result


def _make_decoder(model: str, data: CaptionData, units: int, embed_dim: int, attention_dim: int):
    """The built (not trained) decoder of `model` (`"lstm"` or an AutoRNN genotype) for `data`."""
    from tfnas.captioning.model import CaptionDecoder, make_cell

    cell = make_cell("lstm", units) if model == "lstm" else make_cell("autornn", units, genotype=model)
    decoder = CaptionDecoder(data.vocab.size, cell, embed_dim=embed_dim, attention_dim=attention_dim)
    regions, captions = data.training_pairs()
    decoder((regions[:1], captions[:1, :-1]))
    return decoder


def units_for_params(model: str, data: CaptionData, budget: int, embed_dim: int = 64,
                     attention_dim: int = 64) -> tuple[int, int]:
    """`(units, params)`: the largest state size whose decoder of `model` has at most `budget`
    parameters (embedding, attention and output layer included), by bisection over built decoders.

    Raises:
        ValueError: if even one unit is over the budget.
    """
    def params(units: int) -> int:
        return int(_make_decoder(model, data, units, embed_dim, attention_dim).count_params())

    low, high = 1, 8
    if params(low) > budget:
        raise ValueError(f"A {model} decoder with 1 unit has {params(low):,} parameters, over the budget of "
                         f"{budget:,}: raise the budget or shrink embed_dim / attention_dim.")
    while params(high) <= budget:
        low, high = high, high * 2
    while high - low > 1:  # params(low) <= budget < params(high)
        mid = (low + high) // 2
        low, high = (mid, high) if params(mid) <= budget else (low, mid)
    return low, params(low)


def train_child(model: str, data: CaptionData, workdir: str, units: int = 128, embed_dim: int = 64,
                attention_dim: int = 64, epochs: int = 20, batch_size: int = 64, learning_rate: float = 2e-3,
                max_length: int | None = None, seed: int = 0, beam: int = 3, fine_tune: bool = False,
                encoder_learning_rate: float | None = None, log=print) -> dict[str, Any]:
    """Trains one decoder from scratch (resumable in `workdir`) and scores it on the test split.

    Args:
        model: An AutoRNN genotype string, or `"lstm"` for the hand-designed baseline.
        data: The prepared `CaptionData`.
        workdir: Its run folder (`config.json`, checkpoints).
        units, embed_dim, attention_dim: Decoder sizes.
        epochs, batch_size, learning_rate, seed: The teacher-forced training.
        max_length: Longest caption (None or the data's).
        beam: Beam size of the test captions.
        fine_tune: Train the encoder with the decoder (images streamed from their files; the
            encoder's BatchNorm statistics stay frozen), then caption the test split with the
            fine-tuned encoder's features; otherwise the cached frozen features.
        encoder_learning_rate: The encoder's Adam rate when fine-tuning (default a tenth of
            `learning_rate`).
        log: Progress lines.

    Returns:
        `{"model", "units", "params", "losses", "train_cpu_seconds", "cider_d", "bleu_4", "decoding",
        "greedy", "beam", "examples"}`.

    Raises:
        ValueError: for an invalid genotype, a workdir of another training, a non-finite loss.
    """
    import time

    import keras

    from tfnas.captioning.model import train_decoder
    from tfnas.runs import check_run_config

    max_length = data.max_length if max_length is None else max_length
    if max_length != data.max_length:
        raise ValueError(f"max_length {max_length} differs from the data's {data.max_length}.")
    run = {"model": model, "units": units, "embed_dim": embed_dim, "attention_dim": attention_dim, "epochs": epochs,
           "batch_size": batch_size, "learning_rate": learning_rate, "max_length": max_length, "seed": seed,
           "vocab": data.vocab.size}
    if fine_tune:  # written only when set, so a frozen-encoder workdir of before resumes
        encoder_learning_rate = encoder_learning_rate or learning_rate / 10
        run.update(fine_tune=True, encoder_learning_rate=encoder_learning_rate)
    check_run_config(workdir, run, what="training")
    keras.utils.set_random_seed(seed)
    decoder = _make_decoder(model, data, units, embed_dim, attention_dim)
    regions, captions = data.training_pairs()
    cpu = time.process_time()
    if not fine_tune:
        losses = train_decoder(decoder, regions, captions, epochs, batch_size=batch_size,
                               learning_rate=learning_rate, seed=seed, log=log, workdir=workdir)
        scored = data
    else:
        from tfnas.captioning.model import encode_features, train_end_to_end

        encoder, mean, std = zoo_encoder(data.encoder, data.image_size)
        encoder.trainable = True

        def batches(epoch: int):
            return caption_dataset(data.examples["train"], data.vocab, max_length, data.image_size, mean, std,
                                   training=True, batch_size=batch_size, seed=seed * 7919 + epoch)

        losses = train_end_to_end(encoder, data.grid, decoder, batches, epochs, learning_rate=learning_rate,
                                  encoder_learning_rate=encoder_learning_rate, log=log, workdir=workdir)
        test = caption_dataset(data.examples["test"], data.vocab, max_length, data.image_size, mean, std,
                               training=False, batch_size=128)
        test_regions = np.concatenate([np.asarray(encode_features(encoder, images, data.grid)) for images, _ in test])
        scored = dataclasses.replace(data, regions={**data.regions, "test": test_regions})
    report: dict[str, Any] = {"model": model, "units": units, "params": int(decoder.count_params()),
                              "losses": [round(v, 4) for v in losses], "fine_tune": fine_tune,
                              "train_cpu_seconds": round(time.process_time() - cpu, 1)}
    report.update(score_test_split(decoder, scored, beam))
    return report
