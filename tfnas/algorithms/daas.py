"""DAAS: architecture (single-path Gumbel-softmax) and augmentation policy searched in one run.

The public text of DAAS (arXiv 2109.15273) does not fix the interleaving, the policy
parameterisation or the reward; tfnas chooses:

- **Architecture**: GDAS (`tfnas.algorithms.gdas.Gdas`, NAS-Bench-201 supernet with
  `mixing="gumbel"`): one op per edge by hard Gumbel-softmax, temperature 10 -> 0.1 linear
  per epoch, alphas by Adam 3e-4 (betas 0.5/0.999, wd 1e-3), weights by SGD.
- **Policy**: DDAS's two-level space (apply probability, then one of 52 `(op, level)`
  entries per stage, two stages), so the policy is comparable with DDAS's and the policy
  gradient search's.
- **Interleaving**: per iteration, as GDAS: (1) weight step on the training batch
  augmented by the CURRENT policy (and a fresh architecture sample), (2) architecture step
  on the validation batch with the weights just updated, (3) policy step by REINFORCE
  whose reward is that same validation forward's loss under the CURRENT architecture
  sample: `R = -L_val`, advantage `R - b`, moving-average baseline `b <- 0.9 b + 0.1 R`.
  Each step of one search uses the current state of the other, and the reward costs no
  extra pass (the architecture step's forward gives it).
- **Distribution**: under a `tf.distribute` strategy the step is the one-device step on the
  global batch: GDAS's steps as the architecture searches distribute them, the policy sample
  drawn for the global batch (`PolicySampler`), the reward the global mean validation loss.
- **Export**: the NB201 cell (`supernet.export()`) and the policy (`PolicyGenotype`).

Published: CIFAR-10 97.91% (DARTS space, 600-epoch evaluation), ImageNet 76.6% top-1.

References:
    - Wang et al., DAAS: Differentiable Architecture and Augmentation Policy Search,
      arXiv 2109.15273.
    - Dong & Yang, GDAS, arXiv 1910.04465.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar
from collections.abc import Sequence

import keras
import numpy as np

from tfnas.algorithms.augment_search import (
    AUGMENT_SEARCHES,
    AugmentPolicy,
    AugmentSearchConfig,
    PolicyLearner,
    add_policy_state,
    global_mean,
    step_seed,
)
from tfnas.algorithms.gdas import Gdas


@AUGMENT_SEARCHES.register("daas")
class DaasSearch(Gdas):
    """GDAS weight/architecture steps plus a REINFORCE policy step, in one train step.

    References:
        Wang et al., DAAS, arXiv 2109.15273; Dong & Yang, GDAS, arXiv 1910.04465.

    Args:
        supernet: A NAS-Bench-201 (or DARTS) supernet with `mixing="gumbel"`.
        policy: The `AugmentPolicy`.
        augment_config: The `AugmentSearchConfig` (policy learning rates, baseline decay).
        mean: Normalisation mean of the data.
        std: Normalisation std of the data.
        **kwargs: Passed to `Gdas` (`name`).

    Raises:
        ValueError: if the supernet does not sample (no `temperature`).

    Example:
    >>> search = build_augment_search(AugmentSearchConfig(method="daas"), (32, 32, 3), 10,
    ...                               steps_per_epoch=31)  # doctest: +SKIP
    """

    algorithm_name: ClassVar[str] = "daas"
    method: ClassVar[str] = "daas"

    def __init__(self, supernet: keras.Model, policy: AugmentPolicy, augment_config: AugmentSearchConfig,
                 mean: Sequence[float], std: Sequence[float], **kwargs: Any) -> None:
        super().__init__(supernet, augment_config.search_config(), **kwargs)
        self.policy = policy
        self.augment_config = augment_config
        self.learner = PolicyLearner(self, augment_config, policy, mean, std)
        add_policy_state(self, augment_config)
        # The weight step's policy sample, read by the architecture step of the same replica. Per
        # thread: MirroredStrategy traces its replicas' steps in concurrent threads, so one
        # attribute would hand a replica the other's sample.
        self._sample = threading.local()

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return super().metrics + [self.apply_tracker, self.entropy_tracker, self.reward_tracker]

    def build_optimizers(self) -> None:
        super().build_optimizers()
        if not self.policy_optimizer.built:
            self.policy_optimizer.build([self.policy.logits])
        if not self.apply_optimizer.built:
            self.apply_optimizer.build([self.policy.apply_logit])

    def weight_step(self, x_train, y_train) -> None:
        """Weight step on the training batch augmented by the current policy."""
        seed = step_seed(self.augment_config, self.weight_optimizer.iterations)
        x_aug, apply, picks = self.learner.sampler.augment(x_train, seed)
        self._sample.value = (apply, picks)
        super().weight_step(x_aug, y_train)

    def arch_step(self, x_train, y_train, x_val, y_val) -> None:
        """Architecture step on the validation batch, then the policy step rewarded by its loss."""
        grads, cross_entropy, correct = self.arch_gradients(x_train, y_train, x_val, y_val)
        self.val_loss_tracker.update_state(cross_entropy)
        self.val_accuracy_tracker.update_state(correct)
        self.apply_arch_gradients(grads)
        reward = -global_mean(cross_entropy)  # the global batch's, the same on every replica
        apply, picks = self._sample.value
        self.learner.reinforce(apply, picks, reward)
        self.reward_tracker.update_state(reward)
        self.apply_tracker.update_state(self.policy.apply_probability())
        self.entropy_tracker.update_state(self.policy.entropy())

    def export_policy(self):
        """The searched policy as a `PolicyGenotype`."""
        return self.policy.export()

    def export_architecture(self):
        """The derived cell genotype."""
        return self.supernet.export()

    def search_state(self) -> dict[str, np.ndarray]:
        """Policy op probabilities plus the supernet's architecture weights."""
        return {**self.policy.state(), **{f"arch/{k}": v for k, v in self.supernet.arch_state().items()}}
