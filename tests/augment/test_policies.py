"""Tests of the policy genotype and the published policies in tf.data (tfnas.data.policies)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfnas.data import policies as P
from tfnas.genotypes import codec
from tfnas.genotypes.policy import PolicyGenotype
from tfnas.ops import augment_ops as A


@pytest.mark.parametrize("text", [
    "subpolicies:Invert,0.1,7+Contrast,0.2,6|Rotate,0.7,2+TranslateX,0.3,9",
    "randaugment:n=2,m=9",
    "trivialaugment",
    "distribution:apply=0.62|Identity@0=0.5,Rotate@5=0.5|Color@10=1",
])
def test_string_and_json_round_trip(text):
    g = codec.parse(text)
    assert isinstance(g, PolicyGenotype)
    assert g.to_string() == text
    assert PolicyGenotype.from_string(g.to_string()) == g
    assert codec.from_dict(json.loads(g.to_json())) == g


def test_published_policies():
    cifar = P.published_policy("autoaugment_cifar10")
    assert len(cifar.subpolicies) == 25 and all(len(s) == 2 for s in cifar.subpolicies)
    assert cifar.subpolicies[0] == (("Invert", 0.1, 7.0), ("Contrast", 0.2, 6.0))
    assert len(P.published_policy("autoaugment_imagenet").subpolicies) == 25
    assert P.published_policy("randaugment:n=3,m=4") == P.randaugment(3, 4)
    assert len(P.DDAS_ENTRIES) == 52


@pytest.mark.parametrize("text, match", [
    ("randaugment:n=0,m=4", "n must be an integer >= 1"),
    ("randaugment:n=2,m=11", r"level must be in \[0, 10\]"),
    ("subpolicies:Zoom,0.5,3", "Unknown augmentation op 'Zoom'"),
    ("subpolicies:Rotate,1.5,3", r"probability must be in \[0, 1\]"),
    ("distribution:apply=0.5|Identity@0=0.3,Rotate@5=0.3", "must sum to 1"),
    ("trivialaugment:x", "Invalid policy string"),
])
def test_bad_strings_say_what_is_wrong(text, match):
    with pytest.raises(ValueError, match=match):
        PolicyGenotype.from_string(text)
    with pytest.raises(ValueError):
        P.published_policy("not_a_policy")


def test_from_probabilities_normalises_and_drops_small_entries():
    g = PolicyGenotype.from_probabilities(0.3, [[0.2, 0.6, 0.2001], [1.0, 0.0, 0.0]],
                                          [("Identity", 0), ("Rotate", 5), ("Color", 10)], min_probability=0.01)
    assert abs(sum(p for *_, p in g.stages[0]) - 1.0) < 1e-9
    assert g.stages[1] == (("Identity", 0.0, 1.0),)
    assert PolicyGenotype.from_string(g.to_string()) == g


def test_sampling_follows_the_policy():
    n = 4000
    ops, mags = P.sample_policy(P.randaugment(2, 9), n, (0, 1))
    assert ops.shape == (n, 2) and np.allclose(mags.numpy(), 0.9)
    assert set(np.unique(ops.numpy())) == {A.op_index(o) for o in A.RANDAUGMENT_OPS}
    ops, _ = P.sample_policy(P.published_policy("distribution:apply=0.25|Identity@0=0.2,Invert@0=0.8"), n, (0, 2))
    invert = (ops.numpy()[:, 0] == A.op_index("Invert")).mean()
    assert abs(invert - 0.25 * 0.8) < 0.03
    ops, mags = P.sample_policy(P.published_policy("autoaugment_cifar10"), n, (0, 3))
    # Each step is applied with its probability: on average sum(p) / 25 per slot.
    expected = np.mean([[p for _, p, _ in s] for s in P.AUTOAUGMENT_CIFAR10], axis=0)
    assert np.allclose((ops.numpy() != 0).mean(axis=0), expected, atol=0.04)


def test_policy_pipeline_on_cifar10(data_dir):
    from tfnas import data

    train, _ = data.load_splits("cifar10", data_dir=str(data_dir))
    train = train.take(64)
    ds = P.make_policy_dataset(train, 32, P.published_policy("autoaugment_cifar10"), seed=3)
    batches = list(ds.as_numpy_iterator())
    again = list(P.make_policy_dataset(train, 32, P.published_policy("autoaugment_cifar10"), seed=3).as_numpy_iterator())
    plain = list(P.make_policy_dataset(train, 32, None, seed=3).take(1).as_numpy_iterator())
    assert len(batches) == 2 and batches[0][0].shape == (32, 32, 32, 3)
    for (x, y), (x2, y2) in zip(batches, again):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    assert any(np.abs(a[0] - b[0]).max() > 0.1 for a, b in zip(batches, plain))
    assert np.isfinite(batches[0][0]).all()
    with pytest.raises(ValueError, match="batch_size"):
        P.make_policy_dataset(train, 0, None)
