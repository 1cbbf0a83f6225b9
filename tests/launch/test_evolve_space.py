"""Tests of `python -m launch.evolve_space` (subprocess): refusals, and an NB201 smoke run checked on the table."""

from __future__ import annotations

import json
import subprocess

import pytest

from tfnas.algorithms.autospace import LearnedNB201Space
from tfnas.benchmarks import NB201Table
from tfnas.genotypes.block import BlockGenotype
from tfnas.genotypes.nb201 import NB201Genotype
from tests.helpers import run_launch, run_launch_cases, run_launch_on_logical_cpus



def _run(data_dir, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return run_launch("evolve_space", *args, data_dir=data_dir, timeout=timeout)


_BAD_SETTINGS = [
    (("--space=nb201", "--seeds=a"), "--seeds must be integers"),
    (("--space=nb201", "--search_algorithm=rome"), "ROME keeps 2 inputs per node"),
    (("--space=nb201", "--evolve_algorithm=gdas"), "evolve_algorithm must train the motif weights by softmax"),
    (("--space=nb201", "--search_strategy=bayes"), "bayes"),
    (("--space=nb201", "--strategy=bayes"), "--strategy must be one of auto, one_device, mirrored, multi_worker"),
    (("--space=nb201", "--strategy=random", "--search_strategy=pnas"),
     "--strategy=random is the deprecated spelling of --search_strategy"),
    (("--space=nb201", "--strategy=pnas", "--seeds=a"),
     "warning: --strategy=pnas naming the multi-trial strategy is deprecated and will be removed; use "
     "--search_strategy=pnas"),
    (("--space=mobile", "--preset=imagenet"), "--imagenet_manual_dir"),
    (("--space=mobile", "--search_algorithm=darts"), "single-path"),
    (("--space=mobile", "--latency_form=proxyless"), "needs latency_target_ms"),
]


@pytest.fixture(scope="module")
def bad_settings_runs(data_dir, tmp_path_factory):
    """`_BAD_SETTINGS`' runs, all in one process (`run_launch_cases`), by their args."""
    workdir = tmp_path_factory.mktemp("evolve_space_bad_settings")
    return run_launch_cases("evolve_space", {args: (*args, f"--workdir={workdir / str(i)}")
                                             for i, (args, _) in enumerate(_BAD_SETTINGS)}, data_dir=data_dir)


@pytest.mark.parametrize("args, message", _BAD_SETTINGS)
def test_bad_settings_exit_2(bad_settings_runs, args, message):
    proc = bad_settings_runs[args]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr


def test_missing_table_exits_2(tmp_path):
    proc = _run(tmp_path, "--space=nb201", f"--workdir={tmp_path / 'w'}", timeout=300)
    assert proc.returncode == 2
    assert "nats_bench_tss_200ep.csv" in proc.stderr


@pytest.mark.slow
def test_nb201_smoke_run_reports_table_figures(data_dir, tmp_path):
    proc = _run(data_dir, "--space=nb201", "--generations=1", "--generation_epochs=1", "--search_epochs=1",
                "--seeds=0", "--channels=4", "--image_size=8", "--max_train_examples=64", "--batch_size=16",
                "--sample_size=2", "--population_size=4", "--strategy_seeds=2", "--strategy_evaluations=8",
                "--strategy=one_device", f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"members_cifar10", "full_space_cifar10", "search_in_learned", "search_in_full"} <= set(summary)
    table = NB201Table(data_dir=data_dir)
    space = LearnedNB201Space.from_dict(json.loads((tmp_path / "learned_space.json").read_text()))
    stats = table.stats("cifar10", space.members())
    assert summary["members_cifar10"] == {"mean": stats.mean, "median": stats.median, "best": stats.best,
                                          "size": stats.size}
    assert summary["full_space_cifar10"]["median"] == pytest.approx(90.745, abs=0.01)
    assert summary["full_space_cifar10"]["best"] == pytest.approx(94.373, abs=0.01)
    learned = summary["search_in_learned"]
    space.validate(space.members()[0].from_string(learned["cells"][0]))
    assert learned["cifar10_mean"] == pytest.approx(table.accuracy(learned["cells"][0]))
    assert learned["cifar10_std"] == 0.0
    assert "search in full space" in proc.stdout
    strategy = summary["strategy_in_learned"]
    assert strategy["strategy"] == "pnas" and len(strategy["cells"]) == 2
    for cell in strategy["cells"]:
        space.validate(NB201Genotype.from_string(cell))
    assert strategy["cifar10_mean"] == pytest.approx(sum(table.accuracy(c) for c in strategy["cells"]) / 2)
    assert len(summary["motifs"]) == len(space.motifs) and "kept motif" in proc.stdout


@pytest.mark.slow
def test_nb201_on_two_logical_cpus_keeps_the_one_device_result(data_dir, tmp_path):
    """Under a 2-replica MirroredStrategy the motif supernet and the search split each batch; at this
    size the learned space and the found cell are the one-device run's (BatchNorm per replica moves
    the fitness a little)."""
    args = ("--space=nb201", "--generations=1", "--generation_epochs=1", "--search_epochs=1", "--seeds=0",
            "--channels=4", "--image_size=8", "--max_train_examples=64", "--batch_size=16", "--sample_size=2",
            "--population_size=4", "--strategy_seeds=2", "--strategy_evaluations=8")
    one = _run(data_dir, *args, "--strategy=one_device", f"--workdir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_launch_on_logical_cpus("evolve_space", *args, "--strategy=mirrored", f"--workdir={tmp_path / 'two'}",
                                     data_dir=data_dir, timeout=900)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = (json.loads(p.stdout.strip().splitlines()[-1]) for p in (one, two))
    assert b["learned_space"] == a["learned_space"]
    assert b["search_in_learned"]["cells"] == a["search_in_learned"]["cells"]
    # the kept motifs, by cell: their order follows fitness, which replica BatchNorm moves a little
    kept_one = {m["cell"]: m["fitness"] for m in a["motifs"]}
    kept_two = {m["cell"]: m["fitness"] for m in b["motifs"]}
    assert kept_two.keys() == kept_one.keys()
    for cell, fitness in kept_one.items():
        assert kept_two[cell] == pytest.approx(fitness, abs=0.05)
    assert (tmp_path / "two" / "report.json").exists()


@pytest.mark.slow
def test_mobile_pipeline_with_the_latency_term_on_digits(data_dir, tmp_path):
    """The whole mobile pipeline (evolve, budgeted search, child training, LiteRT timing) at
    smoke size, with the ProxylessNAS expected-latency term from the measured lookup table."""
    proc = _run(data_dir, "--space=mobile", "--dataset=digits", "--generations=1", "--generation_epochs=1",
                "--search_epochs=1", "--train_epochs=1", "--sample_size=2", "--max_train_examples=128",
                "--batch_size=16", "--latency_runs=2", "--latency_form=proxyless", "--latency_target_ms=0.2",
                f"--workdir={tmp_path}", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    term = summary["search_term"]
    assert term["form"] == "proxyless" and term["unit"] == "latency_ms" and term["target"] == 0.2
    assert term["lookup_ms_of_exported"] > 0
    assert summary["madds"] <= summary["budget_madds"]  # MAdds stay the hard limit
    lut = json.loads((tmp_path / "latency_lut.json").read_text())
    assert len(lut) > 0
    assert {"searched", "mobilenet_v2", "efficientnet_b0"} <= set(summary["at_224"])
    for name in ("mobilenet_v2", "efficientnet_b0"):  # trained at the searched network's MAdds, same recipe
        baseline = summary["baselines_equal_madds"][name]
        assert baseline["madds"] <= summary["madds"] and 0.0 <= baseline["test_accuracy"] <= 1.0
        searched, scaled = (BlockGenotype.from_string(summary["genotype"]), BlockGenotype.from_string(baseline["genotype"]))
        assert scaled.reduction == baseline["reduction"] == searched.reduction
        assert scaled.bn_momentum == searched.bn_momentum  # the same recipe
        assert (tmp_path / f"baseline_{name}").is_dir()
