"""`ensemble`: a rank vote of scorers that already rated the same cells.

Each member's scores come from its `launch.rank` output (`<scores_dir>/<member>_scores.json`,
written by `python -m launch.rank --scorer=<member> --workdir=<scores_dir>`). Every member's
scores of the requested cells are turned into ranks (1 = worst; ties share their average
rank; a degenerate `-inf` / null score ranks lowest), and a cell's ensemble score is its
mean rank over the members. This is the voting of Abdelfattah et al. (Zero-Cost Proxies for
Lightweight NAS, arXiv 2101.08134, Sec. 5: a majority vote of synflow, jacob_cov and snip)
with ranks instead of pairwise votes, so that any number of members combines and one member's
scale cannot dominate.

A rank is relative to the set scored, so the ensemble rates a set of cells at once (the
ranking benchmark), not one cell at a time; it is not a `PerCellScorer`, so
`tfnas.strategies.ScorerEvaluator` (one cell per call) refuses it.

Its cost is its members' cost: `upstream_seconds()` sums the `cpu_seconds` and
`supernet_training_seconds` their JSONs recorded, and `launch.rank` adds them to its own.

Example:
>>> import json, os, tempfile
>>> from tfnas.ranking.sample import sample_cells
>>> cells = sample_cells(3, seed=0)
>>> folder = tempfile.mkdtemp()
>>> for name, values in {"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, None]}.items():
...     rows = [{"arch": c.to_string(), "score": v} for c, v in zip(cells, values)]
...     with open(os.path.join(folder, f"{name}_scores.json"), "w") as f:
...         json.dump({"scorer": name, "cpu_seconds": 1.5, "cells": rows}, f)
>>> RankEnsemble(members=("a", "b"), scores_dir=folder).score(cells, None).tolist()
[2.0, 2.0, 2.0]
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.ranking.scorers import Scorer, ScoringContext, register_scorer


def ranks(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks of `scores`, 1 = lowest, ties share their average rank; `-inf` / NaN rank lowest
    (tied with each other).

    Example:
    >>> ranks([0.5, float("-inf"), 0.5, 2.0]).tolist()
    [2.5, 1.0, 2.5, 4.0]
    """
    values = np.asarray(scores, dtype=np.float64).copy()
    values[np.isnan(values)] = -np.inf
    return stats.rankdata(values, method="average").astype(np.float64)


@register_scorer
class RankEnsemble(Scorer):
    """Mean rank of each cell over member scorers' saved scores (see the module docstring).

    Args:
        members: Names of the member scorers (at least two, distinct, not `ensemble`).
        scores_dir: Folder holding `<member>_scores.json` for each member (default `runs/rank`).

    Raises:
        ValueError: for fewer than two members, a repeated member, or a member file that is
            corrupt or lacks a requested cell.
        FileNotFoundError: when a member's file is missing (the message gives the command
            that writes it).
    """

    name: ClassVar[str] = "ensemble"

    def __init__(self, members: Sequence[str], scores_dir: str = "runs/rank") -> None:
        members = tuple(str(m).strip() for m in members if str(m).strip())
        if len(members) < 2:
            raise ValueError(f"An ensemble needs at least two member scorers. Received: {list(members)}")
        if len(set(members)) != len(members):
            raise ValueError(f"Ensemble members must be distinct. Received: {list(members)}")
        if self.name in members:
            raise ValueError("An ensemble cannot contain `ensemble`.")
        self.members = members
        self.scores_dir = scores_dir
        self._files: dict[str, dict[str, Any]] = {}

    def _member(self, member: str) -> dict[str, Any]:
        if member not in self._files:
            path = os.path.join(self.scores_dir, f"{member}_scores.json")
            if not os.path.exists(path):
                raise FileNotFoundError(
                    f"Ensemble member {member!r} has no scores at {path}. Write them first with "
                    f"`python -m launch.rank --scorer={member} --workdir={self.scores_dir}` (the same "
                    "--num_cells and --seed).")
            try:
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
                table = {row["arch"]: (-math.inf if row["score"] is None else float(row["score"]))
                         for row in data["cells"]}
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise ValueError(f"{path} is not a launch.rank scores file ({err}); delete it and rerun "
                                 f"`python -m launch.rank --scorer={member} --workdir={self.scores_dir}`.") from err
            self._files[member] = {"table": table, "cpu_seconds": float(data.get("cpu_seconds") or 0.0),
                                   "supernet_training_seconds": float(data.get("supernet_training_seconds") or 0.0),
                                   "proxy": data.get("proxy"), "path": path}
        return self._files[member]

    def member_scores(self, cells: Sequence[NB201Genotype]) -> dict[str, np.ndarray]:
        """Each member's saved score of each cell, in the order of `cells`."""
        result = {}
        for member in self.members:
            table = self._member(member)["table"]
            missing = [c.to_string() for c in cells if c.to_string() not in table]
            if missing:
                raise ValueError(
                    f"{self._member(member)['path']} lacks {len(missing)} of the {len(cells)} cells (first: "
                    f"{missing[0]}); score the same sample (--num_cells and --seed) with every member.")
            result[member] = np.array([table[c.to_string()] for c in cells], dtype=np.float64)
        return result

    def score(self, cells: Sequence[NB201Genotype], context: ScoringContext | None) -> np.ndarray:
        per_member = self.member_scores(cells)
        return np.mean([ranks(values) for values in per_member.values()], axis=0)

    def upstream_seconds(self) -> dict[str, float]:
        return {key: sum(self._member(m)[key] for m in self.members)
                for key in ("cpu_seconds", "supernet_training_seconds")}

    def settings(self) -> dict[str, Any]:
        return {"members": list(self.members), "scores_dir": self.scores_dir,
                "member_cpu_seconds": {m: self._member(m)["cpu_seconds"] for m in self.members if m in self._files},
                "member_proxies": {m: self._member(m)["proxy"] for m in self.members if m in self._files}}
