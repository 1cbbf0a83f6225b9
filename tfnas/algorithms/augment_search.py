"""Shared parts of the augmentation searches (DDAS, policy gradient, DAAS).

- `AugmentSearchConfig`: every hyper-parameter of an augmentation search, one frozen
  dataclass for the three methods (written to the workdir as JSON).
- `AugmentPolicy`: the searched two-level policy as a Keras layer: a sigmoid apply
  probability `s`, then per stage a softmax over the `(op, level)` entries of DDAS's space
  (`tfnas.data.policies.DDAS_ENTRIES`); a sub-policy is one entry per stage, applied in
  order. It exports a `PolicyGenotype` of kind `distribution`.
- `PolicySampler`: draws `(apply, picks)` for a batch from stateless seeds and augments a
  normalised batch in the train step (denormalise, apply the sampled ops grouped by op,
  renormalise, cutout), so the searches see exactly the ops `tfnas.data.policies` applies
  in the final training.
- `PolicyLearner`: REINFORCE with a moving-average baseline on the policy, shared by
  the policy-gradient search and DAAS.
- `AugmentSearch`: the Keras model base of DDAS and the policy-gradient search (a fixed
  network plus the policy; `train_step` in the subclasses).

Distribution. Under a `tf.distribute` strategy with R replicas each replica holds its rows of
the one-device global batch (`tfnas.data.distribute_global_batches`), and a step equals the
one-device step on that global batch, as the architecture searches' do (`tfnas.algorithms.base`):
the sampler draws every random number of the policy (apply, picks, op signs and op randomness,
cutout) for the global batch and keeps this replica's rows; losses are local means divided by
R and gradients are summed over the replicas (`sum_over_replicas`) before clipping, decay and
the optimizers (`apply_global_gradients`); the REINFORCE reward is the global mean and the
baseline is assigned through `assign_variables`. BatchNorm batch statistics are per replica.

References:
    - Liu et al., Direct Differentiable Augmentation Search (DDAS), arXiv 2104.04282.
    - Wang et al., DAAS: Differentiable Architecture and Augmentation Policy Search,
      arXiv 2109.15273.
    - Williams, Simple statistical gradient-following algorithms (REINFORCE), 1992.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfnas.algorithms.base import (
    apply_global_gradients,
    assign_variables,
    num_replicas,
    sum_over_replicas,
)
from tfnas.algorithms.config import SearchConfig
from tfnas.registry import Registry
from tfnas.runs import reducible_logs

#: Method name -> search class ("ddas", "pg", "daas"); filled by the method modules.
AUGMENT_SEARCHES: Registry[type] = Registry("augmentation search")

METHODS: tuple[str, ...] = ("ddas", "pg", "daas")
#: DDAS's per-image inner products: exact (forward mode over every weight) or the classifier's only.
INNER_PRODUCTS: tuple[str, ...] = ("exact", "last_layer")
#: The default fixed network: NAS-Bench-201 cell index 9930 (94.36% CIFAR-10 at 200 epochs), the
#: table's second best; the best, index 6111 (94.37), differs only in its last edge (nor_conv_1x1).
DEFAULT_NETWORK = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
_SEED_SALT = 0xDDA5


@dataclasses.dataclass(frozen=True)
class AugmentSearchConfig:
    """Hyper-parameters of an augmentation search (DDAS / policy gradient / DAAS).

    Defaults follow DDAS's official search where it says (policy Adam lr 0.005, apply
    probability lr 0.001, two-op sub-policies over 52 entries, cutout 16 always on, 20
    epochs) and GDAS for DAAS's architecture side (Adam 3e-4, betas (0.5, 0.999), wd 1e-3,
    temperature 10 -> 0.1).

    References:
        Liu et al., DDAS, arXiv 2104.04282; Wang et al., DAAS, arXiv 2109.15273;
        Dong & Yang, GDAS, arXiv 1910.04465.

    Args:
        method: `"ddas"`, `"pg"` or `"daas"`.
        epochs: Search epochs (one epoch = one pass over the weights part).
        batch_size: Batch of each part (training and validation) per step.
        train_portion: Fraction of the training examples for the weights.
        learning_rate: Weight SGD learning rate (cosine to `min_learning_rate`); DDAS's
            inner step uses the current value as its step size.
        min_learning_rate: Final weight learning rate.
        momentum: SGD momentum of the real weight update (the DDAS inner step has none).
        weight_decay: Coupled L2 of the real weight update.
        grad_clip: Global-norm clip of the real weight update (0 disables).
        policy_learning_rate: Adam learning rate of the op/magnitude logits.
        apply_learning_rate: Adam learning rate of the apply logit.
        apply_init: Initial apply probability `s`.
        stages: Ops per sub-policy.
        levels: Magnitude levels (0..10) of the ops that have one.
        cutout: Cutout side applied after the policy (0 disables).
        baseline_decay: Moving-average decay of the REINFORCE baseline (pg, daas).
        network: NAS-Bench-201 cell of the fixed network (ddas, pg).
        channels: Initial channels of the network / supernet.
        layers: Cells per stage of the network / supernet.
        arch_learning_rate: DAAS: Adam learning rate of the architecture.
        arch_weight_decay: DAAS: coupled L2 on the architecture.
        tau_max: DAAS: initial Gumbel temperature.
        tau_min: DAAS: final Gumbel temperature.
        seed: Seed of initialisation, data and sampling.
        inner_product: DDAS: how the per-image inner products `<g_val, grad_w l_i>` are
            computed: `"exact"` (every weight, one forward-mode pass; the paper's gradient)
            or `"last_layer"` (the classifier's weights only, in closed form from the
            training forward pass; the validation pass then back-propagates only into the
            classifier). See `tfnas.algorithms.ddas`.

    Raises:
        ValueError: naming the field and value that is out of range.

    Example:
    >>> AugmentSearchConfig(method="pg").baseline_decay
    0.9
    """

    method: str = "ddas"
    epochs: int = 20
    batch_size: int = 64
    train_portion: float = 0.5
    learning_rate: float = 0.05
    min_learning_rate: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    policy_learning_rate: float = 0.005
    apply_learning_rate: float = 0.001
    apply_init: float = 0.5
    stages: int = 2
    levels: tuple[float, ...] = (2.5, 5.0, 7.5, 10.0)
    cutout: int = 16
    baseline_decay: float = 0.9
    network: str = DEFAULT_NETWORK
    channels: int = 16
    layers: int = 1
    arch_learning_rate: float = 3e-4
    arch_weight_decay: float = 1e-3
    tau_max: float = 10.0
    tau_min: float = 0.1
    seed: int = 0
    inner_product: str = "exact"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}. Received: method={self.method!r}")
        if self.inner_product not in INNER_PRODUCTS:
            raise ValueError(f"inner_product must be one of {INNER_PRODUCTS}. Received: "
                             f"inner_product={self.inner_product!r}")
        for name in ("epochs", "batch_size", "stages", "channels", "layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        for name in ("cutout",):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 0. Received: {name}={getattr(self, name)!r}")
        for name in ("learning_rate", "policy_learning_rate", "apply_learning_rate", "arch_learning_rate", "tau_min"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0. Received: {name}={getattr(self, name)!r}")
        for name in ("min_learning_rate", "weight_decay", "grad_clip", "arch_weight_decay"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0. Received: {name}={getattr(self, name)!r}")
        for name in ("train_portion", "apply_init"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in (0, 1). Received: {name}={getattr(self, name)!r}")
        for name in ("momentum", "baseline_decay"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1). Received: {name}={getattr(self, name)!r}")
        if self.min_learning_rate > self.learning_rate:
            raise ValueError(
                f"min_learning_rate must not exceed learning_rate. Received: min_learning_rate="
                f"{self.min_learning_rate!r}, learning_rate={self.learning_rate!r}")
        if self.tau_max < self.tau_min:
            raise ValueError(f"tau_max must be >= tau_min. Received: tau_max={self.tau_max!r}, tau_min={self.tau_min!r}")
        levels = tuple(float(v) for v in self.levels)
        if not levels or any(not 0.0 < v <= 10.0 for v in levels):
            raise ValueError(f"levels must be numbers in (0, 10]. Received: levels={self.levels!r}")
        object.__setattr__(self, "levels", levels)
        if self.method != "daas":
            from tfnas.genotypes.nb201 import NB201Genotype

            try:
                NB201Genotype.from_string(self.network)
            except ValueError as err:
                raise ValueError(f"network must be a NAS-Bench-201 cell string. Received: network={self.network!r} "
                                 f"({err})") from None

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as a JSON-able dict (`inner_product` only when not `"exact"`, so
        a search written before the field existed resumes)."""
        data = dataclasses.asdict(self)
        data["levels"] = list(self.levels)
        if data["inner_product"] == "exact":
            del data["inner_product"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentSearchConfig:
        """Builds a config from `to_dict()` output.

        Raises:
            ValueError: for unknown keys or out-of-range values.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown AugmentSearchConfig fields: {unknown}. Known: {sorted(names)}")
        data = dict(data)
        if "levels" in data:
            data["levels"] = tuple(data["levels"])
        return cls(**data)

    def replace(self, **changes: Any) -> AugmentSearchConfig:
        """Returns a validated copy with `changes` applied."""
        return dataclasses.replace(self, **changes)

    def search_config(self) -> SearchConfig:
        """The `SearchConfig` of the weight (and, for DAAS, architecture) side, GDAS-style.

        Example:
        >>> AugmentSearchConfig(method="daas", epochs=3).search_config().algorithm
        'gdas'
        """
        return SearchConfig(
            algorithm="gdas", epochs=self.epochs, batch_size=self.batch_size, train_portion=self.train_portion,
            learning_rate=self.learning_rate, min_learning_rate=self.min_learning_rate, momentum=self.momentum,
            weight_decay=self.weight_decay, grad_clip=self.grad_clip, arch_learning_rate=self.arch_learning_rate,
            arch_weight_decay=self.arch_weight_decay, tau_max=self.tau_max, tau_min=self.tau_min,
            channels=self.channels, layers=self.layers, seed=self.seed,
        )


class AugmentPolicy(keras.layers.Layer):
    """The searched two-level augmentation policy: apply probability, then one entry per stage.

    `s = sigmoid(apply_logit)` is the probability that an image is augmented at all; if it
    is, each of the `stages` draws one `(op, level)` entry from `softmax(logits[stage])`
    and the drawn ops are applied in stage order.

    References:
        Liu et al., DDAS, arXiv 2104.04282.

    Args:
        entries: The `(op, level)` entries (default DDAS's 52).
        stages: Ops per sub-policy.
        apply_init: Initial `s`.
        **kwargs: Passed to `keras.layers.Layer`.

    Raises:
        ValueError: for an empty `entries`, `stages < 1` or `apply_init` outside (0, 1).

    Example:
    >>> policy = AugmentPolicy(stages=2)
    >>> policy.probabilities().shape
    (2, 52)
    """

    def __init__(self, entries: Sequence[tuple[str, float]] | None = None, stages: int = 2,
                 apply_init: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from tfnas.data.policies import DDAS_ENTRIES
        from tfnas.ops.augment_ops import op_index

        entries = tuple((str(op), float(level)) for op, level in (entries if entries is not None else DDAS_ENTRIES))
        if not entries:
            raise ValueError("entries must not be empty.")
        if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
            raise ValueError(f"stages must be a positive integer. Received: stages={stages!r}")
        if not 0.0 < apply_init < 1.0:
            raise ValueError(f"apply_init must be in (0, 1). Received: apply_init={apply_init!r}")
        self.entries = entries
        self.stages = stages
        self.apply_init = float(apply_init)
        self.entry_ops = np.array([op_index(op) for op, _ in entries], dtype="int32")
        self.entry_magnitudes = np.array([level / 10.0 for _, level in entries], dtype="float32")
        self.logits = self.add_weight(name="policy_logits", shape=(stages, len(entries)), initializer="zeros")
        self.apply_logit = self.add_weight(
            name="apply_logit", shape=(), initializer=keras.initializers.Constant(math.log(apply_init / (1 - apply_init))))
        self.built = True

    @property
    def num_entries(self) -> int:
        return len(self.entries)

    def probabilities(self):
        """`[stages, entries]` softmax probabilities."""
        return keras.ops.softmax(self.logits, axis=-1)

    def apply_probability(self):
        """The apply probability `s`."""
        return keras.ops.sigmoid(self.apply_logit)

    def entry_log_prob(self, picks):
        """Sum over stages of `log p_stage(picks[:, stage])`: `[B]` from `[B, stages]` int picks."""
        log_probs = keras.ops.log_softmax(self.logits, axis=-1)  # [S, K]
        one_hot = keras.ops.one_hot(picks, self.num_entries, dtype=log_probs.dtype)  # [B, S, K]
        return keras.ops.sum(one_hot * log_probs[None], axis=(1, 2))

    def log_prob(self, apply, picks):
        """Log-probability of each image's draw: `a log s + (1 - a) log(1 - s) + a * entry_log_prob`."""
        apply = keras.ops.cast(apply, "float32")
        log_s = keras.ops.log_sigmoid(self.apply_logit)
        log_not_s = keras.ops.log_sigmoid(-self.apply_logit)
        return apply * log_s + (1.0 - apply) * log_not_s + apply * self.entry_log_prob(picks)

    def entropy(self):
        """Mean entropy (nats) of the stage distributions."""
        p = self.probabilities()
        return -keras.ops.mean(keras.ops.sum(p * keras.ops.log(p + 1e-12), axis=-1))

    def call(self, inputs=None):
        return self.probabilities()

    def export(self, min_probability: float = 0.0):
        """Returns the policy as a `PolicyGenotype` of kind `distribution`.

        Args:
            min_probability: Drop entries below this probability (then renormalise).
        """
        from tfnas.genotypes.policy import PolicyGenotype

        probs = np.asarray(keras.ops.convert_to_numpy(self.probabilities()), dtype=np.float64)
        apply = float(keras.ops.convert_to_numpy(self.apply_probability()))
        return PolicyGenotype.from_probabilities(apply, probs, self.entries, min_probability=min_probability)

    def state(self) -> dict[str, np.ndarray]:
        """Per-stage op probabilities (entries summed per op, `[1, ops]`) and the apply probability."""
        from tfnas.data.policies import op_marginals

        probs = np.asarray(keras.ops.convert_to_numpy(self.probabilities()), dtype=np.float64)
        state = {f"stage{i + 1}/alpha": op_marginals(probs[i], self.entries)[None] for i in range(self.stages)}
        state["policy/apply"] = np.array([float(keras.ops.convert_to_numpy(self.apply_probability()))])
        return state

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(entries=[list(e) for e in self.entries], stages=self.stages, apply_init=self.apply_init)
        return config


def replica_rows() -> tuple[Any, int]:
    """`(replica index, replica count)` of the current replica context; `(0, 1)` outside one.

    Replica `r` of `R` holds rows `[r * b, (r + 1) * b)` of the global batch of `R * b` rows
    (`tfnas.data.distribute_global_batches`); across the workers of a cluster the index is the
    global one (`replica_id_in_sync_group`).
    """
    replicas = num_replicas()
    if replicas == 1 or not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return 0, 1
    return tf.distribute.get_replica_context().replica_id_in_sync_group, replicas


def global_mean(values: tf.Tensor) -> tf.Tensor:
    """The mean of per-example `values` over the global batch (this replica's mean without a strategy).

    Each replica's mean divided by the replica count, summed over the replicas (the replicas
    hold equal shares of the global batch), so every replica gets the same value.
    """
    return sum_over_replicas([tf.reduce_mean(values) / float(num_replicas())])[0]


class PolicySampler:
    """Draws a policy's per-image sample and augments a normalised batch with it (in the train step).

    In a replica context of a strategy with R replicas, the sample and every random draw of
    the ops are those of the global batch (the one-device step's), and this replica keeps its
    rows: the replica's images are tiled R times to stand in for the global batch (the ops act
    per image, and their random draws depend only on the seed and the sizes of the op groups,
    which all replicas know), augmented, and its own rows kept. The price: each replica
    augments R times its rows.

    Args:
        policy: The `AugmentPolicy`.
        mean: Per-channel normalisation mean (the dataset's).
        std: Per-channel normalisation std.
        cutout: Cutout side applied after the policy (0 disables).
    """

    def __init__(self, policy: AugmentPolicy, mean: Sequence[float], std: Sequence[float], cutout: int) -> None:
        self.policy = policy
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.cutout = int(cutout)

    def sample(self, batch: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns `(apply [B] float 0/1, picks [B, stages] int32)` drawn from the current policy."""
        apply_seed, pick_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        s = tf.sigmoid(tf.convert_to_tensor(self.policy.apply_logit))
        apply = tf.cast(tf.random.stateless_uniform([batch], apply_seed) < s, tf.float32)
        logits = tf.convert_to_tensor(self.policy.logits)
        stage_seeds = tf.random.experimental.stateless_split(pick_seed, self.policy.stages)
        picks = [
            tf.random.stateless_categorical(tf.tile(logits[i:i + 1], [batch, 1]), 1, stage_seeds[i],
                                            dtype=tf.int32)[:, 0]
            for i in range(self.policy.stages)
        ]
        return apply, tf.stack(picks, axis=1)

    def augment(self, images: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Samples and applies the policy to normalised `images`.

        Returns:
            `(augmented normalised images, apply, picks)`.
        """
        from tfnas.data import augment as augment_lib
        from tfnas.ops.augment_ops import apply_op_slots

        sample_seed, op_seed, cutout_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        replica, replicas = replica_rows()
        local = tf.shape(images)[0]
        if replicas > 1:  # the global batch, this replica's rows in their place
            images = tf.tile(images, [replicas] + [1] * (images.shape.rank - 1))
        batch = tf.shape(images)[0]
        apply, picks = self.sample(batch, sample_seed)
        mean = tf.constant(self.mean, tf.float32)
        std = tf.constant(self.std, tf.float32)
        pixels = tf.clip_by_value((tf.cast(images, tf.float32) * std + mean) * 255.0, 0.0, 255.0)
        ops = tf.where(apply[:, None] > 0.5, tf.gather(tf.constant(self.policy.entry_ops), picks), 0)
        mags = tf.gather(tf.constant(self.policy.entry_magnitudes), picks)
        out = apply_op_slots(pixels, ops, mags, op_seed)
        out = augment_lib.normalize(out / 255.0, self.mean, self.std)
        out = augment_lib.cutout(out, cutout_seed, self.cutout)
        if replicas > 1:
            start = tf.cast(replica, tf.int32) * local
            out, apply, picks = (t[start:start + local] for t in (out, apply, picks))
        return out, apply, picks


def make_policy_optimizers(config: AugmentSearchConfig) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """Returns `(logits optimizer, apply optimizer)`: Adam at the two learning rates of DDAS."""
    return (keras.optimizers.Adam(config.policy_learning_rate, beta_1=0.9, beta_2=0.999, name="policy_optimizer"),
            keras.optimizers.Adam(config.apply_learning_rate, beta_1=0.9, beta_2=0.999, name="apply_optimizer"))


class PolicyLearner:
    """The policy, its sampler, its two optimizers and the REINFORCE baseline, for one search model.

    Holds no Keras state itself: the search model owns the variables (so they are saved in
    its checkpoints); this object only groups the update logic.
    """

    def __init__(self, model: keras.Model, config: AugmentSearchConfig, policy: AugmentPolicy,
                 mean: Sequence[float], std: Sequence[float]) -> None:
        self.model = model
        self.config = config
        self.policy = policy
        self.sampler = PolicySampler(policy, mean, std, config.cutout)

    def apply_gradients(self, logits_grad: tf.Tensor, apply_grad: tf.Tensor) -> None:
        """Applies the policy gradients (global ones: already summed over replicas)."""
        apply_global_gradients(self.model.policy_optimizer, [logits_grad], [self.policy.logits])
        apply_global_gradients(self.model.apply_optimizer, [apply_grad], [self.policy.apply_logit])

    def reinforce(self, apply: tf.Tensor, picks: tf.Tensor, reward: tf.Tensor) -> tf.Tensor:
        """One REINFORCE step: `grad = -(R - b) * mean_i grad log pi(a_i)`, then `b <- d b + (1 - d) R`.

        The baseline starts at the first reward (so the first advantage is 0). Under a
        strategy, `reward` must be the global one (`global_mean`), the same on every replica;
        the mean over `i` runs over the global batch (each replica's rows' gradient summed over
        the replicas) and the baseline is assigned identically on every replica.

        Returns:
            The advantage `R - b`.
        """
        model = self.model
        reward = tf.stop_gradient(tf.cast(reward, tf.float32))
        started = model.baseline_started > 0.5
        baseline = tf.where(started, tf.convert_to_tensor(model.baseline), reward)
        advantage = reward - baseline
        with tf.GradientTape() as tape:
            log_prob = tf.reduce_mean(self.policy.log_prob(apply, picks)) / float(num_replicas())
            surrogate = -advantage * log_prob
        grads = tape.gradient(surrogate, [self.policy.logits, self.policy.apply_logit],
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        logits_grad, apply_grad = sum_over_replicas(grads)
        self.apply_gradients(logits_grad, apply_grad)
        decay = self.config.baseline_decay
        assign_variables([model.baseline, model.baseline_started],
                         [decay * baseline + (1.0 - decay) * reward, tf.constant(1.0)])
        return advantage


def add_policy_state(model: keras.Model, config: AugmentSearchConfig) -> None:
    """Adds to a search model the policy optimizers, the baseline variables and the policy metrics."""
    model.policy_optimizer, model.apply_optimizer = make_policy_optimizers(config)
    model.baseline = keras.Variable(0.0, trainable=False, dtype="float32", name="reinforce_baseline")
    model.baseline_started = keras.Variable(0.0, trainable=False, dtype="float32", name="baseline_started")
    model.apply_tracker = keras.metrics.Mean(name="apply_prob")
    model.entropy_tracker = keras.metrics.Mean(name="policy_entropy")
    model.reward_tracker = keras.metrics.Mean(name="reward")


def step_seed(config: AugmentSearchConfig, iterations: Any) -> tf.Tensor:
    """The stateless seed of one step: `(seed, salt)` and the optimizer's iteration count."""
    return tf.stack([tf.constant(config.seed * 7919 + _SEED_SALT, tf.int64), tf.cast(iterations, tf.int64)])


class AugmentSearch(keras.Model):
    """Base of the searches that train a fixed network and an augmentation policy (DDAS, PG).

    The model owns the network, the policy, the weight optimizer (SGD with momentum, cosine
    schedule; `tfnas.algorithms.factory.make_optimizers`), the two policy optimizers and
    the metrics. Subclasses implement `train_step` on `((x_train, y_train), (x_val, y_val))`
    batches of normalised images (crop/flip done by the pipeline, the policy and cutout
    applied in the step).

    The real weight update is the architecture searches' (`BilevelSearch`): gradients
    (summed over replicas under a strategy) clipped to `grad_clip` global norm, coupled L2
    `weight_decay * w`, then SGD.

    Args:
        network: The fixed network (functional Keras model returning logits).
        policy: The `AugmentPolicy`.
        config: The `AugmentSearchConfig`.
        mean: Normalisation mean of the data.
        std: Normalisation std of the data.
        **kwargs: Passed to `keras.Model`.
    """

    method: ClassVar[str] = ""

    def __init__(self, network: keras.Model, policy: AugmentPolicy, config: AugmentSearchConfig,
                 mean: Sequence[float], std: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(config, AugmentSearchConfig):
            raise TypeError(f"config must be an AugmentSearchConfig. Received: {type(config).__name__}")
        self.network = network
        self.policy = policy
        self.config = config
        self.learner = PolicyLearner(self, config, policy, mean, std)
        add_policy_state(self, config)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.val_loss_tracker = keras.metrics.Mean(name="val_loss")
        self.val_accuracy_tracker = keras.metrics.Mean(name="val_accuracy")
        self.weight_optimizer = None

    @property
    def weight_variables(self) -> list:
        return list(self.network.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.accuracy_tracker, self.val_loss_tracker, self.val_accuracy_tracker,
                self.apply_tracker, self.entropy_tracker, self.reward_tracker]

    def call(self, images, training: bool | None = None):
        return self.network(images, training=training)

    def build(self, input_shape=None) -> None:
        if input_shape is not None and not self.network.built:
            self.network.build(tuple(input_shape))
        self.built = True

    def compile(self, weight_optimizer: keras.optimizers.Optimizer, **kwargs: Any) -> None:
        """Sets the weight optimizer (the policy optimizers come from the config)."""
        if weight_optimizer is None:
            raise ValueError("compile needs a weight_optimizer.")
        super().compile(optimizer=weight_optimizer, jit_compile=False, **kwargs)
        self.weight_optimizer = weight_optimizer

    def build_optimizers(self) -> None:
        """Builds the weight and policy optimizers on their variables."""
        if self.weight_optimizer is None:
            raise ValueError("Call compile(weight_optimizer) before build_optimizers().")
        if not self.weight_optimizer.built:
            self.weight_optimizer.build(self.weight_variables)
        if not self.policy_optimizer.built:
            self.policy_optimizer.build([self.policy.logits])
        if not self.apply_optimizer.built:
            self.apply_optimizer.build([self.policy.apply_logit])

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self.built and self.network.built and self.weight_optimizer is not None and self.weight_optimizer.built:
            return
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # ------------------------------------------------------------------ pieces of a step
    def forward(self, images, labels, training: bool = True, model: keras.Model | None = None):
        """`(cross-entropy [B], correct [B], outputs)` of `model` (default: the network).

        `model` shares the network's layers; its outputs are the logits or a list whose last
        element is the logits.
        """
        labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
        outputs = (self.network if model is None else model)(images, training=training)
        logits = tf.cast(keras.tree.flatten(outputs)[-1], tf.float32)
        ce = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
        return ce, correct, outputs

    def per_example_loss(self, images, labels) -> tuple[tf.Tensor, tf.Tensor]:
        """Training-mode forward: `(cross-entropy [B], correct [B])`."""
        ce, correct, _ = self.forward(images, labels)
        return ce, correct

    def weight_gradients(self, images, labels, model: keras.Model | None = None):
        """Gradients of the global batch's mean training-mode cross-entropy, summed over replicas.

        Args:
            images: This replica's rows of the batch.
            labels: Their labels.
            model: As in `forward` (default: the network).

        Returns:
            `(gradients, cross_entropy [B], correct [B], outputs)` (this replica's rows).
        """
        variables = self.weight_variables
        with tf.GradientTape() as tape:
            ce, correct, outputs = self.forward(images, labels, model=model)
            loss = tf.reduce_mean(ce) / float(num_replicas())
        grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return sum_over_replicas(grads), ce, correct, outputs

    def apply_weight_gradients(self, grads: list[tf.Tensor]) -> None:
        """Clips (global norm), adds coupled weight decay, applies the weight optimizer.

        `grads` are the global gradients (summed over replicas under a strategy).
        """
        variables = self.weight_variables
        if self.config.grad_clip > 0:
            grads, _ = tf.clip_by_global_norm(grads, self.config.grad_clip)
        if self.config.weight_decay > 0:
            grads = [g + self.config.weight_decay * tf.convert_to_tensor(v) for g, v in zip(grads, variables)]
        apply_global_gradients(self.weight_optimizer, grads, variables)

    def seed(self) -> tf.Tensor:
        return step_seed(self.config, self.weight_optimizer.iterations)

    def track_policy(self) -> None:
        self.apply_tracker.update_state(self.policy.apply_probability())
        self.entropy_tracker.update_state(self.policy.entropy())

    def logs(self) -> dict[str, tf.Tensor]:
        return reducible_logs({m.name: m.result() for m in self.metrics})

    def test_step(self, data):
        x, y = data[0], data[1]
        ce, correct, _ = self.forward(x, y, training=False)
        self.loss_tracker.update_state(ce)
        self.accuracy_tracker.update_state(correct)
        return reducible_logs({"loss": self.loss_tracker.result(), "accuracy": self.accuracy_tracker.result()})

    # ------------------------------------------------------------------ results
    def export_policy(self):
        """The searched policy as a `PolicyGenotype`."""
        return self.policy.export()

    def search_state(self) -> dict[str, np.ndarray]:
        """What the history and TensorBoard record each epoch (the policy's op probabilities)."""
        return self.policy.state()
