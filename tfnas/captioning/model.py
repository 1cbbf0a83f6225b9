"""The captioning model: a CNN encoder's grid features, and an attention decoder around a recurrent cell.

- **Encoder** (`encode_features`): a zoo network or `keras.applications` model without its
  top; its last feature map is average-pooled to a `grid x grid` set of regions `V` (`[B, R, D]`).
  Frozen by default (features computed once and cached by the launch script), or fine-tuned.
- **Decoder** (`CaptionDecoder`), soft attention over the regions as in Show, Attend and Tell
  (Xu et al., arXiv 1502.03044) with input feeding: at step t the cell reads
  `[E w_{t-1}, c_{t-1}]` (the previous word's embedding and the previous context), then
  `a_t = softmax(w^T tanh(V W_v + h_t W_h))`, `c_t = sum_r a_{t,r} V_r`, and the word logits are
  `W_o tanh(W_c [h_t, c_t])`. The initial state and context come from the mean region
  (`h_0 = tanh(mean(V) W_init)`, `c_0 = mean(V)`). The cell is the searched AutoRNN cell
  (`tfnas.captioning.autornn`) or, for the hand-designed baseline, Keras's `LSTMCell`.
- Training is teacher forcing with the token cross-entropy masked at padding; decoding is
  greedy or beam search (`beam_search`: log-probability, finished beams kept, the best
  finished or, failing that, the best open beam returned).

References:
    - Zhu et al., AutoCaption: Image Captioning with Neural Architecture Search, arXiv 2012.09742.
    - Xu et al., Show, Attend and Tell, arXiv 1502.03044.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tfnas.captioning.autornn import AutoRNNCell

START_ID, END_ID, PAD_ID = 1, 2, 0


def make_cell(kind: str, units: int, genotype: str | None = None, num_nodes: int | None = None):
    """`"autornn"` (a fixed genotype, or the search cell with `num_nodes`) or `"lstm"` (the baseline)."""
    if kind == "lstm":
        return keras.layers.LSTMCell(units)
    if kind == "autornn":
        return AutoRNNCell(units, genotype=genotype, num_nodes=num_nodes)
    raise ValueError(f"cell must be 'autornn' or 'lstm'. Received: {kind!r}")


class CaptionDecoder(keras.Model):
    """Attention decoder over region features `[B, R, D]` (see the module doc).

    Args:
        vocab_size: Words, special tokens included.
        cell: The recurrent cell (an `AutoRNNCell` or `keras.layers.LSTMCell`).
        embed_dim: Word embedding size.
        attention_dim: Size of the attention's hidden layer.
        dropout: Dropout on the output layer's input (training only).
        **kwargs: Passed to `keras.Model`.
    """

    def __init__(self, vocab_size: int, cell, embed_dim: int = 64, attention_dim: int = 64, dropout: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if vocab_size < 4:
            raise ValueError(f"vocab_size must count the 4 special tokens at least. Received: {vocab_size}")
        self.vocab_size = vocab_size
        self.cell = cell
        self.units = int(cell.units)
        self.embedding = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
        self.init_state = keras.layers.Dense(self.units, activation="tanh", name="init_state")
        self.att_regions = keras.layers.Dense(attention_dim, use_bias=False, name="att_regions")
        self.att_state = keras.layers.Dense(attention_dim, name="att_state")
        self.att_score = keras.layers.Dense(1, use_bias=False, name="att_score")
        self.combine = keras.layers.Dense(self.units, activation="tanh", name="combine")
        self.dropout = keras.layers.Dropout(dropout)
        self.logits = keras.layers.Dense(vocab_size, name="logits")

    def initial(self, regions):
        """`(states, context, projected regions)` before the first word."""
        mean = keras.ops.mean(regions, axis=1)
        h = self.init_state(mean)
        states = [h, keras.ops.zeros_like(h)] if isinstance(self.cell, keras.layers.LSTMCell) else [h]
        return states, mean, self.att_regions(regions)

    def step(self, words, states, context, regions, projected, training: bool = False):
        """One word: returns `(logits [B, V], new states, new context, attention [B, R])`."""
        x = keras.ops.concatenate([self.embedding(words), context], axis=-1)
        h, states = self.cell(x, states, training=training)
        scores = self.att_score(keras.ops.tanh(projected + self.att_state(h)[:, None, :]))[..., 0]
        attention = keras.ops.softmax(scores, axis=-1)
        context = keras.ops.einsum("br,brd->bd", attention, regions)
        out = self.combine(keras.ops.concatenate([h, context], axis=-1))
        return self.logits(self.dropout(out, training=training)), list(states), context, attention

    def call(self, inputs, training: bool = False):
        """Teacher forcing: `(regions [B, R, D], words [B, T])` -> logits `[B, T, V]` (word t predicts t+1)."""
        regions, words = inputs
        states, context, projected = self.initial(regions)
        outputs = []
        for t in range(words.shape[1]):
            logits, states, context, _ = self.step(words[:, t], states, context, regions, projected, training)
            outputs.append(logits)
        return keras.ops.stack(outputs, axis=1)

    def greedy(self, regions, max_length: int):
        """`[B, max_length]` word ids, argmax at each step (`<end>` then padding)."""
        regions = keras.ops.convert_to_tensor(regions)
        batch = keras.ops.shape(regions)[0]
        states, context, projected = self.initial(regions)
        words = keras.ops.full((batch,), START_ID, dtype="int32")
        done = keras.ops.zeros((batch,), dtype="bool")
        out = []
        for _ in range(max_length):
            logits, states, context, _ = self.step(words, states, context, regions, projected)
            words = keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32")
            words = keras.ops.where(done, PAD_ID, words)
            out.append(words)
            done = keras.ops.logical_or(done, keras.ops.equal(words, END_ID))
        return keras.ops.stack(out, axis=1)

    def beam_search(self, regions, max_length: int, beam: int = 3) -> list[list[int]]:
        """Per image, the word ids of the most probable caption among `beam` hypotheses (eager, NumPy-side)."""
        if beam < 1:
            raise ValueError(f"beam must be >= 1. Received: {beam}")
        regions = np.asarray(regions, dtype="float32")
        results = []
        for image in regions:
            image = np.repeat(image[None], beam, axis=0)
            states, context, projected = self.initial(image)
            beams = [([], 0.0)]  # (words, log-prob); open beams only
            finished: list[tuple[list[int], float]] = []
            for _ in range(max_length):
                last = [b[0][-1] if b[0] else START_ID for b in beams]
                last = last + [START_ID] * (beam - len(last))
                logits, new_states, new_context, _ = self.step(
                    np.array(last, dtype="int32"), states, context, image, projected)
                log_probs = np.asarray(keras.ops.log_softmax(logits, axis=-1))
                candidates = []
                for b, (_, score) in enumerate(beams):
                    for w in np.argsort(log_probs[b])[::-1][:beam]:
                        candidates.append((score + float(log_probs[b, w]), b, int(w)))
                candidates.sort(key=lambda c: -c[0])
                keep, rows = [], []
                for score, b, w in candidates:
                    if w == END_ID:
                        finished.append((beams[b][0] + [w], score))
                    elif len(keep) < beam:
                        keep.append((beams[b][0] + [w], score))
                        rows.append(b)
                    if len(keep) == beam:
                        break
                if not keep or (finished and max(f[1] for f in finished) >= keep[0][1]):
                    break
                rows = rows + [rows[0]] * (beam - len(rows))
                states = [keras.ops.take(s, rows, axis=0) for s in new_states]
                context = keras.ops.take(new_context, rows, axis=0)
                beams = keep
            best = max(finished, key=lambda f: f[1]) if finished else max(beams, key=lambda b: b[1])
            results.append(best[0])
        return results


def masked_cross_entropy(targets, logits):
    """Mean token cross-entropy over the non-padding targets."""
    targets = keras.ops.cast(targets, "int32")
    ce = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    mask = keras.ops.cast(keras.ops.not_equal(targets, PAD_ID), ce.dtype)
    return keras.ops.sum(ce * mask) / keras.ops.maximum(keras.ops.sum(mask), 1.0)


def encode_features(encoder: keras.Model, images, grid: int):
    """Regions `[B, grid * grid, D]`: the encoder's feature map average-pooled to `grid x grid`."""
    features = encoder(images, training=False)
    height, width = int(features.shape[1]), int(features.shape[2])
    if height % grid or width % grid:
        raise ValueError(f"the encoder's {height}x{width} feature map does not split into a {grid}x{grid} grid.")
    pooled = keras.layers.AveragePooling2D((height // grid, width // grid))(features)
    return keras.ops.reshape(pooled, (-1, grid * grid, int(features.shape[-1])))


def train_decoder(decoder: CaptionDecoder, regions, captions: np.ndarray, epochs: int,
                  batch_size: int = 64, learning_rate: float = 5e-4, grad_clip: float = 5.0, seed: int = 0,
                  log=None, workdir: str | None = None, stop_after_epoch: int | None = None) -> list[float]:
    """Teacher-forced training on `(regions [N, R, D], captions [N, T] ids)`; returns the epoch mean losses.

    `regions` is anything indexed by an array of rows: an array, or `pipeline.RowsOf` (each
    image's features once, repeated per caption by index).

    Adam, gradients clipped to `grad_clip` global norm; the data are shuffled each epoch from `seed`.
    With `workdir`, the decoder, the optimizer and the shuffling state are saved after every
    epoch (`checkpoints/`, `tfnas.runs.LoopCheckpoint`) and a rerun resumes after the last saved epoch.

    Raises:
        ValueError: for mismatched lengths, an empty set, or a non-finite loss.
    """
    import os

    import tensorflow as tf

    from tfnas.runs import LoopCheckpoint

    if len(regions) != len(captions) or not len(captions):
        raise ValueError(f"regions and captions must be non-empty and of one length. Received: {len(regions)} "
                         f"and {len(captions)}")
    optimizer = keras.optimizers.Adam(learning_rate, global_clipnorm=grad_clip if grad_clip > 0 else None)
    optimizer.build(decoder.trainable_variables)

    @tf.function
    def train_step(r, c):
        with tf.GradientTape() as tape:
            loss = masked_cross_entropy(c[:, 1:], decoder((r, c[:, :-1]), training=True))
        variables = decoder.trainable_variables
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    rng = np.random.default_rng(seed)
    losses: list[float] = []
    resume = None
    if workdir is not None:
        resume = LoopCheckpoint(os.path.join(workdir, "checkpoints"), decoder=decoder, optimizer=optimizer)
        state = resume.restore()
        if state is not None:
            rng.bit_generator.state = state["rng"]
            losses = state["losses"]
            if log is not None:
                log(f"resumed after epoch {len(losses)}")
    for epoch in range(len(losses), epochs):
        order = rng.permutation(len(captions))
        total = steps = 0
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            total += float(train_step(tf.constant(regions[rows]), tf.constant(captions[rows])))
            steps += 1
        losses.append(total / steps)
        if not np.isfinite(losses[-1]):
            raise ValueError(f"the captioning loss became non-finite at epoch {epoch + 1}; lower the learning rate.")
        if log is not None:
            log(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}")
        if resume is not None:
            resume.save({"rng": rng.bit_generator.state, "losses": losses})
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    return losses


def train_end_to_end(encoder: keras.Model, grid: int, decoder: CaptionDecoder, batches, epochs: int,
                     learning_rate: float = 5e-4, encoder_learning_rate: float = 5e-5, grad_clip: float = 5.0,
                     log=None, workdir: str | None = None) -> list[float]:
    """Trains the encoder and the decoder together on `(images, caption ids)` batches.

    The encoder runs in inference mode (its BatchNorm statistics frozen, its weights trained:
    the usual way to fine-tune a CNN on small batches); each side has its own Adam (the
    encoder's at `encoder_learning_rate`), both clipped. `batches(epoch)` gives the epoch's
    dataset (seeded per epoch, so a resumed run sees the same order). With `workdir`, the
    encoder, the decoder and both optimizers are saved after every epoch and a rerun resumes.

    Returns:
        The epoch mean losses.

    Raises:
        ValueError: for a non-finite loss.
    """
    import os

    import tensorflow as tf

    from tfnas.runs import LoopCheckpoint

    clip = grad_clip if grad_clip > 0 else None
    dec_opt = keras.optimizers.Adam(learning_rate, global_clipnorm=clip)
    enc_opt = keras.optimizers.Adam(encoder_learning_rate, global_clipnorm=clip)
    dec_vars, enc_vars = decoder.trainable_variables, encoder.trainable_variables
    dec_opt.build(dec_vars)
    enc_opt.build(enc_vars)

    @tf.function
    def train_step(images, captions):
        with tf.GradientTape() as tape:
            regions = encode_features(encoder, images, grid)
            loss = masked_cross_entropy(captions[:, 1:], decoder((regions, captions[:, :-1]), training=True))
        grads = tape.gradient(loss, dec_vars + enc_vars)
        dec_opt.apply(grads[:len(dec_vars)], dec_vars)
        enc_opt.apply(grads[len(dec_vars):], enc_vars)
        return loss

    losses: list[float] = []
    resume = None
    if workdir is not None:
        resume = LoopCheckpoint(os.path.join(workdir, "checkpoints"), encoder=encoder, decoder=decoder,
                                decoder_optimizer=dec_opt, encoder_optimizer=enc_opt)
        state = resume.restore()
        if state is not None:
            losses = state["losses"]
            if log is not None:
                log(f"resumed after epoch {len(losses)}")
    for epoch in range(len(losses), epochs):
        total = steps = 0
        for images, captions in batches(epoch):
            total += float(train_step(images, captions))
            steps += 1
        losses.append(total / max(steps, 1))
        if not np.isfinite(losses[-1]):
            raise ValueError(f"the captioning loss became non-finite at epoch {epoch + 1}; lower the learning rates.")
        if log is not None:
            log(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}")
        if resume is not None:
            resume.save({"losses": losses})
    return losses


def evaluate_captions(decoder: CaptionDecoder, regions: np.ndarray, references, vocab, max_length: int,
                      beam: int = 1, batch_size: int = 128) -> dict[str, Any]:
    """BLEU-1..4 and CIDEr-D of the decoder's captions (greedy for `beam=1`, else beam search).

    Args:
        regions: `[N, R, D]` region features.
        references: N tuples of tokenised reference sentences.
        vocab: The `Vocabulary`.
        max_length: Longest caption generated.
        beam: Beam size.
        batch_size: Images per greedy call.

    Returns:
        `{"cider_d", "bleu_1".."bleu_4", "captions": [str, ...]}`.
    """
    from tfnas.captioning.metrics import bleu, cider_d

    if beam == 1:
        ids = np.concatenate([np.asarray(decoder.greedy(regions[i:i + batch_size], max_length))
                              for i in range(0, len(regions), batch_size)])
    else:
        ids = decoder.beam_search(regions, max_length, beam=beam)
    captions = {i: vocab.decode(row) for i, row in enumerate(ids)}
    refs = {i: [list(r) for r in references[i]] for i in range(len(references))}
    scores = bleu(captions, refs)
    return {"cider_d": cider_d(captions, refs), **{f"bleu_{k + 1}": s for k, s in enumerate(scores)},
            "captions": [" ".join(captions[i]) for i in range(len(captions))]}
