"""One comparison harness: several strategies, one budget, several seeds, judged on the table.

`compare_strategies` runs each multi-trial strategy once per seed under the same budget and
evaluator, and judges the cell each returns by the NAS-Bench-201 table's 200-epoch CIFAR-10
test accuracy (whatever the strategy saw). `summarize` gives, per strategy, the mean and std
over seeds, the cost in machine-hours, and the found cell's rank percentile in the table;
`add_search_reports` puts the differentiable searches (`tfnas.algorithms.runner.search`
reports) into the same summary with their measured search time; `plot_comparison` draws the
best-so-far accuracy against cost for every strategy.

Cost is the wall time of this (2-core) machine: measured for training evaluators and
searches, declared per evaluation for the table (see `tfnas.strategies.evaluators`). The key
is `cpu_hours` for the benchmark's JSON contract.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tfnas.strategies.base import Budget, Evaluator, SearchTrace, Strategy


def compare_strategies(
    strategies: Mapping[str, Strategy], make_evaluator: Callable[[int], Evaluator], budget: Budget,
    seeds: Sequence[int], *, log: Callable[[str], None] | None = None,
    edge_ops: Sequence[Sequence[str]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Runs every strategy on every seed; returns `{strategy: [run record per seed]}`.

    Args:
        strategies: `{name: strategy}`.
        make_evaluator: Returns the evaluator for a seed (a fresh one per run, so a noisy
            evaluator's draws depend on the seed only).
        budget: The budget of each run.
        seeds: The seeds.
        log: Called with one line per finished run.
        edge_ops: The space searched (per edge its allowed ops, e.g. a learned AutoSpace
            sub-space's); None: the full space.

    Returns:
        Per strategy, one record per seed: `seed`, `cell` (the returned cell), `score` (what
        the strategy saw), `evaluations`, `cost_seconds`, `wall_seconds` and `curve`
        (`[[evaluations, cost_seconds, best-so-far cell], ...]` after each evaluation).
    """
    results: dict[str, list[dict[str, Any]]] = {}
    for name, strategy in strategies.items():
        results[name] = []
        for seed in seeds:
            started = time.perf_counter()
            trace: SearchTrace = strategy.search(make_evaluator(seed), budget, seed, edge_ops=edge_ops)
            best = trace.best()
            record = {
                "seed": int(seed),
                "cell": best.cell,
                "score": best.score,
                "evaluations": len(trace.trials),
                "cost_seconds": trace.total_cost_seconds(),
                "wall_seconds": time.perf_counter() - started,
                "curve": [[i + 1, t.cost_seconds, t.cell] for i, t in enumerate(trace.incumbents())],
            }
            results[name].append(record)
            if log is not None:
                log(f"{name} seed {seed}: {best.cell} (score {best.score:.2f}, {len(trace.trials)} evaluations, "
                    f"{record['cost_seconds']:.0f} s)")
    return results


def add_search_reports(results: dict[str, list[dict[str, Any]]], reports: Mapping[str, Sequence[Mapping]]) -> None:
    """Adds differentiable searches (`runner.search` reports, one per seed) as strategies."""
    for name, runs in reports.items():
        results[name] = [
            {
                "seed": int(r["seed"]), "cell": r["genotype"], "score": float("nan"), "evaluations": 0,
                "cost_seconds": float(r["search_seconds"]), "wall_seconds": float(r["search_seconds"]),
                "curve": [[0, float(r["search_seconds"]), r["genotype"]]],
            }
            for r in runs
        ]


#: CIFAR-10 accuracies (table) whose cost to reach the summary reports (PNAS's measure).
THRESHOLDS: tuple[float, ...] = (93.5, 94.0)


def evaluations_to_reach(run: Mapping[str, Any], table: Any, threshold: float) -> int | None:
    """The evaluation after which the run's best-scored cell first has table CIFAR-10 >= threshold."""
    for evaluations, _, cell in run["curve"]:
        if table.accuracy(cell) >= threshold:
            return int(evaluations)
    return None


def summarize(results: Mapping[str, Sequence[Mapping[str, Any]]], table: Any) -> dict[str, dict[str, Any]]:
    """Per strategy: CIFAR-10 test accuracy (table, 200 epochs) of the found cells over seeds.

    Returns:
        `{strategy: {"mean", "std", "cpu_hours", "percentile", "evaluations", "seeds", "cells",
        "reach"}}`: `std` over seeds (population), `cpu_hours` the mean cost of one seed's run
        in hours of this machine, `percentile` the mean share of the table's cells below the
        found cell, `reach` per threshold of `THRESHOLDS` the median evaluations at which the
        returned-so-far cell first reached it and the share of seeds that did (multi-trial
        strategies only).
    """
    summary = {}
    for name, runs in results.items():
        accuracy = np.array([table.accuracy(r["cell"]) for r in runs])
        reach = {}
        if all(r["evaluations"] for r in runs):
            for threshold in THRESHOLDS:
                hits = [evaluations_to_reach(r, table, threshold) for r in runs]
                got = [h for h in hits if h is not None]
                reach[f"{threshold:g}"] = {
                    "median_evaluations": float(np.median(got)) if got else None,
                    "share_of_seeds": round(len(got) / len(runs), 3),
                }
        summary[name] = {
            "mean": round(float(accuracy.mean()), 3),
            "std": round(float(accuracy.std()), 3),
            "cpu_hours": round(float(np.mean([r["cost_seconds"] for r in runs])) / 3600.0, 5),
            "percentile": round(float(np.mean([table.percentile(r["cell"]) for r in runs])), 3),
            "evaluations": round(float(np.mean([r["evaluations"] for r in runs])), 1),
            "seeds": len(runs),
            "cells": [r["cell"] for r in runs],
            "reach": reach,
        }
    return summary


def format_summary(summary: Mapping[str, Mapping[str, Any]], published: Mapping[str, str] | None = None) -> str:
    """The comparison table as text, one row per strategy (with a published figure if given)."""
    published = published or {}
    reach_titles = "".join(f" {'to ' + f'{t:g}':>13}" for t in THRESHOLDS)
    lines = [f"{'strategy':<14} {'CIFAR-10 (table)':>18} {'percentile':>10} {'evaluations':>11} {'hours/seed':>10}"
             f"{reach_titles}  paper"]
    for name, row in summary.items():
        reach = ""
        for threshold in THRESHOLDS:
            got = row.get("reach", {}).get(f"{threshold:g}")
            if not got:
                reach += f" {'':>13}"
            elif got["median_evaluations"] is None:
                reach += f" {'never':>13}"
            else:
                reach += f" {got['median_evaluations']:>6.0f} ({100 * got['share_of_seeds']:3.0f}%)"
        lines.append(
            f"{name:<14} {row['mean']:>9.2f} +- {row['std']:<5.2f} {row['percentile']:>10.2f} "
            f"{row['evaluations']:>11.1f} {row['cpu_hours']:>10.4f}{reach}  {published.get(name, '')}"
        )
    lines.append("(to X: median evaluations until the returned cell reached table CIFAR-10 >= X, and the "
                 "share of seeds that reached it within the budget)")
    return "\n".join(lines)


def plot_comparison(results: Mapping[str, Sequence[Mapping[str, Any]]], table: Any, path: str,
                    title: str = "NAS-Bench-201 CIFAR-10: found cell against cost") -> str:
    """Best-so-far table accuracy against cost, mean over seeds per strategy (PNG).

    The x axis is the cost in hours; when no run has a cost (the table at its default
    declared cost of 0), it is the number of evaluations.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_cost = any(point[1] > 0 for runs in results.values() for r in runs for point in r["curve"])
    column, scale = (1, 3600.0) if by_cost else (0, 1.0)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in results.items():
        ends = [r["curve"][-1][column] for r in runs if r["curve"]]
        if not ends:
            continue
        if all(len(r["curve"]) == 1 and r["evaluations"] == 0 for r in runs):  # One-shot: a point per seed.
            if not by_cost:
                continue
            accs = [table.accuracy(r["curve"][0][2]) for r in runs]
            ax.errorbar(np.mean(ends) / scale, np.mean(accs), yerr=np.std(accs), fmt="o", capsize=3, label=name)
            continue
        grid = np.linspace(0.0, max(ends), 100)
        curves = []
        for r in runs:
            xs = np.array([point[column] for point in r["curve"]], dtype=np.float64)
            accs = np.array([table.accuracy(point[2]) for point in r["curve"]])
            index = np.searchsorted(xs, grid, side="right") - 1
            curves.append(np.where(index >= 0, accs[np.maximum(index, 0)], np.nan))
        curves = np.array(curves)
        valid = ~np.all(np.isnan(curves), axis=0)
        ax.plot(grid[valid] / scale, np.nanmean(curves[:, valid], axis=0), label=name)
    ax.axhline(table.best().cifar10, color="grey", linestyle=":", linewidth=1, label="table optimum")
    ax.set_xlabel("cost (hours of this machine)" if by_cost else "evaluations")
    ax.set_ylabel("CIFAR-10 test accuracy (table, 200 epochs)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
