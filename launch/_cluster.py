"""`--strategy`: where a launch script runs, one machine or a cluster (`tfnas.runs.make_strategy`).

`auto` (the default) picks a `MultiWorkerMirroredStrategy` when `TF_CONFIG` names a cluster of
two or more tasks, a `MirroredStrategy` over two or more local GPUs, else one device;
`one_device`, `mirrored` and `multi_worker` force one. Under `multi_worker` every machine runs
the same command with its own `TF_CONFIG`; the chief (worker 0) writes the results into
`--workdir`, every other worker keeps its checkpoints in `<workdir>/worker-<index>`, so a
restarted cluster resumes where it stopped.
"""

from __future__ import annotations

import tensorflow as tf
from absl import flags

from tfnas.runs import STRATEGY_NAMES, make_strategy

_STRATEGY = flags.DEFINE_enum(
    "strategy", "auto", list(STRATEGY_NAMES),
    "Distribution: auto (a cluster from TF_CONFIG, else all local GPUs, else one device), one_device, "
    "mirrored (all local GPUs), multi_worker (MultiWorkerMirroredStrategy; the cluster from TF_CONFIG).",
)


def strategy_from_flags() -> tf.distribute.Strategy:
    """The strategy `--strategy` names; call it first in `main`, before other TensorFlow work.

    Raises:
        ValueError: for `multi_worker` without a cluster in `TF_CONFIG`, or an unreadable `TF_CONFIG`.
    """
    return make_strategy(_STRATEGY.value)
