"""DNA in the mobile MBConv space: block students distilled from a teacher, every candidate of
every block rated, and the architecture picked under a MAdds budget.

Li et al., "Block-wisely Supervised Neural Architecture Search with Knowledge Distillation"
(DNA), arXiv 1911.13053. The network is cut into blocks at the teacher's stage boundaries;
each block of a single-path student supernet learns to reproduce the teacher's output of that
block from the teacher's output of the previous block (`tfnas.ranking.dna.BlockDistillation`
holds the training, resume and rating shared with the NAS-Bench-201 version). Each layer
slot chooses among the paper's six MBConv operators (kernel 3 / 5 / 7 x expansion 3 / 6) and,
after a stage's first slot, the identity (the depth choice). Because each block is small,
every child of every block is rated exhaustively (`rate_all`); the search (`search`) then
takes the combination with the lowest summed rating loss whose MAdds fit the budget. The
official `process_potential.py` traverses the per-block rankings depth first for the same
optimum; here the per-block Pareto fronts of (MAdds, loss) are merged block by block, which
is exact because both the loss and the MAdds of a network are sums over its blocks (the
skeleton fixes every slot's shapes, `tfnas.budgets.losses.mobile_cost_table`).

Scaled to CIFAR-10 (the paper searches ImageNet under an EfficientNet-B7 teacher): the
students' skeleton is MobileNetV2's stage layout (arXiv 1801.04381; widths, strides and
depths of its seven stages) at half width, its first depthwise-separable block dropped and
the first two strides set to 1 for 32x32 images (`MOBILENET_V2_CIFAR`); the teacher
(`TEACHER_CIFAR`) has the same stage widths and strides, one more layer per stage, and
kernel 5 / expansion 6 everywhere, trained here with the students' training images and the
recipe of `tfnas.children.training.train_and_score_sharded` (NB201's shortened recipe, the batch
order from the seed, data-parallel in a cluster). `MOBILENET_V2_CIFAR` itself is the
reference at equal MAdds: it lies in the space (kernel 3, expansion 6 in every slot), so a
budget of its MAdds lets the search return it, and `compare` trains the found network and it
from scratch with the teacher's recipe.

Example:
>>> space = dna_space()
>>> [s.depth for s in space.stages]
[2, 3, 4, 3, 3, 1]
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from tfnas.genotypes.block import BlockGenotype
from tfnas.ranking.dna import BlockDistillation, DistillationConfig
from tfnas.spaces.mobile import CandidateSpace, MobileSpace

#: MobileNetV2's stage layout at width 0.5 for 32x32 inputs (module docstring).
MOBILENET_V2_CIFAR = ("stem=16;blocks=ir_r2_k3_s1_e6_c12|ir_r3_k3_s2_e6_c16|ir_r4_k3_s2_e6_c32|ir_r3_k3_s1_e6_c48|"
                      "ir_r3_k3_s2_e6_c80|ir_r1_k3_s1_e6_c160;head=640;act=relu6")
#: The teacher: the same stages, one more layer each, kernel 5 and expansion 6.
TEACHER_CIFAR = ("stem=16;blocks=ir_r3_k5_s1_e6_c12|ir_r4_k5_s2_e6_c16|ir_r5_k5_s2_e6_c32|ir_r4_k5_s1_e6_c48|"
                 "ir_r4_k5_s2_e6_c80|ir_r2_k5_s1_e6_c160;head=640;act=relu6")
#: DNA's operators: MBConv kernel x expansion (arXiv 1911.13053, Sec. 4.1).
KERNELS = (3, 5, 7)
EXPANSIONS = (3, 6)


def dna_space(skeleton: str = MOBILENET_V2_CIFAR) -> MobileSpace:
    """The search space: `skeleton`'s stages, each slot one of DNA's six MBConv operators (no
    squeeze-excite, the skeleton's activation) or, after a stage's first slot, the identity."""
    genotype = BlockGenotype.from_string(skeleton)
    return MobileSpace.skeleton_of(genotype, kernels=KERNELS, expansions=EXPANSIONS, se_ratios=(0.0,),
                                   activations=(genotype.act,), block_types=("ir",))


@dataclasses.dataclass(frozen=True)
class MobileDnaConfig(DistillationConfig):
    """DNA in the mobile space: the `DistillationConfig` fields plus the two networks.

    Args:
        teacher: The teacher's `BlockGenotype` string (its stage widths and strides must be
            the skeleton's).
        skeleton: The students' skeleton (`dna_space(skeleton)`), also the reference network.
        learning_rates: One Adam rate per stage of the skeleton (paper: 0.002, then 0.005).
    """

    learning_rates: tuple[float, ...] = (0.002, 0.005, 0.005, 0.005, 0.005, 0.005)
    teacher: str = TEACHER_CIFAR
    skeleton: str = MOBILENET_V2_CIFAR

    @property
    def num_blocks(self) -> int:
        return len(BlockGenotype.from_string(self.skeleton).stages)

    def __post_init__(self) -> None:
        for name in ("teacher", "skeleton"):
            try:
                BlockGenotype.from_string(getattr(self, name))
            except ValueError as err:
                raise ValueError(f"MobileDnaConfig {name} is not a valid block genotype: {err}") from err
        super().__post_init__()
        student = dna_space(self.skeleton)
        teacher = MobileSpace.skeleton_of(BlockGenotype.from_string(self.teacher))
        shape = [(s.width, s.stride) for s in student.stages]
        if student.stem != teacher.stem or shape != [(s.width, s.stride) for s in teacher.stages]:
            raise ValueError(
                "The teacher's stem and stage (width, stride) must be the skeleton's, so each block's input and "
                f"target fit the student block. Received: teacher stem {teacher.stem}, stages "
                f"{[(s.width, s.stride) for s in teacher.stages]}; skeleton stem {student.stem}, stages {shape}")


def stage_outputs(model: keras.Model, num_stages: int) -> list[Any]:
    """The stem output and each stage's output of a `build_mobile_network` model."""
    names = [layer.name for layer in model.layers]
    outputs = [model.get_layer("stem_act").output]
    for i in range(1, num_stages + 1):
        own = [n for n in names if n.startswith(f"stage{i}_")]
        if not own:
            raise ValueError(f"The network has no stage {i} (its layers: {names[:5]}...).")
        outputs.append(model.get_layer(own[-1]).output)
    return outputs


class MobileStudents:
    """The single-path student blocks of a mobile space: block `i` is stage `i`'s slots of a
    `MobileSupernet` (its stem and head unused); `forward(i, x, path)` runs the candidate
    `path[j]` in the block's slot `j`."""

    def __init__(self, space: MobileSpace, num_classes: int, image_size: int, seed: int) -> None:
        from tfnas.supernets.mobile import MobileSupernet

        self.supernet = MobileSupernet(space, num_classes=num_classes, input_shape=(image_size, image_size, 3),
                                       seed=seed)
        self.slots: list[list[int]] = []
        d = 0
        for stage in space.stages:
            self.slots.append(list(range(d, d + stage.depth)))
            d += stage.depth
        self.sizes = [len(blocks) for blocks in self.supernet.slot_blocks]
        blocks_of = [[b for d in slots for b in self.supernet.slot_blocks[d] if b is not None] for slots in self.slots]
        self.variables = [[v for b in blocks for v in b.trainable_variables] for blocks in blocks_of]
        self.state_variables = [v for blocks in blocks_of for b in blocks for v in b.non_trainable_variables]

    def sample_paths(self, rng: np.random.Generator) -> np.ndarray:
        """`[blocks, max depth]`: a uniform candidate per slot (unused entries 0)."""
        paths = np.zeros((len(self.slots), max(len(s) for s in self.slots)), np.int32)
        for i, slots in enumerate(self.slots):
            for j, d in enumerate(slots):
                paths[i, j] = rng.integers(0, self.sizes[d])
        return paths

    def forward(self, index: int, x, path, training: bool = True):
        for j, d in enumerate(self.slots[index]):
            x = self.supernet.run_slot(d, path[j], x, training)
        return x

    def block_paths(self, index: int) -> list[tuple[int, ...]]:
        """Every child of block `index` (one candidate per slot)."""
        return list(itertools.product(*(range(self.sizes[d]) for d in self.slots[index])))


class MobileDna(BlockDistillation):
    """A DNA search in the mobile space (module docstring), resumable in `workdir`: teacher,
    students, then the exhaustive rating (`block_ratings.json`, one block at a time)."""

    config: MobileDnaConfig

    @property
    def space(self) -> MobileSpace:
        return dna_space(self.config.skeleton)

    def build_teacher(self) -> keras.Model:
        from tfnas.children.mobile_net import build_mobile_network

        keras.utils.set_random_seed(self.config.seed)
        size = self.context.proxy.image_size
        return build_mobile_network(BlockGenotype.from_string(self.config.teacher), input_shape=(size, size, 3),
                                    num_classes=self.context.num_classes, name="teacher")

    def teacher_description(self) -> dict[str, Any]:
        return {"teacher": self.config.teacher}

    def block_features(self, teacher: keras.Model) -> keras.Model:
        return keras.Model(teacher.input, stage_outputs(teacher, self.config.num_blocks), name="teacher_blocks")

    def build_students(self) -> MobileStudents:
        return MobileStudents(self.space, self.context.num_classes, self.context.proxy.image_size, self.config.seed)

    def rate_all(self) -> list[np.ndarray]:
        """Per block, the rating loss of each of its children (in `block_paths` order);
        finished blocks are kept in `block_ratings.json`, so an interrupted rating resumes."""
        from tfnas.runs import write_json

        if self.students is None:
            self.train_students()
        path = os.path.join(self.workdir, "block_ratings.json")
        done: dict[str, Any] = {"blocks": [], "seconds": []}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                done = json.load(f)
        for i in range(len(done["blocks"]), self.config.num_blocks):
            start = time.perf_counter()
            losses = self.rate_block(i, self.students.block_paths(i))
            done["blocks"].append([float(v) for v in losses])
            done["seconds"].append(time.perf_counter() - start)
            write_json(path, done)
            self.log(f"  DNA block {i + 1}/{self.config.num_blocks}: {len(losses)} children rated in "
                     f"{done['seconds'][-1]:.0f} s, best loss {np.min(losses):.4f}")
        self.rating_seconds = float(sum(done["seconds"]))
        return [np.asarray(v) for v in done["blocks"]]

    def search(self, budget_madds: float | None = None) -> dict[str, Any]:
        """DNA's search: the children with the lowest summed rating loss whose network fits
        `budget_madds` (None: no budget).

        Returns:
            `{"genotype", "madds", "params", "summed_loss", "block_losses", "budget_madds",
            "children_rated", "children_rated_here", "rating_tasks", "rating_seconds"}`
            (`children_rated_here`: this process's share in a cluster, `rate_block`);
            `genotype` is None when nothing fits.
        """
        from tfnas.budgets.losses import mobile_cost_table

        ratings = self.rate_all()
        position, count = self.context.share
        space = self.space
        size, classes = self.context.proxy.image_size, self.context.num_classes
        table = mobile_cost_table(space, "madds", input_size=size, num_classes=classes)
        costs = [np.array([sum(table.choices[d][c] for d, c in zip(slots, child))
                           for child in self.students.block_paths(i)])
                 for i, slots in enumerate(self.students.slots)]
        room = None if budget_madds is None else budget_madds - table.base
        best = pareto_search(ratings, costs, room)
        result: dict[str, Any] = {"genotype": None, "madds": None, "params": None, "summed_loss": None,
                                  "block_losses": None, "budget_madds": budget_madds,
                                  "children_rated": int(sum(len(r) for r in ratings)),
                                  "children_rated_here": int(sum(len(range(position, len(r), count))
                                                                 for r in ratings)),
                                  "rating_tasks": count,
                                  "rating_seconds": self.rating_seconds}
        if best is None:
            return result
        choices = [c for i, k in enumerate(best) for c in self.students.block_paths(i)[k]]
        genotype = self.genotype(choices)
        params = mobile_cost_table(space, "params", input_size=size, num_classes=classes)
        result.update(genotype=genotype.to_string(), madds=float(table.cost(choices)),
                      params=float(params.cost(choices)),
                      block_losses=[float(ratings[i][k]) for i, k in enumerate(best)])
        result["summed_loss"] = float(sum(result["block_losses"]))
        return result

    def genotype(self, choices: Sequence[int]) -> BlockGenotype:
        """The network that picks candidate `choices[d]` in slot `d` (flat order)."""
        act = BlockGenotype.from_string(self.config.skeleton).act
        return CandidateSpace.from_space(self.space, act=act).genotype(choices)

    def compare(self, found: BlockGenotype, test_images: np.ndarray, test_labels: np.ndarray) -> dict[str, Any]:
        """Trains `found` and the skeleton's reference network from scratch with the teacher's
        recipe (same images, epochs, batch and seed) and evaluates them and the teacher on
        `test_images`; returns `{name: {"genotype", "test_accuracy", "madds", "params",
        "training_seconds"}}` for `dna`, `reference` and `teacher`."""
        from tfnas.budgets.counters import count_madds, count_params
        from tfnas.children.mobile_net import build_mobile_network
        from tfnas.children.training import train_and_score_sharded

        if self.teacher is None:
            self.train_teacher()
        c = self.config
        x, y = self.context.images(c.train_examples)
        size = self.context.proxy.image_size
        out: dict[str, Any] = {}
        for name, genotype in (("dna", found), ("reference", BlockGenotype.from_string(c.skeleton))):
            keras.utils.set_random_seed(c.seed)
            model = build_mobile_network(genotype, input_shape=(size, size, 3), num_classes=self.context.num_classes)
            start = time.perf_counter()
            accuracy = train_and_score_sharded(model, x, y, test_images, test_labels, share=(0, 1),
                                               combine=lambda values: values, epochs=c.teacher_epochs,
                                               batch_size=c.batch_size, seed=c.seed)
            out[name] = {"genotype": genotype.to_string(), "test_accuracy": accuracy,
                         "madds": int(count_madds(model)), "params": count_params(model).trainable,
                         "training_seconds": time.perf_counter() - start}
            self.log(f"  {name}: {accuracy:.2f}% test, {out[name]['madds'] / 1e6:.2f}M MAdds")
        logits = self.teacher.predict(test_images, batch_size=c.eval_batch_size, verbose=0)
        with open(os.path.join(self.workdir, "teacher.json"), encoding="utf-8") as f:
            seconds = float(json.load(f)["training_seconds"])
        out["teacher"] = {"genotype": c.teacher,
                          "test_accuracy": 100.0 * float(np.mean(np.argmax(logits, axis=-1) == test_labels)),
                          "madds": int(count_madds(self.teacher)), "params": count_params(self.teacher).trainable,
                          "training_seconds": seconds}
        return out


def pareto_search(losses: Sequence[np.ndarray], costs: Sequence[np.ndarray],
                  budget: float | None) -> tuple[int, ...] | None:
    """The child index per block with the lowest summed loss whose summed cost is within
    `budget` (None: any), or None when nothing fits. Exact: blocks are merged one at a time,
    keeping only the (cost, loss) Pareto front of the partial sums.

    >>> pareto_search([np.array([1.0, 0.5]), np.array([2.0, 0.1])],
    ...               [np.array([1.0, 3.0]), np.array([1.0, 5.0])], budget=6.0)
    (0, 1)
    """
    front: list[tuple[float, float, tuple[int, ...]]] = [(0.0, 0.0, ())]
    for block_losses, block_costs in zip(losses, costs):
        own = _front([(float(c), float(v), (k,)) for k, (v, c) in enumerate(zip(block_losses, block_costs))])
        merged = [(c0 + c1, v0 + v1, p0 + p1) for c0, v0, p0 in front for c1, v1, p1 in own]
        if budget is not None:
            merged = [m for m in merged if m[0] <= budget + 1e-9]
        front = _front(merged)
        if not front:
            return None
    return min(front, key=lambda m: (m[1], m[0]))[2]


def _front(points: list[tuple[float, float, tuple[int, ...]]]) -> list[tuple[float, float, tuple[int, ...]]]:
    """The points no other point beats on both cost and loss (ties: the first kept)."""
    kept, best = [], np.inf
    for point in sorted(points, key=lambda m: (m[0], m[1])):
        if point[1] < best:
            kept.append(point)
            best = point[1]
    return kept
