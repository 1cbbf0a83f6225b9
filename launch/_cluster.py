"""`--strategy`: where a launch script runs, one machine or a cluster (`tfnas.runs.make_strategy`).

Every launch script that trains or searches takes it (search, train, nb201, quickstart,
search_augment, eval_policies, rank, dna, evolve_space). `auto` (the default) picks a
`MultiWorkerMirroredStrategy` when `TF_CONFIG` names a cluster of two or more tasks, a
`MirroredStrategy` over two or more local GPUs, else one device; `one_device`, `mirrored` and
`multi_worker` force one. Under `multi_worker` every machine runs the same command with its
own `TF_CONFIG`; the chief (worker 0) writes the results into `--workdir`, every other worker
keeps its checkpoints in `<workdir>/worker-<index>`, so a restarted cluster resumes where it
stopped.

The flag is a string checked by `make_strategy` (an unknown name is an `error: ...` line and
exit status 2, as every other bad value), so that `launch.evolve_space` can still read its
old `--strategy=pnas` (the multi-trial strategy, now `--search_strategy`) as a deprecated
spelling (`legacy_value`).
"""

from __future__ import annotations

from collections.abc import Iterable

import tensorflow as tf
from absl import flags

from tfnas.runs import STRATEGY_NAMES, make_strategy

_STRATEGY = flags.DEFINE_string(
    "strategy", "auto",
    f"Distribution, one of {', '.join(STRATEGY_NAMES)}: auto (a cluster from TF_CONFIG, else all local GPUs, "
    "else one device), one_device, mirrored (all local GPUs), multi_worker (MultiWorkerMirroredStrategy; the "
    "cluster from TF_CONFIG).",
)


def strategy_name() -> str:
    """The distribution `--strategy` names (not yet checked)."""
    return _STRATEGY.value.strip()


def legacy_value(old_names: Iterable[str]) -> str | None:
    """`--strategy`'s value when it is one of `old_names`, an earlier meaning of the flag, else None."""
    value = strategy_name()
    return value if _STRATEGY.present and value in set(old_names) and value not in STRATEGY_NAMES else None


def strategy_from_flags(name: str | None = None) -> tf.distribute.Strategy:
    """The strategy `--strategy` (or `name`) names; call it first in `main`, before other TensorFlow work.

    Raises:
        ValueError: for an unknown name, `multi_worker` without a cluster in `TF_CONFIG`, or an
            unreadable `TF_CONFIG`.
    """
    name = strategy_name() if name is None else name
    if name not in STRATEGY_NAMES:
        raise ValueError(f"--strategy must be one of {', '.join(STRATEGY_NAMES)}. Received: --strategy={name!r}")
    return make_strategy(name)
