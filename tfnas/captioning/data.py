"""Caption data: the COCO Karpathy-split format, a vocabulary, `tf.data` pipelines, and a
captioning set built from CIFAR-10 that needs a real decoder.

**The format** (`load_karpathy`) is the one of Karpathy & Fei-Fei's `dataset_coco.json`
(arXiv 1412.2306; the split every captioning paper since reports on, AutoCaption included):
`{"images": [{"filepath", "filename", "split", "imgid", "cocoid"?, "sentences": [{"tokens",
"raw", ...}, ...]}, ...]}` with split one of `train`, `restval` (folded into train, as the
papers do), `val`, `test`; image files under `<image_root>/<filepath>/<filename>`. A user with
MSCOCO points `--captions` at that JSON and `--image_root` at the folder holding `train2014/`
and `val2014/`.

**The built set** (`build_cifar_captions`): no MSCOCO here, so a captioning set is built from
the CIFAR-10 images of `../shared/data` (`tfnas.data.load_splits("cifar10")`). Each example is a
2x2 grid of four CIFAR-10 images (64x64) with 5 reference sentences that name the four objects
*and their positions*, in varied word order: each sentence takes its own order of the four
cells (reading order, by columns, bottom-up, or shuffled), its own phrasing of each clause
(`a dog in the top left`, `the lower right shows a ship`, ...), its own opener, and a synonym
for each object (`car`/`automobile`, `ship`/`boat`, ...) and position (`top`/`upper`). So a
decoder must look at the right region for each object it names (attention over the grid
features), and no single sentence is the answer. Train and validation grids draw from disjoint
parts of the CIFAR-10 training images (the first 45,000 / the last 5,000), test grids from the
CIFAR-10 test images. Everything is drawn from one `numpy` generator seeded by `seed`, so the
same seed and sizes give the same files, byte for byte; the set is written in the Karpathy
format above (PNG images), so it is read by the same loader as MSCOCO.

References:
    - Karpathy & Fei-Fei, Deep Visual-Semantic Alignments for Generating Image Descriptions,
      arXiv 1412.2306 (the split and its JSON).
    - Zhu et al., AutoCaption: Image Captioning with Neural Architecture Search,
      arXiv 2012.09742.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tfnas.captioning.metrics import tokenize

#: Splits of the Karpathy JSON; `restval` is folded into `train`.
SPLITS: tuple[str, ...] = ("train", "val", "test")
PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, START, END, UNK)

#: CIFAR-10 label id -> the words a sentence may call it.
GRID_OBJECT_WORDS: tuple[tuple[str, ...], ...] = (
    ("airplane", "plane", "aircraft"), ("car", "automobile"), ("bird",), ("cat", "kitten"), ("deer",),
    ("dog", "puppy"), ("frog", "toad"), ("horse", "pony"), ("ship", "boat"), ("truck", "lorry"))
#: Grid cell (row-major index 0..3) -> the ways a sentence may name its position.
GRID_POSITION_WORDS: tuple[tuple[str, ...], ...] = (
    ("top left", "upper left"), ("top right", "upper right"), ("bottom left", "lower left"),
    ("bottom right", "lower right"))
_CLAUSES = ("{a} {obj} in the {pos}", "{a} {obj} at the {pos}", "the {pos} shows {a} {obj}",
            "in the {pos} there is {a} {obj}", "{a} {obj} on the {pos}")
_OPENERS = ("", "there is ", "this grid shows ", "we can see ", "four pictures with ")
_ORDERS = ((0, 1, 2, 3), (0, 2, 1, 3), (2, 3, 0, 1), (3, 2, 1, 0))  # reading, columns, bottom-up, reversed
#: Version of the sentence generator: a set built by another version is another set.
FORMAT_VERSION = 2
_VAL_START = 45_000  # CIFAR-10 training images from here on feed the validation grids only


@dataclasses.dataclass(frozen=True)
class CaptionExample:
    """One image of a captioning set: its file, id and tokenised reference sentences."""

    image_id: int
    path: str
    references: tuple[tuple[str, ...], ...]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def grid_sentence(labels: Sequence[int], rng: np.random.Generator) -> str:
    """One reference sentence for a grid whose cells (row-major) hold CIFAR-10 `labels`."""
    if len(labels) != 4:
        raise ValueError(f"a grid has 4 cells. Received: {len(labels)} labels")
    pick = int(rng.integers(len(_ORDERS) + 1))  # one more than the fixed orders: shuffled
    order = [int(c) for c in (rng.permutation(4) if pick == len(_ORDERS) else _ORDERS[pick])]
    clauses = []
    for cell in order:
        words = GRID_OBJECT_WORDS[int(labels[cell])]
        obj = words[rng.integers(len(words))]
        pos = GRID_POSITION_WORDS[cell][rng.integers(2)]
        clauses.append(_CLAUSES[rng.integers(len(_CLAUSES))].format(a=_article(obj), obj=obj, pos=pos))
    # An opener ("there is", ...) only before a clause that starts with its object.
    opener = _OPENERS[rng.integers(len(_OPENERS))] if clauses[0].startswith(("a ", "an ")) else ""
    return opener + ", ".join(clauses[:3]) + " and " + clauses[3]


def _grids(images: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator):
    """`count` grids `[64, 64, 3]` of four distinct images each, with their cell labels."""
    picks = np.stack([rng.choice(len(images), 4, replace=False) for _ in range(count)])
    cells = images[picks]  # [N, 4, 32, 32, 3]
    top = np.concatenate([cells[:, 0], cells[:, 1]], axis=2)
    bottom = np.concatenate([cells[:, 2], cells[:, 3]], axis=2)
    return np.concatenate([top, bottom], axis=1), labels[picks]


def build_cifar_captions(out_dir: str, data_dir: str | None = None, seed: int = 0, train: int = 10_000,
                         val: int = 500, test: int = 500, sentences: int = 5) -> str:
    """Builds (or finds already built) the CIFAR-10 grid captioning set; returns its JSON path.

    Args:
        out_dir: Folder for `captions.json` (Karpathy format) and `images/<split>/NNNNNN.png`.
        data_dir: Folder of the CIFAR-10 data (default `$TFNAS_DATA_DIR`).
        seed: Seed of every draw (images, orders, phrasings, synonyms).
        train: Training grids.
        val: Validation grids.
        test: Test grids.
        sentences: Reference sentences per grid.

    Raises:
        ValueError: for non-positive sizes, or an `out_dir` holding a set built with other settings.
        FileNotFoundError: when the CIFAR-10 data is missing (the message says where to put it).
    """
    import tensorflow as tf

    from tfnas import data

    settings = {"format": FORMAT_VERSION, "seed": seed, "train": train, "val": val, "test": test, "sentences": sentences}
    for name in ("train", "val", "test", "sentences"):
        if isinstance(settings[name], bool) or not isinstance(settings[name], int) or settings[name] < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={settings[name]!r}")
    json_path = os.path.join(out_dir, "captions.json")
    manifest_path = os.path.join(out_dir, "build.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            built = json.load(f)
        if built.get("settings") != settings:
            raise ValueError(f"{out_dir} holds a caption set built with {built.get('settings')}, not {settings}; "
                             "use another folder or delete it.")
        if os.path.exists(json_path):
            return json_path
    rng = np.random.default_rng(seed)
    train_ds, test_ds = data.load_splits("cifar10", data_dir=data_dir)

    def arrays(ds):
        xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds.batch(5000)))
        return np.concatenate(xs), np.concatenate(ys)

    train_x, train_y = arrays(train_ds)
    test_x, test_y = arrays(test_ds)
    sources = {"train": (train_x[:_VAL_START], train_y[:_VAL_START]),
               "val": (train_x[_VAL_START:], train_y[_VAL_START:]), "test": (test_x, test_y)}
    entries, image_id, sentence_id = [], 0, 0
    for split in SPLITS:
        grids, cell_labels = _grids(*sources[split], settings[split], rng)
        folder = os.path.join("images", split)
        os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
        for grid, labels in zip(grids, cell_labels):
            name = f"{image_id:06d}.png"
            tf.io.write_file(os.path.join(out_dir, folder, name), tf.io.encode_png(grid))
            raws = [grid_sentence(labels, rng) for _ in range(sentences)]
            entry = {"filepath": folder, "filename": name, "split": split, "imgid": image_id,
                     "cells": [int(v) for v in labels], "sentences": []}
            for raw in raws:
                entry["sentences"].append({"raw": raw, "tokens": tokenize(raw), "imgid": image_id, "sentid": sentence_id})
                sentence_id += 1
            entry["sentids"] = [s["sentid"] for s in entry["sentences"]]
            entries.append(entry)
            image_id += 1
    content = json.dumps({"dataset": "cifar10_grid", "images": entries}, sort_keys=True).encode()
    with open(json_path + ".tmp", "wb") as f:
        f.write(content)
    os.replace(json_path + ".tmp", json_path)
    with open(manifest_path, "w") as f:
        json.dump({"settings": settings, "sha256": hashlib.sha256(content).hexdigest()}, f, sort_keys=True)
    return json_path


def load_karpathy(json_path: str, image_root: str | None = None) -> dict[str, list[CaptionExample]]:
    """Reads a Karpathy-format caption JSON into `{"train", "val", "test"}` lists of examples.

    Args:
        json_path: The JSON (e.g. `dataset_coco.json`, or a built set's `captions.json`).
        image_root: Folder the entries' `filepath/filename` are relative to (default: the
            JSON's folder).

    Raises:
        FileNotFoundError: for a missing JSON, or image files that do not exist (with a count
            and the first missing path).
        ValueError: for a file that is not such a JSON (naming the entry and field at fault).
    """
    if not os.path.isfile(json_path):
        raise FileNotFoundError(f"caption file {json_path!r} not found: pass the Karpathy-split JSON "
                                "(dataset_coco.json), or build the CIFAR-10 set with build_cifar_captions.")
    try:
        with open(json_path) as f:
            content = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_path} is not valid JSON ({err}); re-download or rebuild it.") from None
    if not isinstance(content, dict) or not isinstance(content.get("images"), list):
        raise ValueError(f"{json_path} has no 'images' list: not a Karpathy-split caption file.")
    root = image_root if image_root is not None else os.path.dirname(os.path.abspath(json_path))
    splits: dict[str, list[CaptionExample]] = {s: [] for s in SPLITS}
    missing = []
    for index, entry in enumerate(content["images"]):
        try:
            split = {"restval": "train"}.get(entry["split"], entry["split"])
            path = os.path.join(root, entry.get("filepath", ""), entry["filename"])
            image_id = int(entry.get("cocoid", entry.get("imgid", index)))
            refs = tuple(tuple(str(t).lower() for t in s["tokens"]) for s in entry["sentences"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{json_path}: image entry {index} lacks or mangles a field ({err!r}); each entry "
                             "needs filename, split and sentences with tokens.") from None
        if split not in splits:
            raise ValueError(f"{json_path}: image entry {index} has split {entry['split']!r}; expected one of "
                             "train, restval, val, test.")
        if not refs or not all(refs):
            raise ValueError(f"{json_path}: image entry {index} ({entry['filename']}) has no or empty sentences.")
        if not os.path.isfile(path):
            missing.append(path)
        splits[split].append(CaptionExample(image_id, path, refs))
    if missing:
        raise FileNotFoundError(f"{len(missing)} image files listed in {json_path} do not exist, e.g. {missing[0]!r}; "
                                "pass image_root (--image_root) as the folder their filepath is relative to.")
    return splits


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Words of the training captions seen at least `min_count` times, after the special tokens.

    Id 0 is `<pad>`, 1 `<start>`, 2 `<end>`, 3 `<unk>` (every rarer or unseen word).

    Example:
    >>> vocab = Vocabulary.build([["a", "cat"], ["a", "dog"]], min_count=2)
    >>> vocab.words, vocab.encode(["a", "cat"], max_length=4)
    (('<pad>', '<start>', '<end>', '<unk>', 'a'), [1, 4, 3, 2, 0, 0])
    """

    words: tuple[str, ...]

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 5) -> Vocabulary:
        """From tokenised sentences; ties in frequency ordered alphabetically (deterministic)."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive integer. Received: min_count={min_count!r}")
        counts = Counter(t for s in sentences for t in s)
        kept = sorted((w for w, c in counts.items() if c >= min_count and w not in SPECIAL_TOKENS),
                      key=lambda w: (-counts[w], w))
        return cls(SPECIAL_TOKENS + tuple(kept))

    @property
    def size(self) -> int:
        return len(self.words)

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, tokens: Sequence[str], max_length: int) -> list[int]:
        """`<start> tokens <end>` as ids, truncated to `max_length` words, padded to `max_length + 2`."""
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1. Received: {max_length}")
        index = self.index()
        ids = [1] + [index.get(t, 3) for t in list(tokens)[:max_length]] + [2]
        return ids + [0] * (max_length + 2 - len(ids))

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of `ids` up to the first `<end>` (or `<pad>`), `<start>` skipped."""
        words = []
        for i in ids:
            i = int(i)
            if i in (0, 2):
                break
            if i != 1:
                words.append(self.words[i] if 0 <= i < len(self.words) else UNK)
        return words

    def to_dict(self) -> dict[str, Any]:
        return {"words": list(self.words)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        words = tuple(data.get("words", ()))
        if words[:len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary starts with {SPECIAL_TOKENS}. Received: {words[:4]}")
        return cls(words)


def caption_dataset(examples: Sequence[CaptionExample], vocab: Vocabulary, max_length: int, image_size: int,
                    mean: Sequence[float], std: Sequence[float], training: bool, batch_size: int,
                    seed: int = 0):
    """A batched `tf.data.Dataset` streaming images from their files.

    Training: one element per (image, reference) pair, shuffled each epoch from `seed`:
    `(image [S, S, 3] normalised, caption ids [max_length + 2])`. Evaluation: one element per
    image in order: `(image, image index into examples)`, the references looked up by index.

    Raises:
        ValueError: for no examples or a non-positive batch size.
    """
    import tensorflow as tf

    if not examples:
        raise ValueError("no caption examples: the split is empty.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1. Received: {batch_size}")
    mean_t = tf.constant(mean, tf.float32)
    std_t = tf.constant(std, tf.float32)

    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size)) / 255.0
        return (image - mean_t) / std_t

    if training:
        paths = [e.path for e in examples for _ in e.references]
        captions = np.array([vocab.encode(r, max_length) for e in examples for r in e.references], dtype=np.int32)
        ds = tf.data.Dataset.from_tensor_slices((paths, captions)).shuffle(len(paths), seed=seed,
                                                                          reshuffle_each_iteration=True)
        ds = ds.map(lambda p, c: (load(p), c), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = tf.data.Dataset.from_tensor_slices(([e.path for e in examples], np.arange(len(examples))))
        ds = ds.map(lambda p, i: (load(p), i), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
