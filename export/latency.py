"""Wall-clock latency of one inference call, the same way for every runtime."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def time_calls(fn: Callable[[], Any], runs: int = 50, warmup: int = 5) -> dict[str, float | int]:
    """Times `fn()` `runs` times after `warmup` untimed calls.

    Args:
        fn: A no-argument call (one batch-1 inference).
        runs: Timed calls (>= 1).
        warmup: Untimed calls first (>= 0).

    Returns:
        `{"median_ms", "p90_ms", "runs", "load_avg_1m"}`; the 1-minute load average is
        recorded because these 2 cores are shared and latency moves with it.

    Raises:
        ValueError: for runs < 1 or warmup < 0.
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"Need runs >= 1 and warmup >= 0. Received: runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(1000.0 * (time.perf_counter() - start))
    return {
        "median_ms": round(float(np.median(times)), 4),
        "p90_ms": round(float(np.percentile(times, 90)), 4),
        "runs": runs,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
