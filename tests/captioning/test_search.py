"""AutoCaption's controller and search at tiny size: the sampled cells cover connections and
ops, REINFORCE moves the policy towards rewarded cells, and a killed search resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfnas.captioning.autornn import RNN_OPS, RNNCellGenotype
from tfnas.captioning.controller import CellController
from tfnas.captioning.search import CaptionSearchConfig, run_search


def test_controller_samples_cover_every_connection_and_op():
    controller = CellController(4, lstm_size=16)
    rng = np.random.default_rng(0)
    cells = [controller.sample(rng) for _ in range(100)]
    ops = {op for c in cells for op in c.ops}
    inputs = {(i, c.inputs[i]) for c in cells for i in range(1, 4)}
    assert ops == set(RNN_OPS)
    assert inputs == {(i, j) for i in range(1, 4) for j in range(i)}  # every node reads every earlier node
    assert len({c.to_string() for c in cells}) > 30


def test_log_prob_is_the_sampled_decisions_probability():
    """exp(log p) summed over every 2-node cell is 1: the controller is a distribution over cells."""
    import itertools

    controller = CellController(2, lstm_size=8)
    total = 0.0
    for a, b in itertools.product(RNN_OPS, RNN_OPS):
        log_prob, entropy = controller.log_prob_and_entropy(RNNCellGenotype((a, b), (-1, 0)))
        total += float(np.exp(float(log_prob)))
        assert float(entropy) > 0
    assert total == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="2-node cells"):
        controller.log_prob_and_entropy("tanh")


def test_reinforce_raises_the_probability_of_a_rewarded_op():
    """The controller's update as the search does it: rewarding cells whose node 0 is relu
    makes relu at node 0 more likely."""
    import keras
    import tensorflow as tf

    controller = CellController(2, lstm_size=16)
    optimizer = keras.optimizers.Adam(0.01)
    rng = np.random.default_rng(1)

    def p_relu():
        return sum(float(np.exp(float(controller.log_prob_and_entropy(RNNCellGenotype(("relu", b), (-1, 0)))[0])))
                   for b in RNN_OPS)

    before = p_relu()
    baseline = 0.0
    for _ in range(40):
        cell = controller.sample(rng)
        reward = 1.0 if cell.ops[0] == "relu" else 0.0
        with tf.GradientTape() as tape:
            log_prob, _ = controller.log_prob_and_entropy(cell)
            loss = -log_prob * (reward - baseline)
        optimizer.apply(tape.gradient(loss, controller.trainable_variables), controller.trainable_variables)
        baseline = 0.9 * baseline + 0.1 * reward
    assert p_relu() > before + 0.2


def _toy_data(n_train: int = 48, n_val: int = 12, seed: int = 0):
    from tests.captioning.test_model import _toy

    regions, captions, refs, vocab = _toy(n_train + n_val, seed)
    return regions[:n_train], captions[:n_train], regions[n_train:], refs[n_train:], vocab


_TINY = dict(num_nodes=3, units=16, embed_dim=8, attention_dim=8, epochs=3, batch_size=16, controller_steps=2,
             controller_aggregate=2, reward_images=6, derive_samples=3, max_length=6, learning_rate=1e-2)


def test_search_runs_and_a_killed_search_resumes_to_the_same_cell(tmp_path):
    data = _toy_data()
    config = CaptionSearchConfig(**_TINY)
    full = run_search(config, *data, workdir=str(tmp_path / "full"), log=lambda s: None)
    assert RNNCellGenotype.from_string(full["genotype"]).num_nodes == 3
    assert len(full["history"]) == 3 and full["history"][-1]["loss"] < full["history"][0]["loss"]
    assert full["val_cider_d"] == max(d["val_cider_d"] for d in full["derived"])
    assert json.loads((tmp_path / "full" / "search.json").read_text())["genotype"] == full["genotype"]
    stopped = run_search(config, *data, workdir=str(tmp_path / "part"), log=lambda s: None, stop_after_epoch=1)
    assert stopped == {"stopped_after_epoch": 1}
    resumed = run_search(config, *data, workdir=str(tmp_path / "part"), log=lambda s: None)
    assert resumed["resumed_from_epoch"] == 1
    assert resumed["genotype"] == full["genotype"]
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in full["history"]], rel=1e-5)
    with pytest.raises(ValueError, match="different config"):
        run_search(CaptionSearchConfig(**{**_TINY, "seed": 1}), *data, workdir=str(tmp_path / "full"))


def test_search_config_refuses_bad_values():
    with pytest.raises(ValueError, match="num_nodes must be a positive integer"):
        CaptionSearchConfig(num_nodes=0)
    with pytest.raises(ValueError, match="baseline_decay"):
        CaptionSearchConfig(baseline_decay=1.0)


def test_a_highway_search_shares_gated_weights_and_derives_a_highway_cell(tmp_path):
    data = _toy_data()
    config = CaptionSearchConfig(**{**_TINY, "epochs": 1, "derive_samples": 2, "highway": True})
    assert config.to_dict()["highway"] is True and "highway" not in CaptionSearchConfig(**_TINY).to_dict()
    report = run_search(config, *data, workdir=str(tmp_path / "hw"), log=lambda s: None)
    assert RNNCellGenotype.from_string(report["genotype"]).highway
    assert all(d["genotype"].startswith("highway:") for d in report["derived"])
    assert report["history"][0]["greedy_cell"].startswith("highway:")
