"""Process settings that shorten a search step's first call (trace + graph compile) on CPU.

A supernet step is a large graph (a GDAS step inlines to about 130k nodes before
optimization), and most of its first call is spent compiling it, not running it. Measured
on the 2-core machine (GDAS, batch 32, 16 channels, 8 cells; WORKSPACE.md has the table):

- **Grappler's second pass** over the graph costs about 9 s and removes about 1,400 nodes
  (1% of the graph; the step time is unchanged): one meta-optimizer iteration is kept.
- **The memory optimizer** (about 2.5 s) and **the TFG (MLIR) passes** (about 5 s) change
  nothing in these graphs on CPU: the graph is the same size after them. The step's
  tensor peak (`launch.bench`'s `step_peak_tensor_mb`) moves within its run-to-run
  spread: DARTS 2,161 -> 2,160 MB, GDAS 593 -> 605-629 MB.
- **glibc's fastbins**: a third of the compile's CPU time went to `malloc_consolidate`
  and its free-list walks, from the graph's millions of small protobuf allocations; with
  fastbins off (`mallopt(M_MXFAST, 0)`, small blocks still go through the per-thread
  cache) the first call is about 7 s shorter and steps are no slower.

Together: GDAS's first call 44 s -> 21 s. The Grappler settings are fields of the eager
context's `ConfigProto`, which TF2 exposes no setter for (`tf.config.optimizer` covers
other fields; `tf.compat.v1.enable_eager_execution(config)` does nothing under TF2, and
absl's `app.run` creates the context before `main` anyway), so `configure()` sets the
context's config, which every later function call reads. Functions already compiled keep
their settings: call it at program start. The launch scripts and the test suite do. Set
`TFNAS_TF_DEFAULTS=1` to keep TensorFlow's and glibc's defaults.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
from tensorflow.python.eager import context

_M_MXFAST = 1  # mallopt parameter: the largest request served from fastbins
_state: dict[str, bool] = {}


def graph_config() -> config_pb2.ConfigProto:
    """The `ConfigProto` `configure()` installs: one Grappler pass, no memory or TFG passes."""
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.meta_optimizer_iterations = rewriter_config_pb2.RewriterConfig.ONE
    rewrite.memory_optimization = rewriter_config_pb2.RewriterConfig.NO_MEM_OPT
    rewrite.disable_tfg_optimizer = True
    return config


def _disable_fastbins() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_MXFAST, 0))
    except (OSError, AttributeError):
        return False


def _install_graph_config() -> bool:
    ctx = context.context()
    if not hasattr(ctx, "_config") or not hasattr(ctx, "_thread_local_data"):
        logging.getLogger(__name__).warning(
            "tfnas.runtime.configure(): this TensorFlow's eager context has no `_config`; "
            "the graph compile settings are not applied (TensorFlow's defaults stay)."
        )
        return False
    config = config_pb2.ConfigProto()
    if ctx._config is not None:
        config.CopyFrom(ctx._config)
    config.MergeFrom(graph_config())
    # TF2 has no public setter for these fields. A function call reads the context's config
    # through the thread's `function_call_options`, built lazily from `ctx.config` (which
    # starts from `_config`): reset on this thread, built afresh on others.
    ctx._config = config
    ctx._thread_local_data.function_call_options = None
    return True


def configure() -> dict[str, bool]:
    """Applies the compile-time settings above to this process, once.

    Call it at program start: `tf.function`s compiled before it keep TensorFlow's
    defaults. Later calls return the first call's result.

    Returns:
        `{"graph_config": bool, "malloc_fastbins_off": bool}`: what was applied (both
        false under `TFNAS_TF_DEFAULTS=1`; fastbins only exist in glibc).

    Example:
        >>> from tfnas import runtime
        >>> runtime.configure()  # first thing in main()
    """
    if _state:
        return dict(_state)
    if os.environ.get("TFNAS_TF_DEFAULTS", "") not in ("", "0"):
        _state.update(graph_config=False, malloc_fastbins_off=False)
        return dict(_state)
    _state.update(graph_config=_install_graph_config(), malloc_fastbins_off=_disable_fastbins())
    return dict(_state)
