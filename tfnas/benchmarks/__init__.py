"""tfnas.benchmarks: tabular NAS benchmarks for looking found architectures up.

`NB201Table` (NAS-Bench-201 200-epoch test accuracies on CIFAR-10, CIFAR-100 and
ImageNet16-120), `NB201LatencyTable` (per-device latency of every NB201 cell) and
`PUBLISHED` (the numbers the papers report on NAS-Bench-201).
"""

from tfnas.benchmarks.nb201 import (
    PUBLISHED,
    AccuracyStats,
    NB201Entry,
    NB201LatencyTable,
    NB201Table,
    PublishedResult,
    canonical_dataset,
    collapse_trace,
    format_search_results,
    resolve_table_path,
    summarize_searches,
)

__all__ = [
    "PUBLISHED",
    "AccuracyStats",
    "NB201Entry",
    "NB201LatencyTable",
    "NB201Table",
    "PublishedResult",
    "canonical_dataset",
    "collapse_trace",
    "format_search_results",
    "resolve_table_path",
    "summarize_searches",
]
