"""Augmentation policies as baselines, and applying any policy genotype in a `tf.data` pipeline.

Published policies (`PUBLISHED_POLICIES`, `published_policy(name)`):

- `autoaugment_cifar10`, `autoaugment_imagenet`: AutoAugment's 25 sub-policies of two
  `(op, probability, level)` steps each, as the paper's appendix tables print them (arXiv
  1805.09501; the CIFAR-10 one was found on reduced CIFAR-10 with Wide-ResNet-40-2).
- `randaugment(n, m)`: RandAugment, N of its 14 ops drawn uniformly per image, all at level M;
  the defaults are the paper's CIFAR-10 setting for its smallest network (see below).
- `trivialaugment`: TrivialAugment, one of the same 14 ops per image at a level drawn
  uniformly from 31 levels (0, 1/3, ..., 10) of the standard ranges ("TA (RA)" in the
  paper's notation; its "wide" ranges are not used here).

Provenance (every entry is pinned by `tests/augment/test_policies.py`, whose expected tables
were typed from these sources independently of this module):

- `AUTOAUGMENT_CIFAR10`: checked entry by entry (op, probability, level) against
  `tensorflow/models` `official/vision/ops/augment.py` @ 00b830c7ca641413f37e5147cf059c89f79b0e8e,
  `AutoAugment.policy_reduced_cifar10()` (the authors' organisation's transcription of the
  paper's table), and against the CIFAR training code the authors released with the paper,
  `tensorflow/models` `research/autoaugment/policies.py` @ 27b4acd41d752b0232b002111fd7c9ea69ef528a,
  `good_policies()`. `good_policies()` is not this table: it returns 95 sub-policies (19
  groups of 5, `exp0_0` ... `exp2_7`) that were used for training. The table's sub-policies
  0-4, 5-9, 10-14 and 20-24 are its groups `exp0_0`, `exp1_0`, `exp2_0` and `exp0_1`, equal
  entry by entry; sub-policies 15-19 appear only in the paper's table (and
  `policy_reduced_cifar10`). The paper table and the code agree on every shared entry, so
  no entry here had to choose between them. This module keeps the paper's 25; the 95 of
  `good_policies()` are not registered.
- `AUTOAUGMENT_IMAGENET`: checked entry by entry against the same file's
  `AutoAugment.policy_reduced_imagenet()` (the paper's table; sub-policies 20-24 repeat
  4, 1, 13, 14 and 2 as the paper prints them), and sub-policies 0-19 against
  `google-research/uda` `image/randaugment/policies.py` @ 6aabffa896458fb7806eba9d94fbfeca77f3b72e,
  `imagenet_policies()` (equal). Deliberately NOT `tensorflow/tpu`
  `models/official/efficientnet/autoaugment.py` `policy_v0()`: despite its docstring, that is
  a different 25-sub-policy policy (it uses `SolarizeAdd`, which is not an op here, and shares
  no sub-policy with the paper's ImageNet table). It is not a variant of this table.
- Levels: the tables print integer levels 0..9 and the authors' code maps a level L to
  L / 10 of the op's range (`PARAMETER_MAX = 10` / `_MAX_LEVEL = 10.`); `sample_policy` does
  the same (magnitude L / 10). Re-implementations that spread 10 levels over the whole range
  (`np.linspace(0, max, 10)`, level 9 = max) differ from the authors' code here, and
  this module follows the code. Ops without a magnitude (AutoContrast, Equalize, Invert)
  keep the level the table prints, which is ignored.
- `RANDAUGMENT_OPS` (`tfnas.ops.augment_ops`): the 14 ops of the RandAugment paper (arXiv
  1909.13719, section 3: identity, autoContrast, equalize, rotate, solarize, color, posterize,
  contrast, brightness, sharpness, shear-x, shear-y, translate-x, translate-y). The authors'
  ImageNet code (`tensorflow/tpu` `models/official/efficientnet/autoaugment.py` @
  181b860b3573d7570d7458fb2314a9956e5df1e2, `distort_image_with_randaugment`, `available_ops`)
  draws from 16 ops instead: no Identity, plus Invert, Cutout and SolarizeAdd. This is a
  deliberate difference: the paper's list is kept because it is the method as published,
  TrivialAugment's "TA (RA)" uses the same 14, and SolarizeAdd is not an op here.
- `RANDAUGMENT_CIFAR10_N`, `RANDAUGMENT_CIFAR10_M` (the `randaugment()` defaults and
  `launch.eval_policies --ra_n/--ra_m`): N=3, M=4. For CIFAR-10 the paper's appendix fixes
  N=3 and gives the optimal M per network: 4 for Wide-ResNet-28-2, 5 for Wide-ResNet-28-10
  (public reproductions use the same: `ildoonet/pytorch-randaugment`
  `confs/wresnet28x10_cifar10_b256.yaml` N=3, M=5 "from appendix"; `automl/trivialaugment`'s
  `randaugn=3,m=5` WRN-28-10 config). The optimal M grows with model size and the networks
  trained here (`launch.eval_policies`: about 80k parameters) are far smaller than even
  WRN-28-2 (1.5M), so the WRN-28-2 setting is the default. The previous default, N=2, M=9,
  is the paper's ImageNet ResNet-50 setting. Use `randaugment(3, 5)` for WRN-28-10-sized
  networks.

`sample_policy` turns a `PolicyGenotype` into per-image op indices and magnitudes
(`[B, slots]`), `apply_policy` applies them with `tfnas.ops.augment_ops.apply_op_slots`
(grouped by op), and `make_policy_dataset` is the training pipeline with a policy: shuffle,
batch, random crop and flip, the policy, normalisation, cutout, all seeded per batch.

`DDAS_ENTRIES` is the search space of DDAS (arXiv 2104.04282): eight ops without magnitude
and eleven ops at four levels (2.5, 5, 7.5, 10), 52 `(op, level)` entries per stage.

References:
    - Cubuk et al., AutoAugment: Learning Augmentation Policies from Data, arXiv 1805.09501.
    - Cubuk et al., RandAugment, arXiv 1909.13719.
    - Mueller & Hutter, TrivialAugment, arXiv 2103.10158.
    - Liu et al., Direct Differentiable Augmentation Search, arXiv 2104.04282.

Example:
>>> from tfnas import data
>>> train, _ = data.load_splits("digits")  # doctest: +SKIP
>>> batches = make_policy_dataset(train, 64, published_policy("autoaugment_cifar10"),
...                               dataset="digits")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfnas.data import augment as augment_lib
from tfnas.data.pipeline import Stats, resolve_flip, resolve_stats
from tfnas.genotypes.policy import PolicyGenotype
from tfnas.ops.augment_ops import OP_NAMES, RANDAUGMENT_OPS, apply_op_slots, op_index
from tfnas.registry import Registry

SeedLike = tf.Tensor | Sequence[int]

_S = tuple[tuple[str, float, float], tuple[str, float, float]]

#: AutoAugment's CIFAR-10 policy (arXiv 1805.09501, appendix): (op, probability, level). The
#: paper prints levels 0..9; as in the authors' code (`PARAMETER_MAX = 10`), level L means
#: magnitude L/10 of the op's range. Checked entry by entry against `policy_reduced_cifar10()`
#: and `good_policies()` (see the module docstring for repository, path and commit).
AUTOAUGMENT_CIFAR10: tuple[_S, ...] = (
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

#: AutoAugment's ImageNet policy (arXiv 1805.09501, appendix), same convention. Checked entry by
#: entry against `policy_reduced_imagenet()` and UDA's `imagenet_policies()` (module docstring).
AUTOAUGMENT_IMAGENET: tuple[_S, ...] = (
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

#: DDAS ops without a magnitude, searched at level 0.
DDAS_PLAIN_OPS: tuple[str, ...] = ("Identity", "FlipLR", "FlipUD", "AutoContrast", "Equalize", "Invert", "Blur",
                                   "Smooth")
#: DDAS ops searched at `DDAS_LEVELS`.
DDAS_MAGNITUDE_OPS: tuple[str, ...] = ("Rotate", "Posterize", "ShearX", "ShearY", "TranslateX", "TranslateY",
                                       "Solarize", "Color", "Contrast", "Brightness", "Sharpness")
DDAS_LEVELS: tuple[float, ...] = (2.5, 5.0, 7.5, 10.0)


def ddas_entries(levels: Sequence[float] = DDAS_LEVELS) -> tuple[tuple[str, float], ...]:
    """Returns the `(op, level)` entries of the DDAS search space (52 with the default 4 levels).

    Args:
        levels: Levels (0..10) of the ops that have a magnitude.

    Returns:
        Plain ops at level 0, then every magnitude op at every level.

    Raises:
        ValueError: for an empty `levels` or a level outside [0, 10].

    Example:
    >>> len(ddas_entries())
    52
    """
    levels = tuple(float(v) for v in levels)
    if not levels or any(not 0.0 <= v <= 10.0 for v in levels):
        raise ValueError(f"levels must be a non-empty list of numbers in [0, 10]. Received: levels={levels}")
    return tuple((op, 0.0) for op in DDAS_PLAIN_OPS) + tuple((op, v) for op in DDAS_MAGNITUDE_OPS for v in levels)


DDAS_ENTRIES: tuple[tuple[str, float], ...] = ddas_entries()

#: Published policy name -> genotype.
PUBLISHED_POLICIES: Registry[PolicyGenotype] = Registry("published augmentation policy")
PUBLISHED_POLICIES.register(
    "autoaugment_cifar10", PolicyGenotype(kind="subpolicies", subpolicies=AUTOAUGMENT_CIFAR10))
PUBLISHED_POLICIES.register(
    "autoaugment_imagenet", PolicyGenotype(kind="subpolicies", subpolicies=AUTOAUGMENT_IMAGENET))
PUBLISHED_POLICIES.register("trivialaugment", PolicyGenotype(kind="trivialaugment"))

#: RandAugment's CIFAR-10 setting for Wide-ResNet-28-2 (arXiv 1909.13719, appendix): N ops per
#: image. The paper fixes N=3 on CIFAR-10 (module docstring: why WRN-28-2's setting).
RANDAUGMENT_CIFAR10_N: int = 3
#: ... and the level M of every op (0..10 scale); 5 is the paper's value for Wide-ResNet-28-10.
RANDAUGMENT_CIFAR10_M: float = 4.0


def randaugment(n: int = RANDAUGMENT_CIFAR10_N, m: float = RANDAUGMENT_CIFAR10_M) -> PolicyGenotype:
    """Returns the RandAugment(N, M) policy genotype.

    The defaults are the paper's CIFAR-10 setting for Wide-ResNet-28-2, N=3, M=4
    (`RANDAUGMENT_CIFAR10_N`, `RANDAUGMENT_CIFAR10_M`); its ImageNet ResNet-50 setting is
    `randaugment(2, 9)`.

    References:
        Cubuk et al., RandAugment, arXiv 1909.13719.

    Args:
        n: Ops applied per image (default 3).
        m: Level of every op, 0..10 (default 4).

    Returns:
        The `randaugment` genotype.

    Raises:
        ValueError: for `n < 1` or `m` outside [0, 10].

    Example:
    >>> randaugment().to_string()
    'randaugment:n=3,m=4'
    >>> randaugment(2, 9).to_string()
    'randaugment:n=2,m=9'
    """
    return PolicyGenotype(kind="randaugment", n=n, m=m)


def published_policy(name: str) -> PolicyGenotype:
    """Returns a published policy by name, or a policy string / `randaugment:n=N,m=M` parsed.

    Args:
        name: `autoaugment_cifar10`, `autoaugment_imagenet`, `trivialaugment`, or any
            canonical policy string.

    Returns:
        The `PolicyGenotype`.

    Raises:
        ValueError: if `name` is neither a published name nor a valid policy string.

    Example:
    >>> published_policy("autoaugment_cifar10").kind
    'subpolicies'
    """
    key = name.strip().lower().replace("-", "_")
    if key in PUBLISHED_POLICIES:
        return PUBLISHED_POLICIES.get(key)
    if not PolicyGenotype.looks_like(name):
        raise ValueError(
            f"Unknown policy {name!r}. Known names: {', '.join(PUBLISHED_POLICIES.names())}, "
            "or a policy string such as 'randaugment:n=3,m=4'."
        )
    return PolicyGenotype.from_string(name)


#: Policies searched here, shipped as data: `tfnas/data/searched_policies/<name>.json` (the
#: search's `genotype.json`: the policy, the search's config and cost) and `<name>.png` (its final
#: (op, level) probabilities, `tfnas.genotypes.plot.plot_policy_distribution`). They are the
#: searched rows of the augmentation table in WORKSPACE.md: 2,000 CIFAR-10 training images
#: (1,000 for the weights, 1,000 for the policy), 50 epochs, NAS-Bench-201 cell 9930 at 16
#: channels, seed 0 (DAAS searches its cell too; its policy is the one kept).
SEARCHED_POLICIES: tuple[str, ...] = ("ddas_cifar10_2000", "pg_cifar10_2000", "daas_cifar10_2000")


def searched_policy(name: str) -> tuple[PolicyGenotype, dict]:
    """Returns a policy searched here (`SEARCHED_POLICIES`) and its search's record.

    Args:
        name: One of `SEARCHED_POLICIES`.

    Returns:
        `(policy, search)`: the `distribution` `PolicyGenotype` and the search's record
        (method, config, examples, CPU seconds, final metrics).

    Raises:
        ValueError: for an unknown name.

    Example:
    >>> policy, search = searched_policy("pg_cifar10_2000")
    >>> policy.kind, search["method"], search["train_examples"]
    ('distribution', 'pg', 2000)
    """
    if name not in SEARCHED_POLICIES:
        raise ValueError(f"Unknown searched policy {name!r}. Known: {', '.join(SEARCHED_POLICIES)}.")
    path = importlib.resources.files("tfnas.data") / "searched_policies" / f"{name}.json"
    content = json.loads(path.read_text())
    return PolicyGenotype.from_dict(content), content["search"]


class PolicySchedule:
    """A searched policy's per-epoch history, replayed over a training run as a schedule.

    DDAS's evaluation protocol (Liu et al., arXiv 2104.04282): the final training does not
    use the search's last policy alone but replays the policy the search held after each of
    its epochs, stretched over the training epochs: training epoch `e` of `E` (0-based)
    augments with `policies[floor(e * P / E)]` of the `P` recorded ones. The augmentation
    searches record that history (`history.json`, one exported policy per epoch);
    `launch.eval_policies --replay_history` uses it.

    Args:
        policies: `distribution` policies, oldest first, all over the same stages of
            `(op, level)` entries (only their probabilities and `apply` differ).

    Raises:
        ValueError: for an empty history, a policy of another kind, or entries that change
            between epochs.

    Example:
    >>> g = PolicyGenotype(kind="distribution", apply=0.5, stages=((("Rotate", 5.0, 1.0),),))
    >>> PolicySchedule([g, g]).policy_index(epoch=3, epochs=4)
    1
    """

    def __init__(self, policies: Sequence[PolicyGenotype]) -> None:
        policies = tuple(policies)
        if not policies:
            raise ValueError("A policy schedule needs at least one policy (the search recorded no epoch).")
        first = policies[0]
        for i, policy in enumerate(policies):
            if not isinstance(policy, PolicyGenotype) or policy.kind != "distribution":
                raise ValueError(f"A policy schedule replays searched (distribution) policies; entry {i} is "
                                 f"{getattr(policy, 'kind', type(policy).__name__)!r}.")
            entries = [[(op, level) for op, level, _ in stage] for stage in policy.stages]
            if entries != [[(op, level) for op, level, _ in stage] for stage in first.stages]:
                raise ValueError(f"Entry {i} of the policy schedule has other (op, level) entries than entry 0; "
                                 "a history comes from one search.")
        self.policies = policies

    def __len__(self) -> int:
        return len(self.policies)

    @property
    def final(self) -> PolicyGenotype:
        """The search's last policy (what a run without the replay would train with)."""
        return self.policies[-1]

    def policy_index(self, epoch, epochs: int):
        """The policy of training epoch `epoch` (0-based, int or int tensor) of `epochs`."""
        count = len(self.policies)
        if isinstance(epoch, int):
            return min(epoch * count // epochs, count - 1)
        return tf.minimum(epoch * count // epochs, count - 1)


def _uniform_ops(batch: tf.Tensor, slots: int, names: Sequence[str], seed: tf.Tensor) -> tf.Tensor:
    table = tf.constant([op_index(n) for n in names], tf.int32)
    pick = tf.random.stateless_uniform([batch, slots], seed, 0, len(names), dtype=tf.int32)
    return tf.gather(table, pick)


def sample_policy(policy: PolicyGenotype | PolicySchedule, batch_size: int | tf.Tensor, seed: SeedLike,
                  index: int | tf.Tensor = 0) -> tuple[tf.Tensor, tf.Tensor]:
    """Draws per-image op indices and magnitudes from a policy.

    Args:
        policy: A `PolicyGenotype`, or a `PolicySchedule` (then `index` picks its policy).
        batch_size: Images in the batch (int or scalar tensor).
        seed: Stateless seed.
        index: A schedule's policy (int or int32 scalar tensor; see `PolicySchedule.policy_index`).

    Returns:
        `(op_indices, magnitudes)`, both `[batch_size, slots]`: int32 indices into
        `tfnas.ops.augment_ops.OP_NAMES` (Identity, index 0, where a step is not applied)
        and float32 magnitudes in [0, 1].

    Raises:
        ValueError: if `policy` is not a `PolicyGenotype`.

    Example:
    >>> ops, mags = sample_policy(randaugment(2, 9), 4, (0, 0))
    >>> ops.shape, round(float(mags[0, 0]), 6)
    (TensorShape([4, 2]), 0.9)
    """
    if not isinstance(policy, (PolicyGenotype, PolicySchedule)):
        raise ValueError(f"policy must be a PolicyGenotype or a PolicySchedule. Received: {type(policy).__name__}")
    seeds = tf.random.experimental.stateless_split(tf.cast(tf.convert_to_tensor(seed), tf.int64), 4)
    if isinstance(policy, PolicySchedule):
        policies = policy.policies
        apply_table = tf.constant([p.apply for p in policies], tf.float32)
        stage_logits = [_stage_logits([p.stages[s] for p in policies]) for s in range(len(policies[0].stages))]
        index = tf.convert_to_tensor(index, tf.int32)
        return _sample_stages(policies[0].stages, [tf.gather(t, index)[tf.newaxis] for t in stage_logits],
                              tf.gather(apply_table, index), tf.convert_to_tensor(batch_size, tf.int32), seeds)
    batch = tf.convert_to_tensor(batch_size, tf.int32)
    if policy.kind == "randaugment":
        ops = _uniform_ops(batch, policy.n, RANDAUGMENT_OPS, seeds[0])
        return ops, tf.fill(tf.shape(ops), tf.constant(policy.m / 10.0, tf.float32))
    if policy.kind == "trivialaugment":
        ops = _uniform_ops(batch, 1, RANDAUGMENT_OPS, seeds[0])
        levels = tf.random.stateless_uniform([batch, 1], seeds[1], 0, 31, dtype=tf.int32)
        return ops, tf.cast(levels, tf.float32) / 30.0
    if policy.kind == "subpolicies":
        width = max(len(s) for s in policy.subpolicies)
        pad = ("Identity", 0.0, 0.0)
        rows = [list(s) + [pad] * (width - len(s)) for s in policy.subpolicies]
        ops_table = tf.constant([[op_index(op) for op, _, _ in r] for r in rows], tf.int32)
        prob_table = tf.constant([[p for _, p, _ in r] for r in rows], tf.float32)
        mag_table = tf.constant([[lv / 10.0 for _, _, lv in r] for r in rows], tf.float32)
        choice = tf.random.stateless_uniform([batch], seeds[0], 0, len(rows), dtype=tf.int32)
        applied = tf.random.stateless_uniform([batch, width], seeds[1]) < tf.gather(prob_table, choice)
        ops = tf.where(applied, tf.gather(ops_table, choice), 0)
        return ops, tf.gather(mag_table, choice)
    # distribution
    logits = [_stage_logits([stage]) for stage in policy.stages]
    return _sample_stages(policy.stages, logits, policy.apply, batch, seeds)


def _stage_logits(rows) -> tf.Tensor:
    """Log-probabilities `[len(rows), entries]` of stages given as `(op, level, p)` rows."""
    return tf.math.log(tf.constant([[max(p, 1e-12) for _, _, p in stage] for stage in rows], tf.float32))


def _sample_stages(stages, logits, apply, batch, seeds) -> tuple[tf.Tensor, tf.Tensor]:
    """A distribution policy's draw: one `(op, level)` entry per stage from `logits[s]`
    (`[1, entries]`), all stages applied with probability `apply`, else Identity."""
    ops_list, mags_list = [], []
    stage_seeds = tf.random.experimental.stateless_split(seeds[0], len(stages))
    for s, stage in enumerate(stages):
        ops_table = tf.constant([op_index(op) for op, _, _ in stage], tf.int32)
        mag_table = tf.constant([lv / 10.0 for _, lv, _ in stage], tf.float32)
        pick = tf.random.stateless_categorical(tf.tile(logits[s], [batch, 1]), 1, stage_seeds[s], dtype=tf.int32)[:, 0]
        ops_list.append(tf.gather(ops_table, pick))
        mags_list.append(tf.gather(mag_table, pick))
    applied = tf.random.stateless_uniform([batch], seeds[1]) < apply
    ops = tf.where(applied[:, tf.newaxis], tf.stack(ops_list, axis=1), 0)
    return ops, tf.stack(mags_list, axis=1)


def apply_policy(images: tf.Tensor, policy: PolicyGenotype | PolicySchedule, seed: SeedLike,
                 index: int | tf.Tensor = 0) -> tf.Tensor:
    """Augments a batch with a policy (grouped by op, seeded).

    Args:
        images: `[B, H, W, C]` images in [0, 255] (uint8 or float).
        policy: A `PolicyGenotype`, or a `PolicySchedule` (then `index` picks its policy).
        seed: Stateless seed.
        index: A schedule's policy (see `sample_policy`).

    Returns:
        `float32` augmented images in [0, 255].

    Raises:
        ValueError: for a non-policy or images of the wrong rank.

    Example:
    >>> x = tf.zeros([2, 8, 8, 3], tf.uint8)
    >>> apply_policy(x, published_policy("trivialaugment"), (0, 1)).dtype
    tf.float32
    """
    images = tf.convert_to_tensor(images)
    sample_seed, apply_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(tf.convert_to_tensor(seed), tf.int64), 2))
    ops, mags = sample_policy(policy, tf.shape(images)[0], sample_seed, index)
    return apply_op_slots(images, ops, mags, apply_seed)


def policy_augment(
    images: tf.Tensor,
    seed: SeedLike,
    policy: PolicyGenotype | PolicySchedule | None,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    padding: int = 4,
    flip: bool = True,
    cutout_size: int = 16,
    index: int | tf.Tensor = 0,
) -> tf.Tensor:
    """The training transform with a policy: crop, flip, policy, normalise, cutout.

    The order of AutoAugment's CIFAR code: the standard pad-and-crop and flip first, then
    the policy, then normalisation and cutout 16.

    Args:
        images: `uint8` `[B, H, W, C]` images.
        seed: Stateless seed.
        policy: The policy; None applies crop/flip/cutout only.
        mean: Per-channel mean on the [0, 1] scale.
        std: Per-channel std on the [0, 1] scale.
        padding: Zero padding of the random crop (0 disables it).
        flip: Random horizontal flip.
        cutout_size: Cutout square side (0 disables it).
        index: A schedule's policy (see `sample_policy`).

    Returns:
        `float32` normalised images.

    Example:
    >>> x = tf.zeros([2, 32, 32, 3], tf.uint8)
    >>> policy_augment(x, (0, 0), randaugment(), mean=(0.5,) * 3, std=(0.5,) * 3).shape
    TensorShape([2, 32, 32, 3])
    """
    crop_seed, flip_seed, policy_seed, cutout_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(tf.convert_to_tensor(seed), tf.int64), 4))
    images = augment_lib.random_crop(images, crop_seed, padding)
    if flip:
        images = augment_lib.random_flip_left_right(images, flip_seed)
    if policy is not None:
        images = apply_policy(images, policy, policy_seed, index) / 255.0
    images = augment_lib.normalize(images, mean, std)
    return augment_lib.cutout(images, cutout_seed, cutout_size)


def make_policy_dataset(
    ds: tf.data.Dataset,
    batch_size: int,
    policy: PolicyGenotype | PolicySchedule | None,
    *,
    cutout: int = 16,
    padding: int = 4,
    flip: bool | None = None,
    dataset: str = "cifar10",
    stats: Stats | None = None,
    seed: int = 0,
    repeat: bool = False,
    drop_remainder: bool = True,
    schedule_epochs: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """Builds a training pipeline that augments with `policy` (see `policy_augment`).

    Order: shuffle (whole split, reshuffled every pass) -> (repeat) -> batch -> crop, flip,
    policy, normalise, cutout with one stateless seed per batch -> prefetch.

    Args:
        ds: Unbatched `(uint8 image, label)` dataset of known cardinality.
        batch_size: Batch size.
        policy: The policy, a `PolicySchedule` (needs `schedule_epochs`), or None
            (crop/flip/cutout only).
        cutout: Cutout side (0 disables).
        padding: Crop padding (0 disables the crop).
        flip: Random horizontal flip; None: the dataset's default.
        dataset: Registered dataset name (normalisation statistics, flip default).
        stats: Explicit `(mean, std)`.
        seed: Seed of the shuffle and of every augmentation draw.
        repeat: Repeat forever.
        drop_remainder: Drop the last partial batch.
        schedule_epochs: `(steps_per_epoch, epochs)` of the training a `PolicySchedule` is
            stretched over: batch `i` (counted from 0 in the order the dataset yields them)
            belongs to epoch `i // steps_per_epoch` and uses that epoch's policy.

    Returns:
        A dataset of `(float32 images, labels)`.

    Raises:
        ValueError: for a non-positive `batch_size`, negative `cutout`/`padding`, or a
            dataset of unknown size.

    Example:
    >>> train, _ = load_splits("digits")  # doctest: +SKIP
    >>> make_policy_dataset(train, 32, randaugment(2, 9), dataset="digits")  # doctest: +SKIP
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    if cutout < 0 or padding < 0:
        raise ValueError(f"cutout and padding must be >= 0. Received: cutout={cutout}, padding={padding}")
    if isinstance(policy, PolicySchedule) and (schedule_epochs is None or min(schedule_epochs) < 1):
        raise ValueError("A PolicySchedule needs schedule_epochs=(steps_per_epoch, epochs), both positive. "
                         f"Received: schedule_epochs={schedule_epochs!r}")
    n = int(ds.cardinality())
    if n < 1:
        raise ValueError("The training dataset must have a known, positive size (take() it before repeat()).")
    mean, std = resolve_stats(dataset, stats)
    flip = resolve_flip(dataset, flip)
    ds = ds.shuffle(min(n, 50_000), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    seeds = tf.data.Dataset.random(seed=seed ^ 0xA06, rerandomize_each_iteration=True)
    base = tf.constant(seed, tf.int64)

    def _augment(batch, draw, step=None):
        images, labels = batch
        index = 0 if step is None else policy.policy_index(
            tf.cast(step // schedule_epochs[0], tf.int32), schedule_epochs[1])
        images = policy_augment(images, tf.stack([base, draw]), policy, mean=mean, std=std, padding=padding,
                                flip=flip, cutout_size=cutout, index=index)
        return images, labels

    # a schedule counts the batches (before the parallel map, so each batch keeps its number)
    parts = (ds, seeds, tf.data.Dataset.counter()) if isinstance(policy, PolicySchedule) else (ds, seeds)
    return tf.data.Dataset.zip(parts).map(_augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def op_marginals(stage_probabilities: np.ndarray, entries: Sequence[tuple[str, float]] = DDAS_ENTRIES) -> np.ndarray:
    """Sums entry probabilities per op: `[..., entries]` -> `[..., len(OP_NAMES)]`.

    Args:
        stage_probabilities: Probabilities over `entries` on the last axis.
        entries: The `(op, level)` entries.

    Returns:
        The probability of each op of `OP_NAMES` (0 for ops not in `entries`).

    Example:
    >>> float(op_marginals(np.full(52, 1 / 52)).sum().round(6))
    1.0
    """
    probs = np.asarray(stage_probabilities, dtype=np.float64)
    out = np.zeros(probs.shape[:-1] + (len(OP_NAMES),))
    for j, (op, _) in enumerate(entries):
        out[..., OP_NAMES.index(op)] += probs[..., j]
    return out
