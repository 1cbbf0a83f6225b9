"""The caption data: the CIFAR-10 grid set (built from the real data), the Karpathy-format
loader on a file made here, the vocabulary and the tf.data pipelines."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfnas.captioning.data import (
    GRID_OBJECT_WORDS,
    GRID_POSITION_WORDS,
    Vocabulary,
    build_cifar_captions,
    caption_dataset,
    grid_sentence,
    load_karpathy,
)


def test_grid_sentences_name_every_object_at_its_position_in_varied_orders():
    rng = np.random.default_rng(0)
    labels = [3, 8, 0, 9]  # cat, ship, airplane, truck
    sentences = [grid_sentence(labels, rng) for _ in range(40)]
    for sentence in sentences:
        for cell, label in enumerate(labels):
            assert any(w in sentence for w in GRID_OBJECT_WORDS[label]), sentence
            assert any(p in sentence for p in GRID_POSITION_WORDS[cell]), sentence
    first_named = {min(GRID_POSITION_WORDS[c][0] in s and s.index(GRID_POSITION_WORDS[c][0]) or
                       s.index(GRID_POSITION_WORDS[c][1]) for c in range(4)) for s in sentences}
    assert len(set(sentences)) == 40 and len(first_named) > 1
    openers = ("there is ", "this grid shows ", "we can see ", "four pictures with ")
    for sentence in sentences:  # an opener only before an object: "there is a cat ...", never "there is the top left"
        for opener in openers:
            if sentence.startswith(opener):
                assert sentence[len(opener):].startswith(("a ", "an ")), sentence
    assert "an airplane" in " ".join(sentences) or "an aircraft" in " ".join(sentences)
    with pytest.raises(ValueError, match="4 cells"):
        grid_sentence([1, 2], rng)


@pytest.mark.slow
def test_cifar_caption_set_is_deterministic_and_reads_back(tmp_path, data_dir):
    sizes = dict(seed=3, train=6, val=2, test=2, sentences=5)
    first = build_cifar_captions(str(tmp_path / "a"), data_dir=str(data_dir), **sizes)
    second = build_cifar_captions(str(tmp_path / "b"), data_dir=str(data_dir), **sizes)
    assert open(first, "rb").read() == open(second, "rb").read()
    for name in ("000000.png", "000005.png"):
        assert (tmp_path / "a/images/train" / name).read_bytes() == (tmp_path / "b/images/train" / name).read_bytes()
    splits = load_karpathy(first)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    example = splits["test"][0]
    image = tf.io.decode_png(tf.io.read_file(example.path)).numpy()
    assert image.shape == (64, 64, 3) and len(example.references) == 5
    entry = json.loads(open(first).read())["images"][example.image_id]
    for label in entry["cells"]:  # every reference names every object
        for ref in example.references:
            assert set(ref) & set(GRID_OBJECT_WORDS[label])
    # The same folder again: found, not rebuilt; other settings there: refused.
    assert build_cifar_captions(str(tmp_path / "a"), data_dir=str(data_dir), **sizes) == first
    with pytest.raises(ValueError, match="built with"):
        build_cifar_captions(str(tmp_path / "a"), data_dir=str(data_dir), **{**sizes, "seed": 4})
    other = build_cifar_captions(str(tmp_path / "c"), data_dir=str(data_dir), **{**sizes, "seed": 4})
    assert open(other, "rb").read() != open(first, "rb").read()


def _coco_file(tmp_path, entries=None):
    """A small dataset_coco.json in Karpathy's format, with PNGs under train2014/ and val2014/."""
    for folder in ("train2014", "val2014"):
        os.makedirs(tmp_path / folder, exist_ok=True)
    pixels = tf.zeros([8, 8, 3], tf.uint8)
    if entries is None:
        entries = []
        for i, (folder, split) in enumerate([("train2014", "train"), ("val2014", "restval"), ("val2014", "val"),
                                             ("val2014", "test")]):
            name = f"COCO_{folder}_{i:012d}.jpg"
            tf.io.write_file(str(tmp_path / folder / name), tf.io.encode_png(pixels))
            entries.append({"filepath": folder, "filename": name, "split": split, "imgid": i, "cocoid": 100 + i,
                            "sentences": [{"tokens": ["A", "man", "riding", "a", "horse"], "raw": "A man riding a horse.",
                                           "imgid": i, "sentid": 2 * i},
                                          {"tokens": ["a", "horse"], "raw": "a horse", "imgid": i,
                                           "sentid": 2 * i + 1}]})
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps({"images": entries, "dataset": "coco"}))
    return path


def test_karpathy_loader_reads_a_coco_format_file(tmp_path):
    splits = load_karpathy(str(_coco_file(tmp_path)))
    assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 1, 1]  # restval joins train
    example = splits["train"][1]
    assert example.image_id == 101 and example.path.endswith("val2014/COCO_val2014_000000000001.jpg")
    assert example.references == (("a", "man", "riding", "a", "horse"), ("a", "horse"))


def test_karpathy_loader_refuses_bad_files_with_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset_coco.json"):
        load_karpathy(str(tmp_path / "nothing.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_karpathy(str(tmp_path / "bad.json"))
    path = _coco_file(tmp_path)
    with pytest.raises(FileNotFoundError, match="4 image files.*image_root"):
        load_karpathy(str(path), image_root=str(tmp_path / "elsewhere"))
    entries = json.loads(path.read_text())["images"]
    del entries[0]["sentences"]
    with pytest.raises(ValueError, match="entry 0 lacks"):
        load_karpathy(str(_coco_file(tmp_path, entries)))
    entries = json.loads(_coco_file(tmp_path).read_text())["images"]
    entries[1]["split"] = "dev"
    with pytest.raises(ValueError, match="split 'dev'"):
        load_karpathy(str(_coco_file(tmp_path, entries)))


def test_vocabulary_thresholds_pads_truncates_and_round_trips():
    sentences = [["a", "cat"], ["a", "dog"], ["a", "cat", "sat"]]
    vocab = Vocabulary.build(sentences, min_count=2)
    assert vocab.words == ("<pad>", "<start>", "<end>", "<unk>", "a", "cat")
    assert vocab.encode(["a", "dog", "cat"], max_length=5) == [1, 4, 3, 5, 2, 0, 0]
    assert vocab.encode(["a", "cat", "a", "cat"], max_length=2) == [1, 4, 5, 2]  # truncated, then <end>
    assert vocab.decode([1, 4, 5, 2, 4]) == ["a", "cat"]
    assert Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict()))) == vocab
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.build(sentences, min_count=0)
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary.from_dict({"words": ["a"]})


def test_caption_datasets_stream_pairs_for_training_and_images_for_evaluation(tmp_path):
    splits = load_karpathy(str(_coco_file(tmp_path)))
    vocab = Vocabulary.build([r for e in splits["train"] for r in e.references], min_count=1)
    train = caption_dataset(splits["train"], vocab, max_length=4, image_size=16, mean=(0.5,) * 3, std=(0.25,) * 3,
                            training=True, batch_size=3)
    batches = list(train)
    assert sum(int(b[0].shape[0]) for b in batches) == 4  # 2 images x 2 references
    images, captions = batches[0]
    assert images.shape[1:] == (16, 16, 3) and captions.shape[1:] == (6,)
    np.testing.assert_allclose(images.numpy(), -2.0)  # black pixels, normalised
    evaluation = list(caption_dataset(splits["test"], vocab, 4, 16, (0.5,) * 3, (0.25,) * 3, training=False,
                                      batch_size=8))
    assert len(evaluation) == 1 and evaluation[0][1].numpy().tolist() == [0]
    with pytest.raises(ValueError, match="empty"):
        caption_dataset([], vocab, 4, 16, (0.5,) * 3, (0.25,) * 3, training=True, batch_size=2)
