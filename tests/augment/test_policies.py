"""Tests of the policy genotype and the published policies in tf.data (tfnas.data.policies)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tfnas.data import policies as P
from tfnas.genotypes import codec
from tfnas.genotypes.policy import PolicyGenotype
from tfnas.ops import augment_ops as A

_ROOT = pathlib.Path(__file__).resolve().parents[2]


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


# Expected tables, typed from the sources (not from tfnas), one sub-policy per line:
# (op, probability, level) x 2. CIFAR-10: tensorflow/models official/vision/ops/augment.py @
# 00b830c7ca641413f37e5147cf059c89f79b0e8e, AutoAugment.policy_reduced_cifar10() (the paper's
# table, arXiv 1805.09501 appendix); rows 0-4, 5-9, 10-14 and 20-24 are also the groups exp0_0,
# exp1_0, exp2_0 and exp0_1 of research/autoaugment/policies.py good_policies() @
# 27b4acd41d752b0232b002111fd7c9ea69ef528a. Row 16 was ("Equalize", 0.8, 4) in tfnas before;
# the table has 0.6.
EXPECTED_AUTOAUGMENT_CIFAR10 = (
    (("Invert", 0.1, 7), ("Contrast", 0.2, 6)),
    (("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)),
    (("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)),
    (("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.5, 8), ("Equalize", 0.9, 2)),
    (("ShearY", 0.2, 7), ("Posterize", 0.3, 7)),
    (("Color", 0.4, 3), ("Brightness", 0.6, 7)),
    (("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)),
    (("Equalize", 0.6, 5), ("Equalize", 0.5, 1)),
    (("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)),
    (("Color", 0.7, 7), ("TranslateX", 0.5, 8)),
    (("Equalize", 0.3, 7), ("AutoContrast", 0.4, 8)),
    (("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)),
    (("Brightness", 0.9, 6), ("Color", 0.2, 8)),
    (("Solarize", 0.5, 2), ("Invert", 0.0, 3)),
    (("Equalize", 0.2, 0), ("AutoContrast", 0.6, 0)),
    (("Equalize", 0.2, 8), ("Equalize", 0.6, 4)),
    (("Color", 0.9, 9), ("Equalize", 0.6, 6)),
    (("AutoContrast", 0.8, 4), ("Solarize", 0.2, 8)),
    (("Brightness", 0.1, 3), ("Color", 0.7, 0)),
    (("Solarize", 0.4, 5), ("AutoContrast", 0.9, 3)),
    (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)),
    (("AutoContrast", 0.9, 2), ("Solarize", 0.8, 3)),
    (("Equalize", 0.8, 8), ("Invert", 0.1, 3)),
    (("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1)),
)

# ImageNet: the same file's AutoAugment.policy_reduced_imagenet() (the paper's table; rows
# 20-24 repeat rows 4, 1, 13, 14, 2 as printed); rows 0-19 also equal google-research/uda
# image/randaugment/policies.py imagenet_policies() @ 6aabffa896458fb7806eba9d94fbfeca77f3b72e.
EXPECTED_AUTOAUGMENT_IMAGENET = (
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
    (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, 4), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, 7)),
    (("Posterize", 0.8, 5), ("Equalize", 1.0, 2)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, 8), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, 2)),
    (("Equalize", 0.0, 7), ("Equalize", 0.8, 8)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, 8)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, 9)),
    (("Color", 0.4, 0), ("Equalize", 0.6, 3)),
    (("Equalize", 0.4, 7), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)),
    (("Invert", 0.6, 4), ("Equalize", 1.0, 8)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, 8), ("Equalize", 0.6, 3)),
)

# RandAugment's 14 ops in the paper's order (arXiv 1909.13719, section 3), and its CIFAR-10
# setting for Wide-ResNet-28-2 (appendix): N=3, M=4.
EXPECTED_RANDAUGMENT_OPS = (
    "Identity", "AutoContrast", "Equalize", "Rotate", "Solarize", "Color", "Posterize", "Contrast",
    "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
)
EXPECTED_RANDAUGMENT_CIFAR10_N = 3
EXPECTED_RANDAUGMENT_CIFAR10_M = 4.0


def _assert_same_table(got, expected, name):
    got = tuple(got)
    assert len(got) == len(expected), f"{name}: {len(got)} sub-policies, expected {len(expected)}"
    for i, (sub, want) in enumerate(zip(got, expected)):
        assert len(sub) == len(want), f"{name} sub-policy {i}: {len(sub)} steps, expected {len(want)}"
        for j, (step, (op, prob, level)) in enumerate(zip(sub, want)):
            got_op, got_prob, got_level = step
            assert (got_op, got_prob, got_level) == (op, prob, level), (
                f"{name} sub-policy {i} step {j}: {step!r}, expected {(op, prob, level)!r}")
            assert isinstance(got_op, str)


@pytest.mark.parametrize("name, table, expected", [
    ("autoaugment_cifar10", "AUTOAUGMENT_CIFAR10", EXPECTED_AUTOAUGMENT_CIFAR10),
    ("autoaugment_imagenet", "AUTOAUGMENT_IMAGENET", EXPECTED_AUTOAUGMENT_IMAGENET),
])
def test_published_autoaugment_policies_match_the_source_entry_by_entry(name, table, expected):
    _assert_same_table(getattr(P, table), expected, table)
    _assert_same_table(P.published_policy(name).subpolicies, expected, name)


def test_entry_check_fails_on_any_single_change():
    # The comparison itself is sensitive to every field of every entry.
    for i, sub in enumerate(EXPECTED_AUTOAUGMENT_CIFAR10):
        for j, (op, prob, level) in enumerate(sub):
            for changed in ((("Identity" if op != "Identity" else "Rotate"), prob, level),
                            (op, round(1.0 - prob, 1) if prob != 0.5 else 0.4, level), (op, prob, level + 1)):
                table = [list(s) for s in EXPECTED_AUTOAUGMENT_CIFAR10]
                table[i][j] = changed
                with pytest.raises(AssertionError, match=f"sub-policy {i} step {j}"):
                    _assert_same_table(tuple(tuple(s) for s in table), EXPECTED_AUTOAUGMENT_CIFAR10, "t")


def test_randaugment_ops_and_cifar10_defaults():
    assert A.RANDAUGMENT_OPS == EXPECTED_RANDAUGMENT_OPS
    assert (P.RANDAUGMENT_CIFAR10_N, P.RANDAUGMENT_CIFAR10_M) == (EXPECTED_RANDAUGMENT_CIFAR10_N,
                                                                   EXPECTED_RANDAUGMENT_CIFAR10_M)
    g = P.randaugment()
    assert (g.kind, g.n, g.m) == ("randaugment", 3, 4.0)
    assert g.to_string() == "randaugment:n=3,m=4"
    assert P.published_policy("randaugment:n=3,m=4") == g
    assert P.published_policy("randaugment:n=2,m=9") == P.randaugment(2, 9)


def test_eval_policies_uses_the_same_randaugment_defaults():
    # A subprocess: launch.eval_policies defines absl flags at import (process-global).
    code = ("import json, launch.eval_policies as e; c = e.EvalConfig(); "
            "print(json.dumps([c.ra_n, c.ra_m, e._RA_N.default, e._RA_M.default]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=_ROOT, capture_output=True, text=True, check=False,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [3, 4.0, 3, 4.0]


def test_published_policies():
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


@pytest.mark.parametrize("name", P.SEARCHED_POLICIES)
def test_searched_policies_ship_with_their_search_and_plot(name):
    """The searched rows of WORKSPACE.md's augmentation table: each policy loads, came from the
    table's search (2,000 CIFAR-10 images, 50 epochs, 16 channels, 2 stages of DDAS's 52 entries)
    and is, as the table says, near uniform: apply probability within 0.05 of its initial 0.5 and
    every stage's entropy within 0.02 nats of the uniform log 52."""
    policy, search = P.searched_policy(name)
    method = name.split("_")[0]
    assert policy.kind == "distribution" and search["method"] == method
    assert (search["train_examples"], search["epochs"], search["seed"]) == (2000, 50, 0)
    assert (search["config"]["channels"], search["config"]["layers"], search["config"]["stages"]) == (16, 1, 2)
    assert search["search_cpu_seconds"] > 0
    assert abs(policy.apply - 0.5) < 0.05
    assert len(policy.stages) == 2
    for stage in policy.stages:
        assert len(stage) == len(P.DDAS_ENTRIES)
        p = np.array([prob for _, _, prob in stage])
        assert abs(p.sum() - 1.0) < 3e-3  # 52 entries rounded to 4 decimals
        assert np.log(len(p)) - float(-(p * np.log(p)).sum()) < 0.02
    plot = pathlib.Path(P.__file__).parent / "searched_policies" / f"{name}.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_searched_policy_names_the_known_ones():
    with pytest.raises(ValueError, match="Known: ddas_cifar10_2000"):
        P.searched_policy("ddas_imagenet")


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


def _dist(apply, invert):
    return P.published_policy(f"distribution:apply={apply}|Identity@0={1 - invert},Invert@0={invert}")


def test_a_schedule_draws_what_its_indexed_policy_draws():
    early, late = _dist(0.1, 0.2), _dist(0.9, 0.7)
    schedule = P.PolicySchedule([early, late])
    for index, policy in ((0, early), (1, late)):
        got = P.sample_policy(schedule, 256, (0, 5), index=tf_int(index))
        want = P.sample_policy(policy, 256, (0, 5))
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # epochs stretched over the history: 2 policies over 5 epochs -> 0, 0, 0, 1, 1
    assert [schedule.policy_index(e, 5) for e in range(5)] == [0, 0, 0, 1, 1]
    assert [int(schedule.policy_index(tf_int(e), 5)) for e in range(5)] == [0, 0, 0, 1, 1]
    assert schedule.final is late and len(schedule) == 2


def tf_int(value):
    import tensorflow as tf

    return tf.constant(value, tf.int32)


def test_policy_dataset_replays_the_schedule_by_epoch():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 8, 8, 3)).astype("uint8")
    train = tf.data.Dataset.from_tensor_slices((images, np.arange(16)))
    clean, inverted = _dist(0.0, 1.0), _dist(1.0, 1.0)  # never augmented; always Invert
    kwargs = dict(cutout=0, padding=0, flip=False, dataset="cifar10", seed=4, repeat=True)

    def batches(policy, **extra):
        return list(P.make_policy_dataset(train, 4, policy, **kwargs, **extra).take(8).as_numpy_iterator())

    replay = batches(P.PolicySchedule([clean, inverted]), schedule_epochs=(4, 2))  # 4 batches an epoch, 2 epochs
    plain, flipped = batches(clean), batches(inverted)
    for i, (x, y) in enumerate(replay):
        want = plain[i] if i < 4 else flipped[i]
        np.testing.assert_array_equal(y, want[1])
        np.testing.assert_allclose(x, want[0], atol=1e-6)
    assert np.abs(plain[5][0] - flipped[5][0]).max() > 0.5  # the two policies do differ
    with pytest.raises(ValueError, match="schedule_epochs"):
        P.make_policy_dataset(train, 4, P.PolicySchedule([clean]), **kwargs)


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        P.PolicySchedule([])
    with pytest.raises(ValueError, match="distribution"):
        P.PolicySchedule([P.randaugment(2, 9)])
    other = P.published_policy("distribution:apply=0.5|Identity@0=0.5,Rotate@5=0.5")
    with pytest.raises(ValueError, match="other"):
        P.PolicySchedule([_dist(0.5, 0.5), other])


def test_a_search_history_loads_as_its_schedule(tmp_path):
    from tfnas.algorithms.augment_runner import load_policy_history

    policies = [_dist(0.2, 0.1), _dist(0.4, 0.3), _dist(0.6, 0.5)]
    (tmp_path / "history.json").write_text(json.dumps(
        {"epochs": [{"epoch": i + 1, "genotype": p.to_string()} for i, p in enumerate(policies)]}))
    assert load_policy_history(str(tmp_path)).policies == tuple(policies)
    (tmp_path / "history.json").write_text("{not json")
    with pytest.raises(ValueError, match="history.json"):
        load_policy_history(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="no per-epoch policy history"):
        load_policy_history(str(tmp_path))
