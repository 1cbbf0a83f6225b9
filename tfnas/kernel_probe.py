"""The measured probe behind `tfnas.runtime.choose_kernel_library`: times the search kernels.

Run as `python -m tfnas.kernel_probe` in a process whose kernel library is fixed by
`TF_ENABLE_ONEDNN_OPTS`; prints one JSON line, `{"kernel_library", "seconds"}`. The
workload is what a DARTS search step spends its time on: a softmax-mixed DARTS search cell
(all 8 ops on its 14 edges: depthwise, dilated and strided depthwise, per-edge pointwise
matmuls, fused BN, pooling), forward and backward as one traced function, at the size of
the first stage of `launch.bench search_step` (batch 32, 16 channels, 32x32). The figure
is the median of a few calls after a warm-up.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np


def measure(batch: int = 32, channels: int = 16, size: int = 32, calls: int = 5) -> dict:
    """Times one search cell's forward + backward pass; see the module docstring.

    Returns:
        `{"kernel_library": "onednn" | "eigen", "seconds": median seconds per call}`.
    """
    import tensorflow as tf

    from tfnas import runtime
    from tfnas.spaces import darts as darts_space
    from tfnas.supernets.cells import SearchCell

    runtime.configure()
    rng = np.random.default_rng(0)
    cells = [SearchCell("darts", channels, darts_space.OPS, reduction=reduction, prev_prev_channels=channels,
                        prev_channels=channels, seed=i) for i, reduction in enumerate((False, True))]
    edges = len(cells[0].edges)
    weights = tf.constant(rng.dirichlet(np.ones(len(darts_space.OPS)), edges), tf.float32)
    s0, s1 = (tf.constant(rng.standard_normal((batch, size, size, channels)), tf.float32) for _ in range(2))
    for cell in cells:
        cell((s0, s1), {"weights": weights})

    @tf.function
    def step(s0, s1):
        with tf.GradientTape() as tape:
            loss = tf.add_n([tf.reduce_sum(tf.square(cell((s0, s1), {"weights": weights}))) for cell in cells])
        variables = [v for cell in cells for v in cell.trainable_variables]
        return tape.gradient(loss, variables)

    step(s0, s1)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        step(s0, s1)
        times.append(time.perf_counter() - start)
    return {"kernel_library": runtime.kernel_library(), "seconds": statistics.median(times)}


if __name__ == "__main__":
    print(json.dumps(measure()))
