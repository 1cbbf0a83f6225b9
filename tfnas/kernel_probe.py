"""The measured probe behind `tfnas.runtime.choose_kernel_library`: times the search kernels.

Run as `python -m tfnas.kernel_probe` in a process whose kernel library is fixed by
`TF_ENABLE_ONEDNN_OPTS`: it builds and warms up the workload, prints `ready`, then times
one call for every line it reads on stdin and prints its seconds, until stdin closes. So
`runtime.probe_kernel_libraries` can alternate single calls between a oneDNN and an Eigen
process: on a shared machine whose speed drifts over minutes, interleaved calls compare
the libraries under the same conditions, where two runs one after the other did not
(measured: the same DARTS step 6.0 s then 8.1 s under oneDNN, half an hour apart). The
workload is what a DARTS search step spends its time on: a softmax-mixed DARTS search cell
(all 8 ops on its 14 edges: depthwise, dilated and strided depthwise, per-edge pointwise
matmuls, fused BN, pooling), forward and backward as one traced function, at the shapes of
`launch.bench search_step`'s network (batch 32; 16 channels at 32x32, 32 at 16x16, 64 at
8x8; a reduction cell). The figure
is the median of a few calls after a warm-up.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np


def workload(batch: int = 32, channels: int = 16, size: int = 32):
    """Builds the probe's workload and runs it once; returns a function timing one call.

    Returns:
        A function of no arguments that runs one forward + backward pass of four DARTS
        search cells, one per shape of the search network (normal cells at `channels` x
        `size`, twice the channels at half the size and four times at a quarter; a
        reduction cell at the first), and returns its seconds.
    """
    import tensorflow as tf

    from tfnas import runtime
    from tfnas.spaces import darts as darts_space
    from tfnas.supernets.cells import SearchCell

    runtime.configure()
    rng = np.random.default_rng(0)
    shapes = [(channels, size, False), (channels, size, True), (2 * channels, size // 2, False),
              (4 * channels, size // 4, False)]
    cells, inputs = [], []
    for i, (c, side, reduction) in enumerate(shapes):
        cells.append(SearchCell("darts", c, darts_space.OPS, reduction=reduction, prev_prev_channels=c,
                                prev_channels=c, seed=i))
        inputs.append(tuple(tf.constant(rng.standard_normal((batch, side, side, c)), tf.float32) for _ in range(2)))
    edges = len(cells[0].edges)
    weights = tf.constant(rng.dirichlet(np.ones(len(darts_space.OPS)), edges), tf.float32)
    for cell, pair in zip(cells, inputs):
        cell(pair, {"weights": weights})

    @tf.function
    def step(inputs):
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_sum(tf.square(cell(pair, {"weights": weights})))
                             for cell, pair in zip(cells, inputs)])
        variables = [v for cell in cells for v in cell.trainable_variables]
        return tape.gradient(loss, variables)

    step(inputs)

    def timed() -> float:
        start = time.perf_counter()
        step(inputs)
        return time.perf_counter() - start

    timed()  # warm-up: oneDNN creates its primitives on the first calls
    return timed


def measure(calls: int = 5, **sizes: int) -> dict:
    """Times the workload in this process: `{"kernel_library", "seconds"}` (median of `calls`)."""
    from tfnas import runtime

    timed = workload(**sizes)
    return {"kernel_library": runtime.kernel_library(), "seconds": statistics.median(timed() for _ in range(calls))}


def main() -> None:
    timed = workload()
    print("ready", flush=True)
    for _ in sys.stdin:
        print(json.dumps({"seconds": timed()}), flush=True)


if __name__ == "__main__":
    main()
