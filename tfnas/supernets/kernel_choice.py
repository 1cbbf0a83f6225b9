"""Run-time choice between equivalent formulations of one kernel call, by measurement.

The fastest way to call a TensorFlow CPU kernel depends on the CPU, the kernel library and the
shape. Measured on a 2-core AVX-512 Xeon under oneDNN (median ms at batch 32): the depthwise
filter gradient of a 5x5 kernel over `[32, 32, 128]` takes 18.3 ms with `padding="SAME"` and
7.0 ms with the same padding given as `"EXPLICIT"` (which TensorFlow runs outside oneDNN),
while at 3x3, or at `[8, 8, 512]`, "SAME" is the faster one; the forward conv and the input
gradient flip the other way at other shapes. No fixed rule fits every machine, so each
kernel that has several formulations names them, and `choose` times them on the call's own
shape (in a traced function, the way the search step runs them) the first time that shape
is seen in a process, then keeps the faster: in memory, and on disk per CPU (`runtime.cpu_signature`), vector
extensions, TensorFlow version and kernel library (`$TFNAS_CACHE_DIR/kernel_forms.json`), so
a later process pays nothing. Every formulation computes the same values; the gradient
checks in `tests/supernets/test_kernel_gradcheck.py` run each one.

`TFNAS_KERNEL_FORM` overrides the measurement: `probe` (the default), `first` (the
first-named formulation of every kernel: what tfnas did before the choice existed) or `last`.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
import time
from collections.abc import Callable, Sequence

import tensorflow as tf

FORM_ENV = "TFNAS_KERNEL_FORM"
FORM_MODES = ("probe", "first", "last")
#: Timed calls per formulation (alternating between them, after one warm-up call each); the
#: fastest call counts, the figure least disturbed by other work on a shared CPU.
PROBE_CALLS = 5

_chosen: dict[str, str] = {}
#: This machine's entries of the disk cache, read once per process and cache file.
_disk: dict[tuple[str, str], dict[str, str]] = {}


def mode() -> str:
    """`TFNAS_KERNEL_FORM`: how kernels with several formulations pick one (`probe` by default)."""
    mode = os.environ.get(FORM_ENV, "probe") or "probe"
    if mode not in FORM_MODES:
        raise ValueError(f"{FORM_ENV} must be one of {FORM_MODES}. Received: {mode!r}")
    return mode


def _cache_path() -> pathlib.Path:
    root = os.environ.get("TFNAS_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tfnas")
    return pathlib.Path(root) / "kernel_forms.json"


def _machine() -> str:
    from tfnas import runtime

    return "|".join([runtime.cpu_signature(), ",".join(runtime.cpu_vector_extensions()),
                     tf.__version__, runtime.kernel_library()])


def _read_cache() -> dict:
    try:
        cache = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}  # no cache yet, or an unreadable one: measure again and rewrite it
    return cache if isinstance(cache, dict) else {}


def _disk_forms() -> dict[str, str]:
    """This machine's choices saved on disk, read on the first call of a process."""
    where = (str(_cache_path()), _machine())
    if where not in _disk:
        machine = _read_cache().get(where[1])
        _disk[where] = dict(machine) if isinstance(machine, dict) else {}
    return _disk[where]


def _write_cache(key: str, form: str) -> None:
    _disk_forms()[key] = form
    path = _cache_path()
    cache = _read_cache()  # read again: another process may have added its own choices
    machine = cache.get(_machine())
    machine = machine if isinstance(machine, dict) else {}
    machine[key] = form
    cache[_machine()] = machine
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
            json.dump(cache, f, indent=1, sort_keys=True)
        os.replace(f.name, path)
    except OSError:
        pass  # a read-only cache directory: the choice still holds for this process


def measure(candidates: Sequence[str], make_call: Callable[[str], Callable[[], object]]) -> dict[str, float]:
    """The fastest of `PROBE_CALLS` calls of each formulation, each traced into its own `tf.function`.

    Args:
        candidates: The formulations' names.
        make_call: `make_call(name)` returns a function of no arguments that computes the
            formulation on fixed inputs.

    Returns:
        `{name: seconds}`.
    """
    with tf.init_scope():  # eager, also when first reached while tracing the step
        calls = {name: tf.function(make_call(name)) for name in candidates}
        for call in calls.values():
            tf.nest.map_structure(lambda t: t.numpy(), call())
        seconds: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(PROBE_CALLS):
            for name, call in calls.items():
                start = time.perf_counter()
                tf.nest.map_structure(lambda t: t.numpy(), call())
                seconds[name].append(time.perf_counter() - start)
    return {name: min(s) for name, s in seconds.items()}


def choose(key: str, candidates: Sequence[str], make_call: Callable[[str], Callable[[], object]]) -> str:
    """The formulation to use for the kernel call described by `key`.

    Args:
        key: The kernel and its static shape, e.g. `"depthwise_filter|32x32x32x128|k5|m1|s1"`.
        candidates: The equivalent formulations, the long-standing one first.
        make_call: See `measure`; called only when the choice is measured.

    Returns:
        One of `candidates`.
    """
    how = mode()
    if how == "first" or len(candidates) == 1:
        return candidates[0]
    if how == "last":
        return candidates[-1]
    form = _chosen.get(key)
    if form in candidates:
        return form
    form = _disk_forms().get(key)
    if form not in candidates:
        seconds = measure(candidates, make_call)
        form = min(seconds, key=seconds.get)
        _write_cache(key, form)
    _chosen[key] = form
    return form
