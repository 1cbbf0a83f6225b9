"""The attention decoder: shapes, greedy and beam decoding, the masked loss, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas.captioning.data import Vocabulary
from tfnas.captioning.model import (
    CaptionDecoder,
    evaluate_captions,
    make_cell,
    masked_cross_entropy,
    train_decoder,
)


def _toy(n: int = 48, seed: int = 0):
    """Region r of 4 lights up for class k; the caption names the class word and its region."""
    rng = np.random.default_rng(seed)
    words = ["cat", "dog", "ship"]
    places = ["left", "right", "top", "bottom"]
    vocab = Vocabulary.build([[w] for w in words] + [[p] for p in places] + [["a", "in"]], min_count=1)
    regions = rng.normal(0, 0.1, size=(n, 4, 6)).astype("float32")
    refs, captions = [], []
    for i in range(n):
        k, r = i % 3, (i // 3) % 4
        regions[i, r, k] += 3.0
        sentence = ["a", words[k], "in", places[r]]
        refs.append((tuple(sentence),))
        captions.append(vocab.encode(sentence, max_length=6))
    return regions, np.array(captions, dtype="int32"), refs, vocab


@pytest.mark.parametrize("kind, genotype", [("lstm", None), ("autornn", "tanh|relu<0"), ("autornn", "tanh")])
def test_decoder_shapes_and_decoding(kind, genotype):
    regions, captions, _, vocab = _toy(6)
    decoder = CaptionDecoder(vocab.size, make_cell(kind, 8, genotype=genotype), embed_dim=5, attention_dim=7)
    logits = decoder((regions, captions[:, :-1]))
    assert logits.shape == (6, 7, vocab.size)
    greedy = np.asarray(decoder.greedy(regions, 5))
    assert greedy.shape == (6, 5)
    ended = greedy == 2
    for row, end in zip(greedy, ended):  # padding after <end>
        if end.any():
            assert (row[int(np.argmax(end)) + 1:] == 0).all()
    beams = decoder.beam_search(regions[:2], 5, beam=1)
    for b, g in zip(beams, greedy[:2]):  # beam 1 is greedy up to its <end>
        assert b == [int(w) for w in g[:len(b)]]


def test_masked_cross_entropy_ignores_padding():
    logits = tf.random.normal([2, 3, 5], seed=1)
    targets = tf.constant([[3, 2, 0], [4, 0, 0]])
    import keras

    ce = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True).numpy()
    expected = (ce[0, 0] + ce[0, 1] + ce[1, 0]) / 3
    np.testing.assert_allclose(float(masked_cross_entropy(targets, logits)), expected, rtol=1e-6)


@pytest.mark.parametrize("kind, genotype", [("lstm", None), ("autornn", "tanh|tanh<0")])
def test_decoder_learns_to_name_the_object_and_where_it_is(kind, genotype):
    """Needs the attention: the class and the place both live in which region lights up."""
    import keras

    keras.utils.set_random_seed(0)
    regions, captions, refs, vocab = _toy(48)
    decoder = CaptionDecoder(vocab.size, make_cell(kind, 32, genotype=genotype), embed_dim=16, attention_dim=16)
    before = evaluate_captions(decoder, regions, refs, vocab, max_length=6)
    losses = train_decoder(decoder, regions, captions, epochs=60, batch_size=16, learning_rate=1e-2)
    after = evaluate_captions(decoder, regions, refs, vocab, max_length=6)
    beam = evaluate_captions(decoder, regions, refs, vocab, max_length=6, beam=3)
    assert losses[-1] < 0.2 * losses[0]
    assert before["cider_d"] < 1.0 and after["cider_d"] > 4.0 and after["bleu_4"] > 0.6, after["captions"][:4]
    assert beam["cider_d"] >= after["cider_d"] - 0.5


def test_child_training_resumes_after_a_kill(tmp_path):
    import keras

    regions, captions, _, vocab = _toy(24)

    def fresh():
        keras.utils.set_random_seed(3)
        decoder = CaptionDecoder(vocab.size, make_cell("autornn", 8, genotype="tanh|relu<0"), embed_dim=4,
                                 attention_dim=4)
        decoder((regions[:1], captions[:1, :-1]))
        return decoder

    full = train_decoder(fresh(), regions, captions, epochs=3, batch_size=8, learning_rate=1e-2,
                         workdir=str(tmp_path / "full"))
    part = train_decoder(fresh(), regions, captions, epochs=3, batch_size=8, learning_rate=1e-2,
                         workdir=str(tmp_path / "part"), stop_after_epoch=1)
    assert len(part) == 1
    resumed_decoder = fresh()
    resumed = train_decoder(resumed_decoder, regions, captions, epochs=3, batch_size=8, learning_rate=1e-2,
                            workdir=str(tmp_path / "part"))
    np.testing.assert_allclose(resumed, full, rtol=1e-5)


def test_end_to_end_training_moves_the_encoder_and_resumes(tmp_path):
    """Fine-tuning: the encoder's kernels move, its BatchNorm statistics do not, the loss falls,
    and a run killed after epoch 1 resumes to the same losses."""
    import keras

    from tfnas.captioning.model import train_end_to_end

    rng = np.random.default_rng(0)
    images = rng.normal(size=(16, 8, 8, 3)).astype("float32")
    vocab_size = 8
    captions = np.concatenate([np.ones((16, 1)), rng.integers(4, vocab_size, size=(16, 3)), 2 * np.ones((16, 1))],
                              axis=1).astype("int32")

    def fresh():
        keras.utils.set_random_seed(5)
        encoder = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(6, 3, padding="same"),
                                    keras.layers.BatchNormalization()])
        decoder = CaptionDecoder(vocab_size, make_cell("autornn", 8, genotype="tanh"), embed_dim=4, attention_dim=4)
        return encoder, decoder

    def batches(epoch):
        return tf.data.Dataset.from_tensor_slices((images, captions)).shuffle(16, seed=epoch).batch(8)

    encoder, decoder = fresh()
    before = [np.array(w) for w in encoder.get_weights()]
    full = train_end_to_end(encoder, 2, decoder, batches, 3, learning_rate=1e-2, encoder_learning_rate=1e-2,
                            workdir=str(tmp_path / "full"))
    after = encoder.get_weights()
    assert np.abs(after[0] - before[0]).max() > 0  # the conv kernel moved
    np.testing.assert_array_equal(after[-2], before[-2])  # BatchNorm's moving mean did not
    assert full[-1] < full[0]

    class Kill(Exception):
        pass

    def killing(epoch):
        if epoch == 1:
            raise Kill
        return batches(epoch)

    encoder, decoder = fresh()
    with pytest.raises(Kill):
        train_end_to_end(encoder, 2, decoder, killing, 3, learning_rate=1e-2, encoder_learning_rate=1e-2,
                         workdir=str(tmp_path / "part"))
    encoder, decoder = fresh()
    resumed = train_end_to_end(encoder, 2, decoder, batches, 3, learning_rate=1e-2, encoder_learning_rate=1e-2,
                               workdir=str(tmp_path / "part"))
    np.testing.assert_allclose(resumed, full, rtol=1e-5)
