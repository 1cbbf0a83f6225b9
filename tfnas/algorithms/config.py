"""`SearchConfig`: every hyper-parameter of a differentiable architecture search.

One frozen dataclass for all the methods of `tfnas.algorithms`; each algorithm's
`default_config()` fills it with its paper's defaults, and any field can be overridden
(`dataclasses.replace(config, epochs=10)`). `to_dict()` / `from_dict()` give the JSON form a
run writes to its workdir; `from_dict` refuses unknown keys so that a typo is not silently
ignored.
"""

from __future__ import annotations

import dataclasses
from typing import Any

_BETA_SCHEDULES = ("linear", "cosine")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Hyper-parameters of a bilevel architecture search (DARTS defaults).

    Batch size means the GLOBAL batch of each part of the bilevel split per step: under a
    `tf.distribute` strategy Keras `fit` (or `tfnas.data.distribute_bilevel_dataset`) splits
    it evenly over the replicas, and the gradients are summed over replicas of losses that
    each divide by the replica count, so one step equals the single-device step on the whole
    batch (up to BatchNorm statistics, which each replica computes on its own slice).

    References:
        DARTS, arXiv 1806.09055 (defaults below); DARTS-, arXiv 2009.01027; PC-DARTS,
        arXiv 1907.05737; GDAS, arXiv 1910.04465; ROME, arXiv 2011.11233.

    Args:
        algorithm: Registered algorithm name (`darts`, `darts2`, `darts_minus`, `pc_darts`,
            `gdas`, `rome`).
        epochs: Search epochs (an epoch is one pass over the weights part).
        batch_size: Global batch size of each part (train and validation) per step.
        train_portion: Fraction of the training set used for the weights.
        learning_rate: Initial weight learning rate (SGD).
        min_learning_rate: Final learning rate of the cosine schedule over all steps.
        momentum: SGD momentum.
        nesterov: Nesterov momentum (GDAS's reference uses it).
        weight_decay: Coupled L2 on the weights: the gradient gets `weight_decay * w` after
            clipping and before momentum (PyTorch's `SGD(weight_decay=...)`).
        grad_clip: Global-norm clipping of the weight gradients (summed over replicas);
            0 disables.
        arch_learning_rate: Adam learning rate of the architecture parameters.
        arch_beta_1: Adam beta_1 of the architecture optimizer.
        arch_beta_2: Adam beta_2 of the architecture optimizer.
        arch_epsilon: Adam epsilon (PyTorch's default 1e-8).
        arch_weight_decay: Coupled L2 on the architecture parameters (PyTorch Adam style).
        order: 1 for first-order DARTS (xi = 0), 2 for the second-order unrolled step with
            xi = the current weight learning rate.
        unrolled_eps: Finite-difference radius numerator of the Hessian-vector product:
            `eps = unrolled_eps / ||grad_w' L_val||`.
        arch_warmup_epochs: Epochs at the start during which the architecture is frozen
            (PC-DARTS: 15).
        partial_channels: PC-DARTS channel-sampling K (1 = off).
        edge_normalization: PC-DARTS edge normalization.
        aux_skip: DARTS- auxiliary skip connection on every edge.
        beta_schedule: DARTS- decay of the auxiliary-skip coefficient: `linear` or `cosine`.
        tau_max: Initial Gumbel temperature (GDAS, ROME).
        tau_min: Final Gumbel temperature, reached at the last epoch.
        num_samples: ROME's K, sub-models sampled per step and per level.
        anchor_weight: MAGIC-A (arXiv 2108.12821): weight of the alignment loss, the relative
            squared difference between every search cell's output in the sampled child and in
            the anchor child (the anchor's held fixed), added to the cross-entropy; 0 = off.
        anchor_every: MAGIC-A: steps between anchor refreshes (the best of the current anchor
            and `anchor_candidates` uniform children on the step's held-out batch).
        anchor_candidates: MAGIC-A: uniform children tried at each anchor refresh.
        beta_decay_max: beta-DARTS (arXiv 2203.01665): the final weight of the Beta-Decay
            regularisation (mean over edges of logsumexp(alpha)) in the architecture loss,
            reached linearly from 0 over the epochs; 0 = off.
        reduce_every: BNAS (arXiv 1911.10862): epochs per operation-space reduction round
            (each edge abandons one op per round); 0 = no reduction.
        child_every: BNAS: steps between the sampled children whose validation accuracy
            rates the ops of a round.
        channels: Initial channels of the supernet; None: the space's default (16).
        layers: DARTS: cells; NB201: cells per stage; None: the space's default (8 / 5).
        seed: Seed of the supernet initialisation and sampling.

    Raises:
        ValueError: naming the field and the value, for an out-of-range field.

    Example:
    >>> config = SearchConfig(epochs=10)
    >>> SearchConfig.from_dict(config.to_dict()) == config
    True
    """

    algorithm: str = "darts"
    epochs: int = 50
    batch_size: int = 64
    train_portion: float = 0.5
    learning_rate: float = 0.025
    min_learning_rate: float = 0.001
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_learning_rate: float = 3e-4
    arch_beta_1: float = 0.5
    arch_beta_2: float = 0.999
    arch_epsilon: float = 1e-8
    arch_weight_decay: float = 1e-3
    order: int = 1
    unrolled_eps: float = 0.01
    arch_warmup_epochs: int = 0
    partial_channels: int = 1
    edge_normalization: bool = False
    aux_skip: bool = False
    beta_schedule: str = "linear"
    tau_max: float = 10.0
    tau_min: float = 0.1
    num_samples: int = 1
    anchor_weight: float = 0.0
    anchor_every: int = 100
    anchor_candidates: int = 4
    beta_decay_max: float = 0.0
    reduce_every: int = 0
    child_every: int = 5
    channels: int | None = None
    layers: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.algorithm, str) or not self.algorithm:
            raise ValueError(f"algorithm must be a non-empty string. Received: algorithm={self.algorithm!r}")
        for name in ("epochs", "batch_size", "num_samples", "partial_channels", "anchor_every", "anchor_candidates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        for name, least in (("reduce_every", 0), ("child_every", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an integer >= {least}. Received: {name}={value!r}")
        for name in ("channels", "layers"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None. Received: {name}={value!r}")
        if isinstance(self.arch_warmup_epochs, bool) or not isinstance(self.arch_warmup_epochs, int) \
                or self.arch_warmup_epochs < 0:
            raise ValueError(
                f"arch_warmup_epochs must be an integer >= 0. Received: arch_warmup_epochs={self.arch_warmup_epochs!r}"
            )
        if not 0.0 < self.train_portion < 1.0:
            raise ValueError(f"train_portion must be in (0, 1). Received: train_portion={self.train_portion!r}")
        for name in ("learning_rate", "arch_learning_rate", "unrolled_eps", "arch_epsilon", "tau_min"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0. Received: {name}={getattr(self, name)!r}")
        for name in ("min_learning_rate", "weight_decay", "grad_clip", "arch_weight_decay", "anchor_weight",
                     "beta_decay_max"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0. Received: {name}={getattr(self, name)!r}")
        if self.min_learning_rate > self.learning_rate:
            raise ValueError(
                "min_learning_rate must not exceed learning_rate. Received: "
                f"min_learning_rate={self.min_learning_rate!r}, learning_rate={self.learning_rate!r}"
            )
        for name in ("momentum", "arch_beta_1", "arch_beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1). Received: {name}={getattr(self, name)!r}")
        if self.order not in (1, 2):
            raise ValueError(f"order must be 1 or 2. Received: order={self.order!r}")
        if self.beta_schedule not in _BETA_SCHEDULES:
            raise ValueError(
                f"beta_schedule must be one of {_BETA_SCHEDULES}. Received: beta_schedule={self.beta_schedule!r}"
            )
        if self.tau_max < self.tau_min:
            raise ValueError(
                f"tau_max must be >= tau_min. Received: tau_max={self.tau_max!r}, tau_min={self.tau_min!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as a JSON-able dict (the fields of `_LATER_FIELDS` only when set,
        so a search written before they existed resumes)."""
        data = dataclasses.asdict(self)
        for name in _LATER_FIELDS:
            if data[name] == _DEFAULTS[name]:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        """Builds a config from `to_dict()` output.

        Raises:
            ValueError: if `data` has keys that are not fields, or a field is out of range.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown SearchConfig fields: {unknown}. Known: {sorted(names)}")
        return cls(**data)

    def replace(self, **changes: Any) -> SearchConfig:
        """Returns a copy with `changes` applied (validated again).

        Raises:
            ValueError: for an unknown field or an out-of-range value.
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"Unknown SearchConfig fields: {unknown}. Known: {sorted(names)}")
        return dataclasses.replace(self, **changes)


def recipe_text(config: SearchConfig) -> str:
    """The recipe a search ran with, one line (printed beside the published figures)."""
    text = (f"{config.epochs} epochs, batch {config.batch_size}, SGD lr {config.learning_rate:g}->"
            f"{config.min_learning_rate:g}{' Nesterov' if config.nesterov else ''}, weight decay "
            f"{config.weight_decay:g}, arch Adam lr {config.arch_learning_rate:g}")
    extras = []
    if config.partial_channels > 1:
        extras.append(f"partial channels 1/{config.partial_channels}")
    if config.arch_warmup_epochs:
        extras.append(f"arch warm-up {config.arch_warmup_epochs} epochs")
    if config.aux_skip:
        extras.append(f"auxiliary skip, beta {config.beta_schedule}")
    if config.algorithm in ("gdas", "gdas_reference", "rome"):
        extras.append(f"tau {config.tau_max:g}->{config.tau_min:g}")
    if config.algorithm == "gdas_reference":
        extras.append("the reference code's edge (unsampled ops' weights added)")
    if config.beta_decay_max > 0:
        extras.append(f"beta-decay weight 0->{config.beta_decay_max:g} linear")
    if config.reduce_every:
        extras.append(f"binarized, one op abandoned per edge every {config.reduce_every} epochs "
                      f"(a child every {config.child_every} steps)")
    return text + "".join(f", {e}" for e in extras)


#: Fields added after searches were first written: `to_dict` leaves them out at their default.
_LATER_FIELDS = ("reduce_every", "child_every")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(SearchConfig)}
