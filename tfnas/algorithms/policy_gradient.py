"""Policy-gradient augmentation search: REINFORCE on the policy, reward from the shared model.

One step on `((x_train, y_train), (x_val, y_val))`: draw each training image's sample from
the two-level policy (`tfnas.algorithms.augment_search.AugmentPolicy`), augment the batch
grouped by op, take one weight step of the shared model on it, then evaluate the
validation batch with the updated weights: the reward is `R = -L_val`. The policy takes
the REINFORCE step `grad J = (R - b) mean_i grad log pi(a_i)` (Adam), with the moving
average baseline `b <- 0.9 b + 0.1 R`. One forward/backward pass plus one forward pass
per step. Under a `tf.distribute` strategy the step is the one-device step on the global
batch (`tfnas.algorithms.augment_search`: global sample, summed gradients, global reward).

This is the augmentation half of DAAS (arXiv 2109.15273) on a fixed network; the policy
space is DDAS's (arXiv 2104.04282), so the three searches are comparable.

References:
    - Wang et al., DAAS: Differentiable Architecture and Augmentation Policy Search,
      arXiv 2109.15273.
    - Williams, Simple statistical gradient-following algorithms for connectionist
      reinforcement learning, Machine Learning 8, 1992 (REINFORCE).
"""

from __future__ import annotations

from typing import ClassVar

from tfnas.algorithms.augment_search import AUGMENT_SEARCHES, AugmentSearch, global_mean


@AUGMENT_SEARCHES.register("pg")
class PolicyGradientSearch(AugmentSearch):
    """REINFORCE augmentation search with a moving-average baseline on a fixed network.

    References:
        Wang et al., DAAS, arXiv 2109.15273; Williams, REINFORCE, 1992.

    Example:
    >>> search = build_augment_search(AugmentSearchConfig(method="pg"), (32, 32, 3), 10,
    ...                               steps_per_epoch=31)  # doctest: +SKIP
    """

    method: ClassVar[str] = "pg"

    def train_step(self, data):
        """One step on `((x_train, y_train), (x_val, y_val))` (this replica's rows under a strategy).

        Under a strategy the training loss is each replica's mean divided by the replica
        count, its gradients summed over the replicas, and the reward is the global mean
        validation loss, so the step is the one-device step on the global batch.
        """
        (x_train, y_train), (x_val, y_val) = data
        x_aug, apply, picks = self.learner.sampler.augment(x_train, self.seed())
        grads, ce, correct, _ = self.weight_gradients(x_aug, y_train)
        self.apply_weight_gradients(grads)
        val_ce, val_correct = self.per_example_loss(x_val, y_val)
        reward = -global_mean(val_ce)
        self.learner.reinforce(apply, picks, reward)
        self.loss_tracker.update_state(ce)
        self.accuracy_tracker.update_state(correct)
        self.val_loss_tracker.update_state(val_ce)
        self.val_accuracy_tracker.update_state(val_correct)
        self.reward_tracker.update_state(reward)
        self.track_policy()
        return self.logs()
