"""DNA in the mobile MBConv space (arXiv 1911.13053) at tiny size: the space, the blocks fed by
the teacher, the exhaustive rating, the budgeted search and the from-scratch comparison."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

from tfnas.budgets.counters import count_madds, count_params
from tfnas.children.mobile_net import build_mobile_network
from tfnas.genotypes.block import BlockGenotype
from tfnas.ranking import ProxyConfig, ScoringContext
from tfnas.ranking.dna import relative_l1
from tfnas.ranking.dna_mobile import (MOBILENET_V2_CIFAR, TEACHER_CIFAR, MobileDna, MobileDnaConfig, dna_space,
                                      pareto_search)

_SKELETON = "stem=8;blocks=ir_r1_k3_s1_e6_c8|ir_r2_k3_s2_e6_c16;head=16;act=relu6"
_TEACHER = "stem=8;blocks=ir_r2_k5_s1_e6_c8|ir_r3_k5_s2_e6_c16;head=16;act=relu6"
_TINY = dict(teacher=_TEACHER, skeleton=_SKELETON, learning_rates=(0.002, 0.005), teacher_epochs=1,
             student_epochs=1, batch_size=8, train_examples=32, val_examples=16, eval_batch_size=8)


def _context():
    rng = np.random.default_rng(0)
    return ScoringContext(ProxyConfig(image_size=8, batch_size=8),
                          images=rng.normal(size=(48, 8, 8, 3)).astype(np.float32), labels=rng.integers(0, 10, 48))


def test_the_space_has_dna_s_six_operators_and_holds_its_reference_network():
    space = dna_space()
    reference = BlockGenotype.from_string(MOBILENET_V2_CIFAR)
    space.validate(reference)
    first, later = space.candidates(0, 0), space.candidates(0, 1)
    assert sorted((b.kernel, b.expansion) for b in first) == sorted(itertools.product((3, 5, 7), (3, 6)))
    assert len(first) == 6 and len(later) == 7 and later[-1].is_zero  # identity only after the first slot
    MobileDnaConfig()  # the default teacher fits the default skeleton
    assert MobileDnaConfig().teacher == TEACHER_CIFAR


@pytest.mark.parametrize("change, message", [
    (dict(teacher="stem=16;blocks=ir_r2_k5_s1_e6_c24;head=64"), "stage \\(width, stride\\) must be the skeleton's"),
    (dict(learning_rates=(0.1, 0.1)), "learning_rates needs 6 positive rates"),
    (dict(skeleton="stem=16;blocks=xx"), "skeleton is not a valid block genotype"),
])
def test_bad_settings_get_a_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        MobileDnaConfig(**change)


def test_pareto_search_finds_the_best_combination_within_the_budget():
    rng = np.random.default_rng(3)
    for _ in range(20):
        losses = [rng.random(n) for n in (4, 5, 3)]
        costs = [rng.integers(1, 10, n).astype(float) for n in (4, 5, 3)]
        budget = float(rng.integers(3, 25))
        fitting = [(sum(v[k] for v, k in zip(losses, ks)), ks) for ks in itertools.product(range(4), range(5), range(3))
                   if sum(c[k] for c, k in zip(costs, ks)) <= budget]
        found = pareto_search(losses, costs, budget)
        if not fitting:
            assert found is None
            continue
        best = min(v for v, _ in fitting)
        assert found is not None and abs(sum(v[k] for v, k in zip(losses, found)) - best) < 1e-12
        assert sum(c[k] for c, k in zip(costs, found)) <= budget
    assert pareto_search(losses, costs, None) == tuple(int(np.argmin(v)) for v in losses)


def test_blocks_learn_from_the_teacher_children_are_all_rated_and_the_search_fits_the_budget(tmp_path):
    context = _context()
    run = MobileDna(str(tmp_path), MobileDnaConfig(**_TINY), context)
    run.train_students()
    students = run.students
    assert [len(s) for s in students.slots] == [1, 2] and students.sizes == [7, 6, 7]  # stage 1 keeps its width: it may be skipped
    # Block 1's rating: its input is the teacher's stage-1 output, its target the stage-2 output.
    held_out = context.images(48)[0][32:]
    path = tf.constant([2, 6], tf.int32)  # k5 e3, then the identity
    by_hand = []
    for start in (0, 8):
        guide = run.features(tf.constant(held_out[start:start + 8]), training=False)
        by_hand.append(float(relative_l1(students.forward(1, guide[1], path), guide[2])))
    ratings = run.rate_all()
    assert [len(r) for r in ratings] == [7, 42] and all(np.all(np.isfinite(r)) for r in ratings)
    np.testing.assert_allclose(ratings[1][students.block_paths(1).index((2, 6))], np.mean(by_hand), rtol=1e-5)
    # Blocks train independently: block 0's loss has no gradient in block 1.
    guide = run.features(tf.constant(held_out[:8]), training=False)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(students.forward(0, guide[0], path) - guide[1]))
    assert all(g is None for g in tape.gradient(loss, students.variables[1]))
    # The search: unconstrained it is the best child of each block; with the reference's MAdds
    # it fits them (counted on the built network); below the fixed stem and head nothing fits.
    free = run.search(None)
    best = [int(np.argmin(r)) for r in ratings]
    assert free["block_losses"] == [float(ratings[i][k]) for i, k in enumerate(best)]
    assert free["children_rated"] == 49
    reference = build_mobile_network(BlockGenotype.from_string(_SKELETON), input_shape=(8, 8, 3), num_classes=10)
    budget = float(count_madds(reference))
    found = run.search(budget)
    model = build_mobile_network(BlockGenotype.from_string(found["genotype"]), input_shape=(8, 8, 3), num_classes=10)
    assert found["madds"] == count_madds(model) <= budget and found["params"] == count_params(model).trainable
    assert run.search(1.0)["genotype"] is None
    stored = json.loads((tmp_path / "block_ratings.json").read_text())
    assert len(stored["blocks"]) == 2  # a rerun reads the ratings instead of recomputing them
    again = MobileDna(str(tmp_path), MobileDnaConfig(**_TINY), context)
    np.testing.assert_allclose(again.rate_all()[1], ratings[1])
    # The comparison trains the found network and the reference from scratch, and tests all three.
    x_test, y_test = context.images(48)[0][:16], context.images(48)[1][:16]
    result = run.compare(BlockGenotype.from_string(found["genotype"]), x_test, y_test)
    assert set(result) == {"dna", "reference", "teacher"}
    assert result["reference"]["madds"] == budget and result["dna"]["madds"] <= budget
    assert all(0.0 <= r["test_accuracy"] <= 100.0 for r in result.values())
