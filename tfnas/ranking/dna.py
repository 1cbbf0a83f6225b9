"""DNA: block-wise distillation of a NAS-Bench-201 supernet from a teacher, and its rating.

Li et al., "Block-wisely Supervised Neural Architecture Search with Knowledge Distillation"
(DNA), arXiv 1911.13053. The network is cut into blocks at the teacher's stage boundaries;
each block of a single-path student supernet learns to reproduce the teacher's output of
that block from the teacher's output of the previous block (its input is the teacher's
feature map, not the student's, so blocks train independently and every candidate of a
block is trained on the same input). A candidate of a block is rated by its distillation
loss on held-out images, and an architecture by the sum of its blocks' losses (the
official code's `loss_join='sum'`).

On NAS-Bench-201 the blocks are the three stages (stem output -> stage 1 cells; stage 1
output -> reduction block + stage 2 cells; stage 2 output -> reduction block + stage 3
cells). The table's networks repeat one cell in every stage, so a cell's score is minus the
sum of its three block losses; each block's student still samples its own path each step.

What follows the paper's official code (changlin31/DNA, `searching/`):

- Training loss: mean squared error between the student block's output and the teacher's
  (`guide_loss_fn: mse`), input the teacher's previous output (`guide_input: true`); one
  uniformly sampled candidate per block per step.
- Optimiser: Adam (eps 1e-8), coupled weight decay 1e-4, learning rate per block from the
  config's `lr: [0.002, 0.005, ...]` (the first three entries here), multiplied by 0.9 every
  epoch (`sched: step, decay_epochs: 1, decay_rate: 0.9`); batch 64; 20 epochs per block
  (`step_epochs`).
- Rating (`_potential`): BatchNorm statistics recomputed for each candidate (here: each
  evaluation batch's own statistics, `reset_bn_eval`), and the loss `cl_loss = mean|S - T| /
  std(T)` per batch, averaged over the batches: the distillation error relative to the
  teacher feature's spread, comparable across blocks.
- Search (`process_potential.py`): the architecture with the lowest summed loss within a
  parameter or MAdds budget (`traverse`); with one shared cell this is the first cell, in
  order of loss, that fits.

Where this differs, and why: the teacher is not EfficientNet-B7 but the NB201 network of the
hand-designed ResNet cell (`TEACHER_CELL`, the NB201 paper's reference cell, table CIFAR-10
93.91 at 200 epochs) trained here at the proxy, deeper than the students (`teacher_layers`
cells per stage) and with the same widths, so the block outputs match without an adapter;
the teacher's BatchNorm runs in inference mode (its running statistics: a fixed target per
image), where the official code leaves the teacher's BN in training mode.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from tfnas import runtime
from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.ranking.scorers import ProxyConfig, Scorer, ScoringContext, register_scorer
from tfnas.spaces import nb201 as nb201_space

#: The teacher's cell: the NB201 paper's ResNet cell (table CIFAR-10 93.91).
TEACHER_CELL = nb201_space.RESNET_CELL
NUM_BLOCKS = 3


@dataclasses.dataclass(frozen=True)
class DistillationConfig:
    """What every block-wise distillation run shares (DNA's defaults; see the module doc).

    Args:
        teacher_epochs: Teacher training epochs (NB201's short-proxy recipe: SGD Nesterov,
            lr 0.1 cosine, weight decay 5e-4).
        student_epochs: Epochs of the block students (paper: 20 per block).
        batch_size: Student training batch (paper: 64).
        learning_rates: Adam learning rate of each block (paper: 0.002 for the first block,
            0.005 for the others).
        lr_decay: Factor applied to the learning rates after every epoch (paper: 0.9).
        weight_decay: Coupled L2 on the student weights (paper: 1e-4).
        train_examples: Training images (the first of the split) for teacher and students.
        val_examples: Held-out training images (the next ones) that rate the candidates.
        eval_batch_size: Images per rating batch (BatchNorm statistics per batch).
        seed: Seed of initialisation and path sampling.
    """

    teacher_epochs: int = 30
    student_epochs: int = 20
    batch_size: int = 64
    learning_rates: tuple[float, ...] = (0.002, 0.005, 0.005)
    lr_decay: float = 0.9
    weight_decay: float = 1e-4
    train_examples: int = 25000
    val_examples: int = 1000
    eval_batch_size: int = 250
    seed: int = 0

    @property
    def num_blocks(self) -> int:
        """How many blocks the network is cut into (one learning rate each)."""
        return NUM_BLOCKS

    def __post_init__(self) -> None:
        for name in ("teacher_epochs", "student_epochs", "batch_size", "train_examples", "val_examples",
                     "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        object.__setattr__(self, "learning_rates", tuple(float(v) for v in self.learning_rates))
        if len(self.learning_rates) != self.num_blocks or min(self.learning_rates) <= 0:
            raise ValueError(f"learning_rates needs {self.num_blocks} positive rates. Received: "
                             f"{self.learning_rates!r}")
        if not 0 < self.lr_decay <= 1 or self.weight_decay < 0:
            raise ValueError(f"lr_decay must be in (0, 1] and weight_decay >= 0. Received: {self.lr_decay}, "
                             f"{self.weight_decay}")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "learning_rates": list(self.learning_rates)}


@dataclasses.dataclass(frozen=True)
class DnaConfig(DistillationConfig):
    """DNA on NAS-Bench-201: the `DistillationConfig` fields plus the teacher network.

    Args:
        teacher_cell: The teacher network's NB201 cell.
        teacher_layers: Teacher cells per stage (the students have the proxy's `layers`).
        teacher_weights: A zoo weights name of a trained teacher (e.g.
            `nb201_resnet.c8_l2_s16_cifar10`, the seed-0 teacher of the ranking benchmark's
            DNA rows): loaded instead of trained. Its card must match `teacher_cell`,
            `teacher_layers` and the proxy, and it must have been trained on no more than the
            first `train_examples` images, so the held-out images stay unseen.
    """

    teacher_cell: str = TEACHER_CELL
    teacher_layers: int = 2
    teacher_weights: str | None = None

    def __post_init__(self) -> None:
        value = self.teacher_layers
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"teacher_layers must be a positive integer. Received: teacher_layers={value!r}")
        super().__post_init__()
        NB201Genotype.from_string(self.teacher_cell)  # a clear error for an invalid cell
        if self.teacher_weights is not None and (not isinstance(self.teacher_weights, str)
                                                 or not self.teacher_weights.strip()):
            raise ValueError(f"teacher_weights must be a zoo weights name or None. Received: {self.teacher_weights!r}")

    def to_dict(self) -> dict[str, Any]:
        info = super().to_dict()
        if info["teacher_weights"] is None:
            del info["teacher_weights"]  # the runs written before the option read the same
        return info


def _stage_outputs(model: keras.Model, layers: int) -> list[Any]:
    """The stem output and the three stage outputs of an NB201 network (`build_nb201_network`)."""
    last_cells = [layers - 1, 2 * layers, 3 * layers + 1]  # reduction blocks sit between the stages
    return [model.get_layer("stem_bn").output] + [
        model.get_layer(f"cell{i:02d}_node{nb201_space.NUM_NODES - 1}_add").output for i in last_cells]


def block_features(teacher: keras.Model, layers: int) -> keras.Model:
    """`images -> [stem, stage 1, stage 2, stage 3]` outputs of an NB201 network: the inputs
    and targets of DNA's blocks (block `i` maps output `i` to output `i + 1`)."""
    return keras.Model(teacher.input, _stage_outputs(teacher, layers), name="teacher_blocks")


def build_teacher(config: DnaConfig, proxy: ProxyConfig, num_classes: int) -> keras.Model:
    """The teacher network, untrained: `config.teacher_cell`, `config.teacher_layers` cells per
    stage, the proxy's channels and input size, initialised from `config.seed`."""
    from tfnas.children.nb201_net import build_nb201_network

    keras.utils.set_random_seed(config.seed)
    return build_nb201_network(config.teacher_cell, channels=proxy.channels, cells_per_stage=config.teacher_layers,
                               num_classes=num_classes, input_shape=(proxy.image_size, proxy.image_size, 3),
                               name="teacher")


class BlockStudents:
    """The three single-path student blocks of an NB201 supernet at the proxy.

    Block 0 is the supernet's first-stage cells; block `i > 0` its reduction block `i` and
    stage `i + 1`'s cells. `forward(i, x, path)` runs block `i` on a teacher feature map `x`
    with the child `path` (op index per edge).
    """

    def __init__(self, channels: int, layers: int, image_size: int, num_classes: int, seed: int) -> None:
        from tfnas.supernets import SupernetConfig, build_supernet
        from tfnas.supernets.cells import SearchCell

        config = SupernetConfig(space="nb201", channels=channels, layers=layers, num_classes=num_classes,
                                input_shape=(image_size, image_size, 3), mixing="gumbel", seed=seed)
        self.supernet = build_supernet(config)
        self.blocks: list[list[Any]] = [[] for _ in range(NUM_BLOCKS)]
        stage = 0
        for block in self.supernet.blocks:
            if not isinstance(block, SearchCell):
                stage += 1
            self.blocks[stage].append(block)
        self._cell_type = SearchCell
        self.variables = [[v for layer in blocks for v in layer.trainable_variables] for blocks in self.blocks]
        self.state_variables = [v for blocks in self.blocks for layer in blocks for v in layer.non_trainable_variables]

    def sample_paths(self, rng: np.random.Generator) -> np.ndarray:
        """`[blocks, edges]`: one uniformly drawn child per block (DNA samples each block alone)."""
        return rng.integers(0, len(nb201_space.OPS), size=(NUM_BLOCKS, len(nb201_space.EDGES))).astype(np.int32)

    def forward(self, index: int, x, path, training: bool = True):
        arch = self.supernet.path_arch(path)
        for layer in self.blocks[index]:
            x = layer(x, arch) if isinstance(layer, self._cell_type) else layer(x, training=training)
        return x


def relative_l1(student, teacher):
    """DNA's rating loss of one batch: `mean|S - T| / std(T)` (the official `cl_loss`)."""
    return tf.reduce_mean(tf.abs(student - teacher)) / (tf.math.reduce_std(teacher) + 1e-9)


class BlockDistillation:
    """A block-wise distillation run in `workdir`: the teacher, then the block students, each
    resumable (DNA, arXiv 1911.13053; a space plugs in through the four hooks below).

    `workdir/teacher.weights.h5` + `teacher.json` (its held-out accuracy) are written once the
    teacher is trained; the students checkpoint after every epoch in `workdir/students`
    (`students_progress.json` holds the finished epochs, the mean training loss per block and
    the seconds), so an interrupted run continues where it stopped. A rerun with other
    settings is refused.

    Hooks: `build_teacher()` (untrained), `teacher_description()` (what `teacher.json`
    records besides accuracy and time), `block_features(teacher)` (a model `images -> [input of
    block 0, output of block 0, ...]`) and `build_students()` (an object with `variables`
    (per block), `state_variables`, `forward(i, x, path, training)` and
    `sample_paths(rng) -> int32 [blocks, L]`).
    """

    def __init__(self, workdir: str, config: DistillationConfig, context: ScoringContext, *, log=None) -> None:
        self.workdir = workdir
        self.config = config
        self.context = context
        self.log = log or (lambda line: None)
        self.training_seconds = 0.0
        self.teacher_accuracy: float | None = None
        proxy = context.proxy
        self._run_config = {"dna": config.to_dict(), "proxy": proxy.to_dict()}
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, "config.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
            if stored != self._run_config:
                raise ValueError(f"{workdir} holds a DNA run with other settings ({stored}); use another "
                                 "workdir or the same settings.")
        else:
            from tfnas.runs import write_json

            write_json(path, self._run_config)
        self.teacher: keras.Model | None = None
        self.features: keras.Model | None = None
        self.students: Any = None
        self.progress: dict[str, Any] = {"epochs": 0, "block_losses": [], "seconds": 0.0}
        self._guides: list[Any] | None = None

    # ------------------------------------------------------------------ teacher
    def build_teacher(self) -> keras.Model:
        raise NotImplementedError

    def teacher_description(self) -> dict[str, Any]:
        raise NotImplementedError

    def block_features(self, teacher: keras.Model) -> keras.Model:
        raise NotImplementedError

    def build_students(self) -> Any:
        raise NotImplementedError

    def train_teacher(self) -> keras.Model:
        """Trains the teacher (or loads it when trained before); returns it."""
        weights = os.path.join(self.workdir, "teacher.weights.h5")
        report = os.path.join(self.workdir, "teacher.json")
        teacher = self.build_teacher()
        if os.path.exists(weights) and os.path.exists(report):
            teacher.load_weights(weights)
            with open(report, encoding="utf-8") as f:
                info = json.load(f)
        else:
            from tfnas.children.training import train_and_score_sharded
            from tfnas.runs import write_json

            c = self.config
            x, y = self.context.images(c.train_examples + c.val_examples)
            description = self.teacher_description()
            self.log(f"== DNA teacher: {description}, {c.teacher_epochs} epochs on {c.train_examples} images")
            start = time.perf_counter()
            # In a cluster each task trains on its rows of every global batch (the same batches
            # as one process: the order comes from the seed).
            accuracy = train_and_score_sharded(teacher, x[:c.train_examples], y[:c.train_examples],
                                               x[c.train_examples:], y[c.train_examples:], share=self.context.share,
                                               combine=self.context.combine, epochs=c.teacher_epochs,
                                               batch_size=c.batch_size, seed=c.seed)
            description = {**description, "training_tasks": self.context.share[1]}
            info = {**description, "epochs": c.teacher_epochs, "heldout_accuracy": accuracy,
                    "training_seconds": time.perf_counter() - start, "params": int(teacher.count_params())}
            teacher.save_weights(weights)
            write_json(report, info)
        self.training_seconds += float(info["training_seconds"])
        return self._use_teacher(teacher, float(info["heldout_accuracy"]))

    def _use_teacher(self, teacher: keras.Model, accuracy: float) -> keras.Model:
        self.teacher_accuracy = accuracy
        self.log(f"teacher held-out accuracy {accuracy:.2f}% ({teacher.count_params()} params)")
        self.teacher = teacher
        self.features = self.block_features(teacher)
        return teacher

    # ----------------------------------------------------------------- students
    def train_students(self) -> Any:
        """Trains the block students (resuming); returns them.

        In a cluster (`context.share` is `(position, count)`) the students train data-parallel:
        each process computes the gradients of the rows `position::count` of every global
        batch, and the processes sum them, each weighted by its share of the rows, with one
        `context.combine` a step, so every process applies the same global-batch gradient and
        keeps the same weights. BatchNorm normalises each process's rows by their own
        statistics (as Keras's `MultiWorkerMirroredStrategy` does without sync BN), so the
        students differ from a one-process run's by that much.
        """
        from tfnas.runs import NonFiniteLossError, combine_scaled, write_json

        if self.features is None:
            self.train_teacher()
        c = self.config
        position, count = self.context.share
        if c.batch_size < count:
            raise ValueError(f"batch_size={c.batch_size} is smaller than the cluster's {count} tasks, which "
                             "split each student batch; raise it.")
        students = self.build_students()
        num_blocks = c.num_blocks
        optimizers = [keras.optimizers.Adam(lr, epsilon=1e-8) for lr in c.learning_rates]
        for opt, variables in zip(optimizers, students.variables):
            opt.build(variables)
        epoch = tf.Variable(0, dtype=tf.int64)
        checkpoint = tf.train.Checkpoint(
            variables=[v for vs in students.variables for v in vs] + list(students.state_variables),
            optimizers=optimizers, epoch=epoch)
        directory = os.path.join(self.workdir, "students")
        manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=2)
        progress_path = os.path.join(self.workdir, "students_progress.json")
        progress: dict[str, Any] = {"epochs": 0, "block_losses": [], "seconds": 0.0}
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            with open(progress_path, encoding="utf-8") as f:
                progress = json.load(f)
        features = self.features

        @tf.function
        def gradients(images, paths):
            targets = features(images, training=False)
            with tf.GradientTape() as tape:
                losses = [tf.reduce_mean(tf.square(students.forward(i, targets[i], paths[i]) - targets[i + 1]))
                          for i in range(num_blocks)]
            return tf.stack(losses), tape.gradient(losses, students.variables)

        @tf.function
        def apply(grads, rates):
            for i, (opt, variables) in enumerate(zip(optimizers, students.variables)):
                opt.learning_rate.assign(rates[i])
                grads_i = [g + c.weight_decay * v for g, v in zip(grads[i], variables)]
                opt.apply_gradients(zip(grads_i, variables))

        @tf.function
        def step(images, paths, rates):  # one process: both in one graph
            losses, grads = gradients(images, paths)
            apply(grads, rates)
            return losses

        def cluster_step(batch, paths, rates):
            """This process's rows of the global batch; the share-weighted sum over the tasks."""
            rows = batch[position::count]
            losses, grads = gradients(tf.constant(rows), paths)
            weight = len(rows) / len(batch)
            total = combine_scaled(self.context.combine, weight, [losses, *(g for block in grads for g in block)])
            summed, k = [], 1
            for block in grads:
                summed.append([tf.constant(total[k + j], g.dtype) for j, g in enumerate(block)])
                k += len(block)
            apply(summed, rates)
            return total[0]

        x, _ = self.context.images(c.train_examples)
        steps = c.train_examples // c.batch_size
        while int(epoch.numpy()) < c.student_epochs:
            e = int(epoch.numpy())
            rng = np.random.default_rng([c.seed, 1911, e])  # the same draws after a resume
            order = rng.permutation(c.train_examples)
            rates = np.array(c.learning_rates, np.float32) * np.float32(c.lr_decay ** e)
            start = time.perf_counter()
            total = np.zeros(num_blocks)
            for s in range(steps):
                batch = x[order[s * c.batch_size:(s + 1) * c.batch_size]]
                paths, step_rates = tf.constant(students.sample_paths(rng)), tf.constant(rates)
                if count > 1:
                    losses = cluster_step(batch, paths, step_rates)
                else:
                    losses = step(tf.constant(batch), paths, step_rates).numpy()
                if not np.all(np.isfinite(losses)):
                    raise NonFiniteLossError(f"DNA student loss became {losses} at epoch {e + 1}, step {s + 1}; "
                                             "lower learning_rates or check the teacher.")
                total += losses
            epoch.assign_add(1)
            seconds = time.perf_counter() - start
            progress = {"epochs": e + 1, "block_losses": progress["block_losses"] + [[float(v) for v in total / steps]],
                        "seconds": progress["seconds"] + seconds}
            manager.save()
            write_json(progress_path, progress)
            self.log(f"  DNA students epoch {e + 1}/{c.student_epochs}: block MSE "
                     + ", ".join(f"{v:.4f}" for v in total / steps) + f" ({seconds:.0f} s)")
        self.training_seconds += float(progress["seconds"])
        self.progress = progress
        self.students = students
        return students

    # ------------------------------------------------------------------- rating
    def rate_block(self, index: int, paths: Sequence[Sequence[int]]) -> np.ndarray:
        """`[len(paths)]`: DNA's rating loss of block `index` under each child path (its
        `relative_l1` to the teacher, averaged over the held-out batches, BatchNorm on each
        batch's own statistics).

        In a cluster (`context.share` is `(position, count)`) this process rates the paths
        `k % count == position` and the others arrive through `context.combine` (every
        process calls it once per block, in the same order); every process trains the same
        teacher and students from the same seeds, so the shares rate one set of students.
        """
        if self.students is None:
            self.train_students()
        c = self.config
        if self._guides is None:
            x, _ = self.context.images(c.train_examples + c.val_examples)
            held_out = x[c.train_examples:]
            self._guides = [self.features(tf.constant(held_out[i:i + c.eval_batch_size]), training=False)
                            for i in range(0, len(held_out), c.eval_batch_size)]
        students = self.students

        @tf.function
        def rate(source, target, many):  # every path on one guide batch, one call (a traced loop)
            return tf.map_fn(lambda path: relative_l1(students.forward(index, source, path, training=True), target),
                             many, fn_output_signature=tf.float32)

        position, count = self.context.share
        out = np.zeros(len(paths))
        mine = np.arange(position, len(paths), count)  # the others' ratings arrive in the sum below
        if len(mine):
            many = tf.constant(np.asarray([paths[k] for k in mine], np.int32))
            out[mine] = np.mean([rate(g[index], g[index + 1], many).numpy() for g in self._guides], axis=0)
        return np.asarray(self.context.combine(out)) if count > 1 else out


class Dna(BlockDistillation):
    """DNA on NAS-Bench-201 (module docstring): the teacher is an NB201 network
    (`DnaConfig.teacher_cell`, or a zoo teacher), the blocks are its three stages, and a cell
    is rated by its loss in every block (`block_losses`)."""

    def build_teacher(self) -> keras.Model:
        return build_teacher(self.config, self.context.proxy, self.context.num_classes)

    def teacher_description(self) -> dict[str, Any]:
        return {"cell": self.config.teacher_cell, "layers": self.config.teacher_layers}

    def block_features(self, teacher: keras.Model) -> keras.Model:
        return block_features(teacher, self.config.teacher_layers)

    def build_students(self) -> BlockStudents:
        p = self.context.proxy
        return BlockStudents(p.channels, p.layers, p.image_size, self.context.num_classes, self.config.seed)

    def train_teacher(self) -> keras.Model:
        if self.config.teacher_weights:
            return self._zoo_teacher()
        return super().train_teacher()

    def _zoo_teacher(self) -> keras.Model:
        """Loads the zoo teacher `config.teacher_weights` after checking that it fits this run,
        and measures its accuracy on this run's held-out images."""
        from tfnas.applications import create_model, weights_card

        c, p = self.config, self.context.proxy
        card = weights_card(c.teacher_weights)
        trained_on = card.get("training", {}).get("dna_config", {}).get("dna", {}).get("train_examples")
        trained_epochs = card.get("training", {}).get("dna_config", {}).get("dna", {}).get("teacher_epochs")
        expected = {"genotype": NB201Genotype.from_string(c.teacher_cell).to_string(), "layers": c.teacher_layers,
                    "channels": p.channels, "input_size": p.image_size, "dataset": p.dataset,
                    "classes": self.context.num_classes}
        clash = {k: (card.get(k), v) for k, v in expected.items() if card.get(k) != v}
        if trained_epochs != c.teacher_epochs:
            clash["teacher_epochs"] = (trained_epochs, c.teacher_epochs)
        if clash:
            raise ValueError(f"Zoo teacher {c.teacher_weights} does not fit this DNA run: (card, run) = {clash}.")
        if trained_on is None or trained_on > c.train_examples:
            raise ValueError(f"Zoo teacher {c.teacher_weights} was trained on {trained_on} images, more than this "
                             f"run's train_examples={c.train_examples} (or an unknown count): its held-out images "
                             "would not be unseen. Train the teacher here (no teacher_weights).")
        teacher = create_model(c.teacher_weights, classifier_activation=None)
        x, y = self.context.images(c.train_examples + c.val_examples)
        logits = teacher.predict(x[c.train_examples:], batch_size=c.eval_batch_size, verbose=0)
        accuracy = 100.0 * float(np.mean(np.argmax(logits, axis=-1) == y[c.train_examples:]))
        self.log(f"== DNA teacher from the zoo: {c.teacher_weights} (trained once, "
                 f"{card['training'].get('training_seconds', 0):.0f} s, not charged to this run)")
        return self._use_teacher(teacher, accuracy)

    def block_losses(self, cells: Sequence[NB201Genotype]) -> np.ndarray:
        """`[cells, 3]`: each cell's rating loss in each block on the held-out images."""
        column = {op: j for j, op in enumerate(nb201_space.OPS)}
        paths = [[column[op] for op in cell.ops] for cell in cells]
        return np.stack([self.rate_block(i, paths) for i in range(NUM_BLOCKS)], axis=1)


def search(run: Dna, budget: float | None = None, *, metric: str = "params", channels: int = 16,
           cells_per_stage: int = 5, input_size: int = 32,
           cells: Sequence[NB201Genotype] | None = None) -> dict[str, Any]:
    """DNA's search on NAS-Bench-201: rates every candidate cell, then `traverse`s them.

    Candidates: one cell per isomorphism class (the 6,466 `unique_str` classes: isomorphic
    cells compute the same function) unless `cells` is given. Cost: `metric` (`params` or
    `madds`) of the cell's NB201 network at `channels` / `cells_per_stage` / `input_size`
    (default the benchmark's 16 / 5 / 32), from `tfnas.budgets.losses.nb201_cost_table`.

    Returns:
        `{"cell", "summed_loss", "block_losses", metric, "budget", "candidates", "fitting",
        "rating_seconds"}`; `cell` is None when no candidate fits the budget.
    """
    from tfnas.budgets.losses import nb201_cost_table

    if cells is None:
        from tfnas.algorithms.spos_distinct import distinct_cell_paths

        cells = [NB201Genotype(tuple(nb201_space.OPS[j] for j in row)) for row in distinct_cell_paths()]
    start = time.perf_counter()
    losses = run.block_losses(cells)
    seconds = time.perf_counter() - start
    table = nb201_cost_table(metric, channels=channels, cells_per_stage=cells_per_stage,
                             num_classes=run.context.num_classes, input_size=input_size)
    column = {op: j for j, op in enumerate(nb201_space.OPS)}
    costs = np.array([table.cost([column[op] for op in cell.ops]) for cell in cells])
    best = traverse(losses, costs, budget)
    found = None if best is None else cells[best]
    return {"cell": None if found is None else found.to_string(),
            "summed_loss": None if best is None else float(losses[best].sum()),
            "block_losses": None if best is None else [float(v) for v in losses[best]],
            metric: None if best is None else float(costs[best]), "budget": budget, "candidates": len(cells),
            "fitting": int(np.sum(costs <= budget)) if budget is not None else len(cells),
            "rating_seconds": seconds}


def traverse(losses: np.ndarray, costs: np.ndarray, budget: float | None) -> int | None:
    """DNA's search over rated candidates: the index of the lowest summed loss whose cost
    fits `budget` (None: no budget), or None when none fits.

    `losses` is `[candidates, blocks]` (summed over blocks, as `loss_join='sum'`); with one
    cell shared by every block, the official traversal over per-block rankings reduces to
    this scan in order of summed loss.

    >>> traverse(np.array([[1.0, 1.0], [0.5, 0.5], [0.2, 0.1]]), np.array([1, 2, 3]), budget=2)
    1
    """
    for index in np.argsort(np.sum(losses, axis=1), kind="stable"):
        if budget is None or costs[index] <= budget:
            return int(index)
    return None


@register_scorer
class DnaBlockLoss(Scorer):
    """DNA's rating: minus the summed block distillation loss of the cell (higher = better).

    Trains (or resumes) the teacher and the block students in `workdir` at the context's
    proxy first. Args: `workdir` and the `DnaConfig` fields as keywords.
    """

    name: ClassVar[str] = "dna"
    splits_over_tasks: ClassVar[bool] = True

    def __init__(self, workdir: str, **config: Any) -> None:
        self.workdir = workdir
        self.config = DnaConfig(**config)
        self.run: Dna | None = None

    def settings(self) -> dict[str, Any]:
        info = self.config.to_dict()
        if self.run is not None:
            info.update(teacher_heldout_accuracy=self.run.teacher_accuracy,
                        final_block_mse=self.run.progress["block_losses"][-1] if self.run.progress["block_losses"]
                        else None)
        return info

    def upstream_seconds(self) -> dict[str, float]:
        seconds = self.run.training_seconds if self.run is not None else 0.0
        return {"cpu_seconds": 0.0, "supernet_training_seconds": seconds}

    def prepare(self, context: ScoringContext) -> None:
        """Trains (or resumes) the teacher and the block students."""
        if self.run is None or self.run.context is not context:
            self.run = Dna(self.workdir, self.config, context, log=context.log)
        if self.run.students is None:
            self.run.train_teacher()
            self.run.train_students()

    def score(self, cells: Sequence[NB201Genotype], context: ScoringContext) -> np.ndarray:
        self.prepare(context)
        start, cpu = time.perf_counter(), runtime.cpu_seconds()
        losses = self.run.block_losses(cells)
        spent = np.array([runtime.cpu_seconds() - cpu, time.perf_counter() - start])
        position, count = context.share
        self.scored_here = len(range(position, len(cells), count))
        self.cluster_seconds = tuple(float(v) for v in context.combine(spent)) if count > 1 else None
        if context.log is not None:
            context.log(f"  dna: rated {self.scored_here} of {len(cells)} cells in 3 blocks, {spent[1]:.0f} s")
        return -np.sum(losses, axis=1)
