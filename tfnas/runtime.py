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

import contextlib
import ctypes
import functools
import importlib.metadata
import json
import logging
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

# TensorFlow is imported inside the functions that need it: `choose_kernel_library` must
# run before TensorFlow starts.

_M_MXFAST = 1  # mallopt parameter: the largest request served from fastbins
_state: dict[str, bool] = {}


def graph_config():
    """The `ConfigProto` `configure()` installs: one Grappler pass, no memory or TFG passes."""
    from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2

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
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

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


def cpu_seconds() -> float:
    """CPU seconds of this process so far: every thread (`time.process_time`) plus the
    children it has waited for (`os.times`)."""
    children = os.times()
    return time.process_time() + children.children_user + children.children_system


def kernel_library() -> str:
    """TensorFlow's CPU kernel library in this process: `"onednn"` or `"eigen"`.

    TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI /
    BF16 or AMX (an AVX2-only CPU gets the Eigen kernels); `TF_ENABLE_ONEDNN_OPTS=1` or
    `=0`, read when TensorFlow is imported, overrides that. Figures depend on it (and on
    `cpu_vector_extensions()`), so the benchmarks print both.
    """
    from tensorflow.python.util import _pywrap_util_port

    return "onednn" if _pywrap_util_port.IsMklEnabled() else "eigen"


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str | None:
    """The CPU's model name from `/proc/cpuinfo` (None where it cannot be read)."""
    return _cpuinfo_field("model name")


@functools.cache
def cpu_signature() -> str:
    """The CPU's model name with its family, model and stepping numbers and cache size from
    `/proc/cpuinfo`: in virtual machines the name is often only "Intel(R) Xeon(R) Processor"
    whatever the generation, which the numbers tell apart (machines measured here under
    that one name differed by 2x in the reference PyTorch step). "unknown" parts where a
    field cannot be read."""
    fields = [cpu_model() or "unknown"]
    for name in ("cpu family", "model", "stepping", "cache size"):
        fields.append(f"{name} {_cpuinfo_field(name) or 'unknown'}")
    return ", ".join(fields)


def cpu_vector_extensions() -> list[str]:
    """The CPU's x86 vector extensions (`avx`, `avx2`, `fma`, `avx512f`, ...) from
    `/proc/cpuinfo`; empty where it cannot be read (not Linux, not x86)."""
    flags = (_cpuinfo_field("flags") or "").split()
    return sorted({flag for flag in flags if flag.startswith(("avx", "fma", "sse4", "amx"))})


def machine() -> dict[str, Any]:
    """Where a figure was measured: `{"cpu": cpu_signature(), "cpu_vector_extensions": [...],
    "kernel_library": kernel_library()}`, the record every benchmark's JSON carries (the
    kernels TensorFlow and oneDNN pick depend on all three)."""
    return {"cpu": cpu_signature(), "cpu_vector_extensions": cpu_vector_extensions(),
            "kernel_library": kernel_library()}


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


#: `TFNAS_KERNEL_LIBRARY` values: probe and cache (`auto`), a fixed library, or
#: TensorFlow's own default for this CPU (`default`).
KERNEL_LIBRARY_CHOICES = ("auto", "onednn", "eigen", "default")
_ONEDNN_SWITCH = {"onednn": "1", "eigen": "0"}


def _tensorflow_version() -> str:
    for name in ("tensorflow-cpu", "tensorflow"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def _probe_cache() -> pathlib.Path:
    root = os.environ.get("TFNAS_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "tfnas")
    return pathlib.Path(root) / "kernel_library.json"


def probe_kernel_libraries(rounds: int = 7) -> dict[str, float]:
    """Times `tfnas.kernel_probe`'s search-cell workload under oneDNN and under Eigen.

    Each library runs in its own process (TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` once, at
    import); after both have built and warmed up the workload, single calls alternate
    between them, `rounds` each, so both see the machine in the same state. About 40 s on
    2 cores.

    Returns:
        `{"onednn": seconds, "eigen": seconds}`: the median seconds per call of each.

    Raises:
        RuntimeError: when a probe process fails (its stderr is in the message).
    """
    procs = {}
    try:
        for library, switch in _ONEDNN_SWITCH.items():
            env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": switch, "TF_CPP_MIN_LOG_LEVEL": "3",
                   "TFNAS_KERNEL_LIBRARY": "default"}
            procs[library] = subprocess.Popen(
                [sys.executable, "-m", "tfnas.kernel_probe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, env=env)
            _read_probe(procs[library], library, "ready")  # one at a time: builds don't overlap
        times: dict[str, list[float]] = {library: [] for library in procs}
        for _ in range(rounds):
            for library, proc in procs.items():
                proc.stdin.write("go\n")
                proc.stdin.flush()
                times[library].append(float(json.loads(_read_probe(proc, library))["seconds"]))
        return {library: statistics.median(values) for library, values in times.items()}
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def _read_probe(proc, library: str, expect: str | None = None) -> str:
    line = proc.stdout.readline().strip()
    if not line or (expect is not None and line != expect):
        proc.kill()
        raise RuntimeError(f"The kernel probe under {library} failed:\n{proc.stderr.read()[-2000:]}")
    return line


def choose_kernel_library() -> dict[str, object]:
    """Chooses TensorFlow's CPU kernel library (oneDNN or Eigen) for this process, by measurement.

    TensorFlow picks oneDNN by default only on CPUs with AVX-512 VNNI / BF16 or AMX, yet
    which library runs the search kernels faster depends on the CPU (measured on a 2-core
    AVX2-only AMD EPYC: the DARTS search step 8.4 s with Eigen, 6.0 s with oneDNN; see
    WORKSPACE.md). So the first time on a machine, `probe_kernel_libraries` times both, the
    faster one is cached per CPU model, vector extensions and TensorFlow version in
    `$TFNAS_CACHE_DIR/kernel_library.json` (default `~/.cache/tfnas`), and
    `TF_ENABLE_ONEDNN_OPTS` is set accordingly. Must run before TensorFlow is imported:
    the launch scripts call it from `launch/__init__.py`.

    `TFNAS_KERNEL_LIBRARY` overrides it: `auto` (the default), `onednn`, `eigen`, or
    `default` (TensorFlow's own choice, no probe). A `TF_ENABLE_ONEDNN_OPTS` already set
    by the user is kept.

    Returns:
        `{"kernel_library": "onednn" | "eigen" | None, "chosen_by": how}`; `chosen_by` is
        `"probe"` (measured now), `"cache"`, `"TFNAS_KERNEL_LIBRARY"`, `"TF_ENABLE_ONEDNN_OPTS"`,
        `"tensorflow default"`, or `"too late"` (TensorFlow was already imported).

    Raises:
        ValueError: for an unknown `TFNAS_KERNEL_LIBRARY`.
    """
    choice = os.environ.get("TFNAS_KERNEL_LIBRARY", "auto") or "auto"
    if choice not in KERNEL_LIBRARY_CHOICES:
        raise ValueError(f"TFNAS_KERNEL_LIBRARY must be one of {KERNEL_LIBRARY_CHOICES}. Received: {choice!r}")
    if "tensorflow" in sys.modules:
        return {"kernel_library": kernel_library(), "chosen_by": "too late"}
    if "TF_ENABLE_ONEDNN_OPTS" in os.environ:
        return {"kernel_library": None, "chosen_by": "TF_ENABLE_ONEDNN_OPTS"}
    if choice == "default":
        return {"kernel_library": None, "chosen_by": "tensorflow default"}
    if choice in _ONEDNN_SWITCH:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = _ONEDNN_SWITCH[choice]
        return {"kernel_library": choice, "chosen_by": "TFNAS_KERNEL_LIBRARY"}
    key = "|".join([cpu_signature(), ",".join(cpu_vector_extensions()), _tensorflow_version()])
    path = _probe_cache()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}  # no cache yet, or an unreadable one: probe again and rewrite it
    entry = cache.get(key) if isinstance(cache, dict) else None
    how = "cache"
    if not (isinstance(entry, dict) and entry.get("kernel_library") in _ONEDNN_SWITCH):
        seconds = probe_kernel_libraries()
        entry = {"kernel_library": min(seconds, key=seconds.get), "seconds": seconds}
        cache = cache if isinstance(cache, dict) else {}
        cache[key] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
            json.dump(cache, f, indent=1)
        os.replace(f.name, path)
        how = "probe"
        logging.getLogger(__name__).info("tfnas kernel probe: %s -> %s", seconds, entry["kernel_library"])
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = _ONEDNN_SWITCH[entry["kernel_library"]]
    return {"kernel_library": entry["kernel_library"], "chosen_by": how}


@contextlib.contextmanager
def released_custom_gradients():
    """Forgets, on exit, the graph-mode custom gradients registered inside the block.

    A `tf.custom_gradient` traced into a graph registers its gradient function in
    TensorFlow's process-wide gradient registry under a fresh name, and nothing ever removes
    it; the function closes over the traced graph's tensors, so the whole graph stays alive
    for the life of the process. Every Keras `fit` traces one: the optimizer sums the
    gradients with `ReplicaContext.all_reduce` (under any strategy, the default one
    included), which is such a custom gradient. A loop that builds and trains one network
    after another (the ranking benchmark's standalone reference, the multi-trial trainings)
    so kept every network's training graph: about 12 MB a cell at the NB201 proxy
    (`tests/tf_bugs/test_tf_graph_bugs.py` asserts the leak in plain TensorFlow).

    The registry is read only while a gradient is being built, i.e. while a function is
    traced, so forgetting an entry after the block cannot change a function already traced
    (calling it again reuses its graph). Use it around work whose traced functions are done
    with by the end of the block. Without the private registry (a TensorFlow that renamed
    it), the block runs and nothing is forgotten.

    Example:
        >>> from tfnas import runtime
        >>> with runtime.released_custom_gradients():
        ...     pass  # build, fit and score one network
    """
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    before = set(registry) if isinstance(registry, dict) else None
    try:
        yield
    finally:
        if before is not None:
            for name in [k for k in registry if k not in before and k.startswith("CustomGradient-")]:
                del registry[name]
