"""One warm process timing tfnas's DARTS first-order search step, step by step.

Run by `launch.bench_reference` as `python -m launch._tfnas_step_worker --library=onednn`
(or `eigen`), with `TF_ENABLE_ONEDNN_OPTS` already set to match in its environment (TensorFlow
reads it once, at import; `launch/__init__.py` keeps a value the environment sets). The step
is built exactly as `python -m launch.bench search_step --algorithm=darts` builds it
(`launch._search_step_bench._algorithm_step`: the algorithm's own `train_step` as one
`tf.function`, random images and labels from the seed, two (train, validation) batch pairs
used in turn), after `tfnas.runtime.configure()` and with the BFC CPU allocator, as
`launch.bench` runs it.

Protocol (stdout carries only these lines; TensorFlow's and everything else's output goes to
stderr): after building the step and one first call (trace + compile + run), one line
`ready {json}` (tf_version, kernel_library, compile_settings, build_s, first_step_s, params,
peak_rss_mb); then for each stdin line `step` one step and one line with its seconds;
`info` -> one JSON line (tf_version, kernel_library, peak_rss_mb, steps); `quit` (or end
of stdin) exits.
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags

# The line protocol's stdout, shared with the reference worker (stdlib only, so importable here).
from launch._reference_step_worker import _protocol_stream

_LIBRARY = flags.DEFINE_enum("library", None, ["onednn", "eigen"],
                             "The kernel library this process must run (checked, not chosen: the caller sets "
                             "TF_ENABLE_ONEDNN_OPTS).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size (each of the train and validation batches).")
_CHANNELS = flags.DEFINE_integer("channels", 16, "Initial channels.")
_LAYERS = flags.DEFINE_integer("layers", 8, "Cells.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 32, "Image side.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the weights and the data.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    out = _protocol_stream()
    # As launch.bench: the allocator must be chosen before TensorFlow creates its CPU device.
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    from tfnas import runtime
    from tfnas.supernets import kernel_choice

    compile_settings = runtime.configure()  # before any tf.function compiles
    import numpy as np
    import tensorflow as tf

    from launch import _search_step_bench

    library = runtime.kernel_library()
    if _LIBRARY.value is not None and library != _LIBRARY.value:
        raise RuntimeError(
            f"This process runs TensorFlow's {library} kernels, not {_LIBRARY.value}: set "
            f"TF_ENABLE_ONEDNN_OPTS={'1' if _LIBRARY.value == 'onednn' else '0'} in its environment.")
    # as launch._search_step_bench.run with its default --grappler
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})
    size = _IMAGE_SIZE.value
    input_shape = (size, size, 3)
    config = {"space": "darts", "batch_size": _BATCH_SIZE.value, "channels": _CHANNELS.value,
              "layers": _LAYERS.value, "seed": _SEED.value}
    start = time.perf_counter()
    built = _search_step_bench._algorithm_step("darts", config, input_shape)
    if built is None:
        raise RuntimeError("tfnas.algorithms provides no ALGORITHMS/build_search: no DARTS step to time.")
    supernet, step, _, _ = built
    rng = np.random.default_rng(_SEED.value)
    batch = _BATCH_SIZE.value

    def data():
        x = tf.constant(rng.random((batch,) + input_shape, np.float32))
        y = tf.constant(rng.integers(0, 10, batch), tf.int32)
        return x, y

    batches = [data() + data() for _ in range(2)]
    build = time.perf_counter() - start
    start = time.perf_counter()
    step(*batches[0])
    first = time.perf_counter() - start
    params = int(sum(int(np.prod(v.shape)) for v in supernet.weight_variables))

    def info() -> dict:
        return {"tf_version": tf.__version__, "kernel_library": library, "kernel_form": kernel_choice.mode(),
                "peak_rss_mb": round(_search_step_bench._peak_rss_mb(), 1)}

    out.write("ready " + json.dumps(info() | {
        "compile_settings": compile_settings, "build_s": round(build, 3), "first_step_s": round(first, 3),
        "params": params}) + "\n")
    steps = 1
    for line in sys.stdin:
        command = line.strip()
        if command == "step":
            start = time.perf_counter()
            step(*batches[steps % 2])
            out.write(f"{time.perf_counter() - start:.6f}\n")
            steps += 1
        elif command == "info":
            out.write(json.dumps(info() | {"steps": steps}) + "\n")
        elif command == "quit":
            break
        elif command:
            raise app.UsageError(f"Unknown command {command!r} (step, info, quit)")


if __name__ == "__main__":
    app.run(main)
