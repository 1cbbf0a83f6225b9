"""AutoCaption's search: ENAS-style reinforcement learning over shared decoder weights.

Each epoch alternates, as ENAS does:

1. **Shared weights**: one pass over the training captions; every batch trains the shared
   decoder (`CaptionDecoder` around the search `AutoRNNCell`) with a cell drawn from the
   controller (teacher forcing, Adam, gradient clipping). One traced step serves every cell:
   the cell's architecture lives in variables (`AutoRNNCell.set_architecture`).
2. **Controller**: `controller_steps` updates, each aggregating `controller_aggregate` drawn
   cells; a cell's reward is the CIDEr-D of its greedy captions on `reward_images` validation
   images (a fresh slice each draw, CIDEr-D's corpus the whole validation split), plus
   `entropy_weight` times its decisions' entropy; REINFORCE with a moving-average baseline
   (decay `baseline_decay`), Adam.

After the last epoch the controller's cell is derived as ENAS does: `derive_samples` cells
drawn, each scored with the shared weights on the whole validation split, the best kept.

The run lives in a workdir: `checkpoints/` (decoder, controller, optimizers, baseline) and
`checkpoints/loop_state.json` (finished epochs, the NumPy generator's state, the history;
`tfnas.runs.LoopCheckpoint`, hash-checked) written after every
epoch, so an interrupted search resumes where it stopped and ends with the genotype the
uninterrupted one would have (tested).

Defaults: the controller's are ENAS's Penn Treebank search values (Adam 1e-3, 10 cells
aggregated per update, entropy weight 1e-3, baseline decay 0.99; 100 updates per epoch there,
fewer here for CPU budgets: `controller_steps`), 8 nodes where ENAS uses 12. AutoCaption does not
publish its own values in a form that could be read offline. The decoder's Adam rate is 2e-3:
the usual captioning 5e-4 (Up-Down) is for about 9,000 steps an epoch on MSCOCO; on the
CIFAR-10 grid set (a few hundred steps an epoch) 2e-3 learns several times faster (an LSTM
decoder: validation CIDEr-D 1.17 after 4 epochs at 2e-3, where the shared decoder at 5e-4 was
still near 0.05 after 3).

References:
    - Zhu et al., AutoCaption: Image Captioning with Neural Architecture Search, arXiv 2012.09742.
    - Pham et al., Efficient Neural Architecture Search via Parameter Sharing, arXiv 1802.03268.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class CaptionSearchConfig:
    """Hyper-parameters of the AutoCaption search (see the module doc for their sources).

    Args:
        num_nodes: Nodes of the searched AutoRNN cell (ENAS: 12).
        units: Recurrent state size of the decoder.
        embed_dim: Word embedding size.
        attention_dim: Attention hidden size.
        epochs: Search epochs (a pass over the training captions, then the controller updates).
        batch_size: Captions per shared-weight step.
        learning_rate: Adam learning rate of the shared decoder (and of the child's training).
        grad_clip: Global-norm clip of the decoder's gradients (0 disables).
        controller_learning_rate: Adam learning rate of the controller (ENAS: 1e-3).
        controller_steps: Controller updates per epoch (ENAS: 100).
        controller_aggregate: Cells drawn per controller update (ENAS: 10).
        entropy_weight: Weight of the decisions' entropy in the reward (ENAS: 1e-3).
        baseline_decay: Moving-average decay of the REINFORCE baseline (ENAS: 0.99).
        reward_images: Validation images captioned per reward.
        derive_samples: Cells drawn and scored on the whole validation split at the end.
        max_length: Longest caption (words), in training and decoding (unset: the data's, see
            `pipeline.prepare`).
        seed: Seed of initialisation, sampling and shuffling.
        highway: Highway-gated nodes (ENAS's cell; `autornn` module doc); the derived genotype
            then reads `highway:...`.

    Raises:
        ValueError: naming the field that is out of range.
    """

    num_nodes: int = 8
    units: int = 128
    embed_dim: int = 64
    attention_dim: int = 64
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 2e-3
    grad_clip: float = 5.0
    controller_learning_rate: float = 1e-3
    controller_steps: int = 20
    controller_aggregate: int = 10
    entropy_weight: float = 1e-3
    baseline_decay: float = 0.99
    reward_images: int = 100
    derive_samples: int = 10
    max_length: int | None = None
    seed: int = 0
    highway: bool = False

    def __post_init__(self) -> None:
        for name in ("num_nodes", "units", "embed_dim", "attention_dim", "epochs", "batch_size", "controller_steps",
                     "controller_aggregate", "reward_images", "derive_samples", "max_length"):
            value = getattr(self, name)
            if name == "max_length" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        for name in ("learning_rate", "controller_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0. Received: {name}={getattr(self, name)!r}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must be in [0, 1). Received: {self.baseline_decay!r}")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        if not self.highway:  # recorded only when set, so a search of before resumes
            del values["highway"]
        return values


class CaptionSearch:
    """The search's state: shared decoder, controller, optimizers, baseline (see the module doc).

    Args:
        config: The `CaptionSearchConfig`.
        vocab_size: Words of the vocabulary.
        feature_dim: Size of a region feature.
    """

    def __init__(self, config: CaptionSearchConfig, vocab_size: int, feature_dim: int) -> None:
        import keras
        import tensorflow as tf

        from tfnas.captioning.autornn import AutoRNNCell
        from tfnas.captioning.controller import CellController
        from tfnas.captioning.model import CaptionDecoder, masked_cross_entropy

        if config.max_length is None:
            raise ValueError("CaptionSearchConfig.max_length is unset: give the data's (CaptionData.max_length).")
        keras.utils.set_random_seed(config.seed)
        self.config = config
        self.cell = AutoRNNCell(config.units, num_nodes=config.num_nodes, highway=config.highway, name="search_cell")
        self.decoder = CaptionDecoder(vocab_size, self.cell, embed_dim=config.embed_dim,
                                      attention_dim=config.attention_dim, name="shared_decoder")
        self.decoder((np.zeros((1, 2, feature_dim), "float32"), np.zeros((1, 1), "int32")))  # build
        self.controller = CellController(config.num_nodes, name="controller")
        self.optimizer = keras.optimizers.Adam(config.learning_rate,
                                               global_clipnorm=config.grad_clip if config.grad_clip > 0 else None)
        self.controller_optimizer = keras.optimizers.Adam(config.controller_learning_rate)
        self.optimizer.build(self.decoder.trainable_variables)
        self.controller_optimizer.build(self.controller.trainable_variables)
        self.baseline = tf.Variable(0.0, trainable=False)
        self.baseline_started = tf.Variable(False, trainable=False)
        decoder = self.decoder

        @tf.function(reduce_retracing=True)
        def train_step(regions, captions):
            with tf.GradientTape() as tape:
                loss = masked_cross_entropy(captions[:, 1:], decoder((regions, captions[:, :-1]), training=True))
            variables = decoder.trainable_variables
            self.optimizer.apply(tape.gradient(loss, variables), variables)
            return loss

        self._train_step = train_step
        self._greedy = tf.function(lambda regions: decoder.greedy(regions, config.max_length), reduce_retracing=True)
        self.objects = dict(decoder=self.decoder, controller=self.controller, optimizer=self.optimizer,
                            controller_optimizer=self.controller_optimizer, baseline=self.baseline,
                            baseline_started=self.baseline_started)

    def sample(self, rng: np.random.Generator):
        """A cell drawn from the controller, with the search's highway setting."""
        return dataclasses.replace(self.controller.sample(rng), highway=self.config.highway)

    def cider_of(self, genotype, regions: np.ndarray, keys, scorer, vocab) -> float:
        """CIDEr-D of a cell's greedy captions for `regions` (image ids `keys` in `scorer`'s corpus)."""
        self.cell.set_architecture(genotype)
        ids = np.asarray(self._greedy(regions))
        return scorer.score({k: vocab.decode(row) for k, row in zip(keys, ids)})

    def train_shared(self, regions, captions: np.ndarray, rng: np.random.Generator) -> float:
        """One pass over the training captions, a drawn cell per batch; returns the mean loss."""
        order = rng.permutation(len(captions))
        losses = []
        for start in range(0, len(order), self.config.batch_size):
            rows = order[start:start + self.config.batch_size]
            self.cell.set_architecture(self.sample(rng))
            losses.append(float(self._train_step(regions[rows], captions[rows])))
        loss = float(np.mean(losses))
        if not np.isfinite(loss):
            raise ValueError("the shared decoder's loss became non-finite; lower --learning_rate.")
        return loss

    def train_controller(self, val_regions: np.ndarray, scorer, vocab, rng: np.random.Generator) -> dict[str, float]:
        """`controller_steps` REINFORCE updates; returns the mean reward and entropy."""
        import tensorflow as tf

        config = self.config
        variables = self.controller.trainable_variables
        rewards, entropies = [], []
        for _ in range(config.controller_steps):
            grads = [tf.zeros_like(v) for v in variables]
            for _ in range(config.controller_aggregate):
                genotype = self.sample(rng)
                keys = rng.choice(len(val_regions), min(config.reward_images, len(val_regions)), replace=False)
                cider = self.cider_of(genotype, val_regions[keys], [int(k) for k in keys], scorer, vocab)
                with tf.GradientTape() as tape:
                    log_prob, entropy = self.controller.log_prob_and_entropy(genotype)
                    reward = cider + config.entropy_weight * float(entropy)
                    baseline = float(self.baseline) if bool(self.baseline_started) else reward
                    loss = -log_prob * (reward - baseline) / config.controller_aggregate
                grads = [g + d for g, d in zip(grads, tape.gradient(loss, variables))]
                self.baseline.assign(config.baseline_decay * baseline + (1 - config.baseline_decay) * reward)
                self.baseline_started.assign(True)
                rewards.append(cider)
                entropies.append(float(entropy))
            self.controller_optimizer.apply(grads, variables)
        return {"reward_cider_d": float(np.mean(rewards)), "controller_entropy": float(np.mean(entropies))}

    def derive(self, val_regions: np.ndarray, scorer, vocab, rng: np.random.Generator):
        """ENAS's derivation: the best of `derive_samples` drawn cells on the whole validation split."""
        keys = list(range(len(val_regions)))
        scored = []
        for _ in range(self.config.derive_samples):
            genotype = self.sample(rng)
            scored.append((self.cider_of(genotype, val_regions, keys, scorer, vocab), genotype.to_string()))
        best = max(scored, key=lambda s: s[0])
        return best[1], best[0], scored


def run_search(config: CaptionSearchConfig, train_regions, train_captions: np.ndarray,
               val_regions: np.ndarray, val_references, vocab, workdir: str, log=print,
               stop_after_epoch: int | None = None) -> dict[str, Any]:
    """Runs (or resumes) the search in `workdir`; returns the derived cell and the history.

    Args:
        config: The search's hyper-parameters.
        train_regions: `[N, R, D]` region features of the training captions' images, one row per
            caption (an array, or `pipeline.RowsOf`).
        train_captions: `[N, T]` caption ids.
        val_regions: `[M, R, D]` validation images.
        val_references: M tuples of tokenised references.
        vocab: The `Vocabulary`.
        workdir: The run folder (`checkpoints/`, `search.json`).
        log: Progress lines.
        stop_after_epoch: Stop after this epoch (a simulated interruption, for tests).

    Returns:
        `{"genotype", "val_cider_d", "derived", "history", "search_cpu_seconds", "resumed_from_epoch"}`.

    Raises:
        ValueError: if `workdir` holds a search with another config.
    """

    from tfnas.captioning.metrics import CiderD
    from tfnas.runs import LoopCheckpoint, check_run_config, write_json

    check_run_config(workdir, {"caption_search": config.to_dict(), "train_captions": int(len(train_captions)),
                               "val_images": int(len(val_regions)), "vocab_size": vocab.size}, what="search")
    search = CaptionSearch(config, vocab.size, int(train_regions.shape[-1]))
    scorer = CiderD({i: [list(r) for r in refs] for i, refs in enumerate(val_references)})
    resume = LoopCheckpoint(os.path.join(workdir, "checkpoints"), **search.objects)
    rng = np.random.default_rng(config.seed)
    history: list[dict[str, Any]] = []
    start_epoch, cpu_spent = 0, 0.0
    state = resume.restore()
    if state is not None:
        rng.bit_generator.state = state["rng"]
        history, start_epoch, cpu_spent = state["history"], state["epochs_done"], state["cpu_seconds"]
        log(f"resumed after epoch {start_epoch}")
    resumed_from = start_epoch
    for epoch in range(start_epoch, config.epochs):
        cpu, wall = time.process_time(), time.perf_counter()
        loss = search.train_shared(train_regions, train_captions, rng)
        controller = search.train_controller(val_regions, scorer, vocab, rng)
        cpu_spent += time.process_time() - cpu
        history.append({"epoch": epoch + 1, "loss": loss, **controller, "seconds": time.perf_counter() - wall,
                        "greedy_cell": dataclasses.replace(search.controller.decide(None)[0],
                                                          highway=config.highway).to_string()})
        log(f"epoch {epoch + 1}/{config.epochs}: loss {loss:.4f}, reward CIDEr-D {controller['reward_cider_d']:.3f}, "
            f"cell {history[-1]['greedy_cell']}")
        resume.save({"epochs_done": epoch + 1, "rng": rng.bit_generator.state, "history": history,
                     "cpu_seconds": cpu_spent})
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < config.epochs:
            return {"stopped_after_epoch": epoch + 1}
    derive_rng = np.random.default_rng([config.seed, 1])  # derivation independent of where a run resumed
    cpu = time.process_time()
    genotype, cider, scored = search.derive(val_regions, scorer, vocab, derive_rng)
    cpu_spent += time.process_time() - cpu
    report = {"genotype": genotype, "val_cider_d": cider, "derived": [{"genotype": g, "val_cider_d": c}
                                                                      for c, g in scored],
              "history": history, "search_cpu_seconds": cpu_spent, "resumed_from_epoch": resumed_from}
    write_json(os.path.join(workdir, "search.json"), report)
    return report
