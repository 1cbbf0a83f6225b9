"""NAS-Bench-201 lookups: the 200-epoch test accuracies and the per-device latency table.

`NB201Table` reads `nats_bench_tss_200ep.csv` (the NATS-Bench topology search space table,
one row per NAS-Bench-201 cell, row i = index i) and answers, for a cell given as a
`NB201Genotype`, its architecture string or its index: the CIFAR-10, CIFAR-100 and
ImageNet16-120 test accuracy after 200 epochs of training. `stats()` summarises the whole
space or any subset of it. `NB201LatencyTable` reads `nb201_latency_help.csv` (the measured
latency of every cell on 27 devices) for latency-constrained search.

Both files live in `$TFNAS_DATA_DIR/nb201/` (the shared data folder, `../shared/data` from
the project root). `PUBLISHED` holds the numbers the differentiable NAS papers report on
this benchmark, to print next to a reproduction.

References:
    - Dong & Yang, NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
      Search, arXiv 2001.00326.
    - Dong et al., NATS-Bench: Benchmarking NAS Algorithms for Architecture Topology and
      Size, arXiv 2009.00437.

Example:
>>> table = NB201Table()  # doctest: +SKIP
>>> table.accuracy("|skip_connect~0|+|skip_connect~0|skip_connect~1|"
...                "+|skip_connect~0|skip_connect~1|skip_connect~2|")  # doctest: +SKIP
54.29666666666666
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from tfnas.genotypes.nb201 import NB201Genotype, all_nb201_genotypes
from tfnas.spaces import nb201 as nb201_space

#: A cell as accepted by the lookups: a genotype, its architecture string or its index.
CellLike = NB201Genotype | str | int | np.integer

ACCURACY_FILE = "nats_bench_tss_200ep.csv"
LATENCY_FILE = "nb201_latency_help.csv"

#: Canonical dataset names and the accuracy column each one reads.
DATASETS: dict[str, str] = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "imagenet16-120": "ImageNetTestAccuracy200Epochs",
}
_ALIASES = {
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "c10": "cifar10",
    "cifar100": "cifar100",
    "cifar-100": "cifar100",
    "c100": "cifar100",
    "imagenet16-120": "imagenet16-120",
    "imagenet16": "imagenet16-120",
    "imagenet16_120": "imagenet16-120",
    "imagenet": "imagenet16-120",
    "in16": "imagenet16-120",
}
_ARCH_COLUMN = "ArchitectureString"
_UNIQUE_COLUMN = "UniqueString"
_SET_DATA_DIR = (
    "set TFNAS_DATA_DIR=/path/to/shared/data (the folder holding nb201/{file}), or pass "
    "data_dir= or path= (--data_dir in launch scripts)"
)


@dataclasses.dataclass(frozen=True)
class PublishedResult:
    """A NAS-Bench-201 result as reported in a paper: test accuracy (%) mean and std over runs.

    Args:
        method: Display name.
        arxiv: arXiv id of the method's paper.
        source: arXiv id of the paper whose table reports the number.
        cifar10: CIFAR-10 test accuracy (mean over seeds).
        cifar10_std: Its standard deviation (None when not reported).
        cifar100: CIFAR-100 test accuracy, None when not quoted here.
        imagenet16: ImageNet16-120 test accuracy, None when not quoted here.
    """

    method: str
    arxiv: str
    source: str
    cifar10: float
    cifar10_std: float | None = None
    cifar100: float | None = None
    imagenet16: float | None = None


#: Published NAS-Bench-201 numbers, keyed by the `launch.search` algorithm names and the
#: `tfnas.strategies` names (random search and regularized evolution at the NB201 paper's
#: budget: 12-epoch validation accuracy, 12,000 simulated seconds), plus the optimum of the table. DARTS (first and second order alike) collapses to the all-skip cell.
PUBLISHED: dict[str, PublishedResult] = {
    "darts": PublishedResult("DARTS (1st order)", "1806.09055", "2001.00326", 54.30, 0.00, 15.61, 16.32),
    "darts2": PublishedResult("DARTS (2nd order)", "1806.09055", "2001.00326", 54.30, 0.00, 15.61, 16.32),
    "gdas": PublishedResult("GDAS", "1910.04465", "2001.00326", 93.61, 0.09, 70.70, 41.71),
    # the NB201 paper's GDAS figure came from the reference code, whose edge has the term
    "gdas_reference": PublishedResult("GDAS (reference edge)", "1910.04465", "2001.00326", 93.61, 0.09, 70.70, 41.71),
    "pc_darts": PublishedResult("PC-DARTS", "1907.05737", "2009.01027", 93.41, 0.30),
    "darts_minus": PublishedResult("DARTS-", "2009.01027", "2009.01027", 93.80, 0.40, 71.53, 45.12),
    "beta_darts": PublishedResult("beta-DARTS", "2203.01665", "2203.01665", 94.36, 0.00, 73.51, 46.34),
    "random": PublishedResult("random search", "1902.07638", "2001.00326", 93.70, 0.36, 71.04, 44.57),
    "evolution": PublishedResult("regularized evolution", "1802.01548", "2001.00326", 93.92, 0.30, 71.84, 45.54),
    "optimum": PublishedResult("optimum (best cell)", "2001.00326", "2001.00326", 94.37, None, 73.51, 47.31),
}


@dataclasses.dataclass(frozen=True)
class NB201Entry:
    """One row of the table.

    Args:
        index: NAS-Bench-201 index.
        genotype: The cell.
        cifar10: CIFAR-10 test accuracy (%) after 200 epochs.
        cifar100: CIFAR-100 test accuracy (%).
        imagenet16: ImageNet16-120 test accuracy (%).
        unique_str: The benchmark's isomorphism key (`UniqueString`).
    """

    index: int
    genotype: NB201Genotype
    cifar10: float
    cifar100: float
    imagenet16: float
    unique_str: str

    def accuracy(self, dataset: str = "cifar10") -> float:
        """Returns the test accuracy on `dataset` (see `DATASETS` and its aliases)."""
        name = canonical_dataset(dataset)
        return {"cifar10": self.cifar10, "cifar100": self.cifar100, "imagenet16-120": self.imagenet16}[name]

    def to_dict(self) -> dict[str, object]:
        """Returns a JSON-able dict: index, architecture string, the three accuracies."""
        return {
            "index": self.index,
            "arch": self.genotype.to_string(),
            "cifar10": self.cifar10,
            "cifar100": self.cifar100,
            "imagenet16": self.imagenet16,
        }


@dataclasses.dataclass(frozen=True)
class AccuracyStats:
    """Summary of test accuracies over a set of cells.

    Args:
        dataset: Canonical dataset name.
        size: Number of cells.
        mean: Mean accuracy (%).
        std: Population standard deviation.
        median: Median accuracy.
        best: Highest accuracy.
        best_index: Index of a cell reaching `best` (the first in table order).
        worst: Lowest accuracy.
    """

    dataset: str
    size: int
    mean: float
    std: float
    median: float
    best: float
    best_index: int
    worst: float

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def canonical_dataset(dataset: str) -> str:
    """Returns the canonical name (`cifar10`, `cifar100`, `imagenet16-120`) of a dataset name.

    Raises:
        ValueError: for an unknown name, listing the known ones.

    Example:
    >>> canonical_dataset("ImageNet16-120")
    'imagenet16-120'
    """
    key = str(dataset).strip().lower()
    if key not in _ALIASES:
        raise ValueError(
            f"Unknown NAS-Bench-201 dataset. Received: dataset={dataset!r}; known: "
            f"{', '.join(DATASETS)} (aliases {', '.join(sorted(set(_ALIASES) - set(DATASETS)))})."
        )
    return _ALIASES[key]


def resolve_table_path(
    file_name: str, path: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None
) -> pathlib.Path:
    """Returns the path of a NAS-Bench-201 file: `path`, else `<data_dir or $TFNAS_DATA_DIR>/nb201/<file_name>`.

    Args:
        file_name: `ACCURACY_FILE` or `LATENCY_FILE`.
        path: Explicit path of the file; wins over `data_dir`.
        data_dir: The shared data folder (holding `nb201/`).

    Returns:
        The file's path (checked to exist).

    Raises:
        ValueError: if neither `path`, `data_dir` nor `TFNAS_DATA_DIR` is given.
        FileNotFoundError: if the file does not exist, naming what to set.

    Example:
    >>> resolve_table_path(ACCURACY_FILE, data_dir="/work/shared/data")  # doctest: +SKIP
    PosixPath('/work/shared/data/nb201/nats_bench_tss_200ep.csv')
    """
    hint = _SET_DATA_DIR.format(file=file_name)
    if path is not None and str(path) != "":
        result = pathlib.Path(path).expanduser()
    else:
        if data_dir is None or str(data_dir) == "":
            data_dir = os.environ.get("TFNAS_DATA_DIR") or None
            if data_dir is None:
                raise ValueError(
                    f"No location for the NAS-Bench-201 table {file_name}: path=None, data_dir=None "
                    f"and TFNAS_DATA_DIR is unset; {hint}."
                )
        result = pathlib.Path(data_dir).expanduser() / "nb201" / file_name
    if not result.is_file():
        raise FileNotFoundError(f"NAS-Bench-201 table not found at {str(result)!r}; {hint}.")
    return result


def _read_rows(path: pathlib.Path, required: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Reads a CSV file, checks its header and row count; returns (header, rows)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"NAS-Bench-201 table {str(path)!r} is unreadable ({err}).") from None
    if header is None:
        raise ValueError(f"NAS-Bench-201 table {str(path)!r} is empty; expected a header and "
                         f"{nb201_space.NUM_CELLS} rows.")
    missing = [c for c in required if c not in header]
    if missing:
        raise ValueError(
            f"NAS-Bench-201 table {str(path)!r} is corrupt: columns {missing} are missing "
            f"(header: {header[:8]}...)."
        )
    if len(rows) != nb201_space.NUM_CELLS:
        raise ValueError(
            f"NAS-Bench-201 table {str(path)!r} is corrupt or truncated: it has {len(rows)} rows, "
            f"expected {nb201_space.NUM_CELLS} (one per cell). Restore the file from the shared data."
        )
    width = len(header)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(
                f"NAS-Bench-201 table {str(path)!r} is corrupt: row {i} has {len(row)} fields, "
                f"expected {width}."
            )
    return header, rows


class _IndexedCells:
    """The 15,625 cells in table order and the string -> index map shared by both tables."""

    _cells: list[NB201Genotype] | None = None
    _index: dict[str, int] | None = None

    @classmethod
    def get(cls) -> tuple[list[NB201Genotype], dict[str, int]]:
        if cls._cells is None:
            cells = all_nb201_genotypes()
            cls._index = {g.to_string(): i for i, g in enumerate(cells)}
            cls._cells = cells
        return cls._cells, cls._index  # type: ignore[return-value]


def _check_order(path: pathlib.Path, arch: Sequence[str], cells: list[NB201Genotype]) -> None:
    for i, (text, cell) in enumerate(zip(arch, cells)):
        if text != cell.to_string():
            raise ValueError(
                f"NAS-Bench-201 table {str(path)!r} is corrupt: row {i} holds {text!r}, but index {i} "
                f"is {cell.to_string()!r} in the benchmark's order."
            )


class _CellIndexer:
    """Mixin: turns a genotype, architecture string or index into a table index."""

    def index(self, cell: CellLike) -> int:
        """Returns the NAS-Bench-201 index of `cell`.

        Args:
            cell: An `NB201Genotype`, its architecture string, or an index (returned as is
                after a range check).

        Raises:
            ValueError: for an index out of range or a string that is not an NB201 cell.
            TypeError: for any other type.
        """
        _, by_string = _IndexedCells.get()
        if isinstance(cell, (bool, np.bool_)):
            raise TypeError(f"A cell must be an NB201Genotype, a string or an index. Received: {cell!r}")
        if isinstance(cell, (int, np.integer)):
            i = int(cell)
            if not 0 <= i < nb201_space.NUM_CELLS:
                raise ValueError(
                    f"NAS-Bench-201 index out of range [0, {nb201_space.NUM_CELLS}). Received: {i}"
                )
            return i
        if isinstance(cell, str):
            cell = NB201Genotype.from_string(cell)
        if isinstance(cell, NB201Genotype):
            return by_string[cell.to_string()]
        raise TypeError(
            f"A cell must be an NB201Genotype, a string or an index. Received: {type(cell).__name__} {cell!r}"
        )

    def genotype(self, index: int) -> NB201Genotype:
        """Returns the cell at a NAS-Bench-201 index."""
        cells, _ = _IndexedCells.get()
        return cells[self.index(index)]


class NB201Table(_CellIndexer):
    """The NAS-Bench-201 200-epoch test accuracies of all 15,625 cells.

    Loads `nats_bench_tss_200ep.csv` (columns `CIFAR10TestAccuracy200Epochs`,
    `CIFAR100TestAccuracy200Epochs`, `ImageNetTestAccuracy200Epochs`, `ArchitectureString`,
    `UniqueString`) and checks it: 15,625 rows whose architecture strings follow the
    benchmark's index order (`tfnas.genotypes.nb201.all_nb201_genotypes`) and parse as
    numbers where numbers are due.

    References:
        - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

    Args:
        path: The CSV file; default `<data_dir>/nb201/nats_bench_tss_200ep.csv`.
        data_dir: The shared data folder; default `$TFNAS_DATA_DIR`.

    Raises:
        ValueError: if no location is given or set, or the file is corrupt, truncated or
            out of order (the message says which).
        FileNotFoundError: if the file does not exist.

    Example:
    >>> table = NB201Table(data_dir="/work/shared/data")  # doctest: +SKIP
    >>> table.lookup(6111).cifar10  # doctest: +SKIP
    94.37333333333333
    >>> table.stats("cifar10").median  # doctest: +SKIP
    90.745
    """

    def __init__(self, path: str | os.PathLike | None = None, *, data_dir: str | os.PathLike | None = None) -> None:
        self.path = resolve_table_path(ACCURACY_FILE, path, data_dir)
        header, rows = _read_rows(self.path, [*DATASETS.values(), _ARCH_COLUMN, _UNIQUE_COLUMN])
        columns = {name: header.index(name) for name in header}
        accuracies = {}
        for dataset, column in DATASETS.items():
            j = columns[column]
            try:
                values = np.array([float(row[j]) for row in rows], dtype=np.float64)
            except ValueError as err:
                raise ValueError(f"NAS-Bench-201 table {str(self.path)!r} is corrupt: column {column}: {err}.") from None
            if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 100:
                raise ValueError(
                    f"NAS-Bench-201 table {str(self.path)!r} is corrupt: column {column} holds values "
                    "outside [0, 100]."
                )
            values.setflags(write=False)
            accuracies[dataset] = values
        self._accuracies = accuracies
        cells, _ = _IndexedCells.get()
        _check_order(self.path, [row[columns[_ARCH_COLUMN]] for row in rows], cells)
        self._unique = [row[columns[_UNIQUE_COLUMN]] for row in rows]

    def __len__(self) -> int:
        return nb201_space.NUM_CELLS

    def __repr__(self) -> str:
        return f"NB201Table(path={str(self.path)!r}, cells={len(self)})"

    def accuracies(self, dataset: str = "cifar10") -> np.ndarray:
        """Returns the read-only array of all test accuracies on `dataset`, in index order."""
        return self._accuracies[canonical_dataset(dataset)]

    def accuracy(self, cell: CellLike, dataset: str = "cifar10") -> float:
        """Returns the 200-epoch test accuracy (%) of `cell` on `dataset`.

        Args:
            cell: An `NB201Genotype`, its architecture string or its index.
            dataset: `cifar10`, `cifar100` or `imagenet16-120` (aliases: `c10`, `c100`,
                `imagenet16`, `in16`, ...).

        Raises:
            ValueError: for an unknown dataset or cell.
        """
        return float(self.accuracies(dataset)[self.index(cell)])

    def lookup(self, cell: CellLike) -> NB201Entry:
        """Returns the table row of `cell` (index, genotype, the three accuracies, unique string)."""
        i = self.index(cell)
        return NB201Entry(
            index=i,
            genotype=self.genotype(i),
            cifar10=float(self._accuracies["cifar10"][i]),
            cifar100=float(self._accuracies["cifar100"][i]),
            imagenet16=float(self._accuracies["imagenet16-120"][i]),
            unique_str=self._unique[i],
        )

    def best(self, dataset: str = "cifar10") -> NB201Entry:
        """Returns the row of the best cell on `dataset` (the first in index order on ties)."""
        return self.lookup(int(np.argmax(self.accuracies(dataset))))

    def stats(self, dataset: str = "cifar10", cells: Iterable[CellLike] | None = None) -> AccuracyStats:
        """Summarises the test accuracies of the whole space or of `cells`.

        Args:
            dataset: Dataset name (see `accuracy`).
            cells: Cells (genotypes, strings or indices; repeats count) to summarise; None:
                the whole space.

        Returns:
            An `AccuracyStats` (size, mean, population std, median, best and its index, worst).

        Raises:
            ValueError: for an empty `cells`, an unknown dataset or cell.

        Example:
        >>> NB201Table().stats("cifar10", [1835, 6111]).mean  # doctest: +SKIP
        74.335
        """
        values = self.accuracies(dataset)
        if cells is None:
            indices = np.arange(len(values))
        else:
            indices = np.array([self.index(c) for c in cells], dtype=np.int64)
            if indices.size == 0:
                raise ValueError("stats() needs at least one cell. Received: cells=[]")
        chosen = values[indices]
        k = int(np.argmax(chosen))
        return AccuracyStats(
            dataset=canonical_dataset(dataset),
            size=int(indices.size),
            mean=float(chosen.mean()),
            std=float(chosen.std()),
            median=float(np.median(chosen)),
            best=float(chosen[k]),
            best_index=int(indices[k]),
            worst=float(chosen.min()),
        )

    def percentile(self, cell: CellLike, dataset: str = "cifar10") -> float:
        """Returns the percentage of cells whose accuracy on `dataset` is below that of `cell`."""
        values = self.accuracies(dataset)
        return float(100.0 * np.mean(values < values[self.index(cell)]))


class NB201LatencyTable(_CellIndexer):
    """Measured latency of every NAS-Bench-201 cell on 27 devices (`nb201_latency_help.csv`).

    Columns: `index`, `arch`, then one per device (`1080ti_1`, `1080ti_32`, `1080ti_256`
    for GPU batch sizes 1/32/256, Xeon CPUs `gold_6226`, ..., phones `pixel3`, ...,
    `raspi4`, `eyeriss`, `fpga`). Units are as measured per device (milliseconds for most).

    Args:
        path: The CSV file; default `<data_dir>/nb201/nb201_latency_help.csv`.
        data_dir: The shared data folder; default `$TFNAS_DATA_DIR`.

    Raises:
        ValueError: if no location is given or set, or the file is corrupt or truncated.
        FileNotFoundError: if the file does not exist.

    Example:
    >>> lat = NB201LatencyTable(data_dir="/work/shared/data")  # doctest: +SKIP
    >>> "pixel3" in lat.devices  # doctest: +SKIP
    True
    >>> lat.latency(0, "pixel3")  # doctest: +SKIP
    3.6058499999999998
    """

    def __init__(self, path: str | os.PathLike | None = None, *, data_dir: str | os.PathLike | None = None) -> None:
        self.path = resolve_table_path(LATENCY_FILE, path, data_dir)
        header, rows = _read_rows(self.path, ["index", "arch"])
        self.devices: tuple[str, ...] = tuple(h for h in header if h not in ("index", "arch"))
        if not self.devices:
            raise ValueError(f"NAS-Bench-201 latency table {str(self.path)!r} has no device columns.")
        try:
            values = np.array(
                [[float(row[header.index(d)]) for d in self.devices] for row in rows], dtype=np.float64
            )
            order = [int(row[header.index("index")]) for row in rows]
        except ValueError as err:
            raise ValueError(f"NAS-Bench-201 latency table {str(self.path)!r} is corrupt: {err}.") from None
        if order != list(range(nb201_space.NUM_CELLS)):
            raise ValueError(
                f"NAS-Bench-201 latency table {str(self.path)!r} is corrupt: its index column is not 0..{nb201_space.NUM_CELLS - 1}."
            )
        cells, _ = _IndexedCells.get()
        _check_order(self.path, [row[header.index("arch")] for row in rows], cells)
        values.setflags(write=False)
        self._values = values

    def __len__(self) -> int:
        return nb201_space.NUM_CELLS

    def __repr__(self) -> str:
        return f"NB201LatencyTable(path={str(self.path)!r}, devices={len(self.devices)})"

    def _column(self, device: str) -> int:
        if device not in self.devices:
            raise ValueError(
                f"Unknown device. Received: device={device!r}; known: {', '.join(self.devices)}."
            )
        return self.devices.index(device)

    def latencies(self, device: str) -> np.ndarray:
        """Returns the read-only latencies of all cells on `device`, in index order."""
        return self._values[:, self._column(device)]

    def latency(self, cell: CellLike, device: str) -> float:
        """Returns the measured latency of `cell` on `device`.

        Raises:
            ValueError: for an unknown device (the message lists them) or cell.
        """
        return float(self._values[self.index(cell), self._column(device)])

    def row(self, cell: CellLike) -> dict[str, float]:
        """Returns `{device: latency}` for `cell` on every device."""
        i = self.index(cell)
        return {d: float(v) for d, v in zip(self.devices, self._values[i])}


def summarize_searches(results: Mapping[str, Sequence[Mapping[str, Any]]], table: NB201Table) -> dict[str, dict]:
    """Summarises NB201 searches per algorithm (the JSON last line of `launch.nb201`).

    Args:
        results: `{algorithm: [search report, ...]}`, one report per seed (the
            `tfnas.algorithms.runner.search` dict; `genotype` and `search_seconds` are read).
        table: The accuracy table.

    Returns:
        `{algorithm: {"cells", "cifar10_mean", "cifar10_std", "cifar100_mean",
        "imagenet16_mean", "search_seconds"}}` (std over seeds, population). When every
        report carries `genotypes_by_epoch` (the cell derived at each epoch's end, as
        `runner.search` returns it) for the same number of epochs, two more keys trace the
        search over the epochs (mean over seeds): `"cifar10_by_epoch"` and
        `"parameter_free_by_epoch"` (see `collapse_trace`).
    """
    summary = {}
    for algorithm, reports in results.items():
        entries = [table.lookup(r["genotype"]) for r in reports]
        c10 = np.array([e.cifar10 for e in entries])
        summary[algorithm] = {
            "cells": [r["genotype"] for r in reports],
            "cifar10_mean": round(float(c10.mean()), 3),
            "cifar10_std": round(float(c10.std()), 3),
            "cifar100_mean": round(float(np.mean([e.cifar100 for e in entries])), 3),
            "imagenet16_mean": round(float(np.mean([e.imagenet16 for e in entries])), 3),
            "search_seconds": round(float(np.mean([r["search_seconds"] for r in reports])), 1),
        }
        trace = collapse_trace(reports, table)
        if trace is not None:
            summary[algorithm]["cifar10_by_epoch"] = [round(v, 3) for v in trace["cifar10"]]
            summary[algorithm]["parameter_free_by_epoch"] = [round(v, 3) for v in trace["parameter_free"]]
    return summary


#: Ops without weights, the ones a collapsing DARTS drifts to (arXiv 2009.01027, 1909.09656).
PARAMETER_FREE_OPS: tuple[str, ...] = ("none", "skip_connect", "avg_pool_3x3")


def collapse_trace(reports: Sequence[Mapping[str, Any]], table: NB201Table) -> dict[str, list[float]] | None:
    """The cell derived at each epoch's end, looked up: how a search drifts, mean over seeds.

    Args:
        reports: Search reports of one algorithm, each with `genotypes_by_epoch`.
        table: The accuracy table.

    Returns:
        `{"cifar10": [...], "parameter_free": [...]}`, one value per epoch: the mean
        CIFAR-10 accuracy of the derived cells and their mean count of parameter-free ops
        (of 6, `PARAMETER_FREE_OPS`); None when a report has no per-epoch cells or the
        reports differ in length.
    """
    histories = [r.get("genotypes_by_epoch") for r in reports]
    if not histories or any(not h for h in histories) or len({len(h) for h in histories}) != 1:
        return None
    accuracy = np.array([[table.accuracy(g) for g in h] for h in histories])
    free = np.array([[sum(op in PARAMETER_FREE_OPS for op in table.genotype(g).ops)
                      for g in h] for h in histories])
    return {"cifar10": accuracy.mean(axis=0).tolist(), "parameter_free": free.mean(axis=0).tolist()}


def format_search_results(results: Mapping[str, Sequence[Mapping[str, Any]]], table: NB201Table) -> str:
    """Returns the printed tables: every found cell, then mean +- std next to `PUBLISHED`.

    Args:
        results: As `summarize_searches` (reports also need `seed`).
        table: The accuracy table.

    Returns:
        Multi-line text.
    """
    lines = ["Found cells (NAS-Bench-201 200-epoch test accuracy, %):"]
    lines.append(f"{'algorithm':<12} {'seed':>4} {'C10':>7} {'C100':>7} {'IN16':>7} {'search s':>9}  cell")
    for algorithm, reports in results.items():
        for r in reports:
            e = table.lookup(r["genotype"])
            lines.append(
                f"{algorithm:<12} {r['seed']:>4} {e.cifar10:>7.2f} {e.cifar100:>7.2f} {e.imagenet16:>7.2f} "
                f"{r['search_seconds']:>9.0f}  {r['genotype']}"
            )

    def cell(values, published, published_std=None):
        ours = f"{np.mean(values):6.2f}+-{np.std(values):5.2f}"
        if published is None:
            return f"{ours} (paper   -  )"
        paper = f"{published:.2f}" + (f"+-{published_std:.2f}" if published_std is not None else "")
        return f"{ours} (paper {paper})"

    lines.append("")
    lines.append("Mean +- std over seeds, next to the published numbers:")
    widths = (34, 30, 30)
    header = ("CIFAR-10", "CIFAR-100", "ImageNet16-120")
    lines.append(f"{'algorithm':<12} {'seeds':>5}  " + "".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for algorithm, reports in results.items():
        entries = [table.lookup(r["genotype"]) for r in reports]
        p = PUBLISHED.get(algorithm)
        columns = (
            cell([e.cifar10 for e in entries], p and p.cifar10, p and p.cifar10_std),
            cell([e.cifar100 for e in entries], p and p.cifar100),
            cell([e.imagenet16 for e in entries], p and p.imagenet16),
        )
        lines.append(f"{algorithm:<12} {len(reports):>5}  " + "".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    optimum = (
        f"{table.best('cifar10').cifar10:6.2f} (paper {PUBLISHED['optimum'].cifar10:.2f})",
        f"{table.best('cifar100').cifar100:6.2f} (paper {PUBLISHED['optimum'].cifar100:.2f})",
        f"{table.best('imagenet16-120').imagenet16:6.2f} (paper {PUBLISHED['optimum'].imagenet16:.2f})",
    )
    lines.append(f"{'optimum':<12} {'':>5}  " + "".join(c.ljust(w) for c, w in zip(optimum, widths)).rstrip())
    stats = table.stats("cifar10")
    lines.append(f"(whole space: CIFAR-10 mean {stats.mean:.2f}, median {stats.median:.2f}; "
                 f"the all-skip cell of a collapsed DARTS: {table.accuracy(1835):.2f})")
    traces = {a: collapse_trace(r, table) for a, r in results.items()}
    traces = {a: t for a, t in traces.items() if t is not None}
    if traces:
        lines.append("")
        lines.append("The cell derived at the end of epoch e, mean over seeds: CIFAR-10 accuracy "
                     "(parameter-free ops of 6):")
        for algorithm, trace in traces.items():
            epochs = len(trace["cifar10"])
            marks = sorted({max(1, round(epochs * k / 10)) for k in range(1, 11)})
            lines.append(f"{algorithm:<12} " + "  ".join(
                f"e{e}: {trace['cifar10'][e - 1]:.2f} ({trace['parameter_free'][e - 1]:.1f})" for e in marks))
    return "\n".join(lines)
