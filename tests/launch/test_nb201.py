"""Tests of `python -m launch.nb201` (subprocess) and of its summary against the real table."""

from __future__ import annotations

import json
import subprocess

import pytest

from tfnas.benchmarks import NB201Table
from tests.helpers import run_launch

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def _run(data_dir, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return run_launch("nb201", *args, data_dir=data_dir, timeout=timeout)


def test_unknown_algorithm_exits_2(data_dir, tmp_path):
    proc = _run(data_dir, "--algorithms=darts,rome", "--seeds=0", f"--workdir={tmp_path}", timeout=300)
    assert proc.returncode == 2
    assert "--algorithms must name algorithms from darts" in proc.stderr and "rome" in proc.stderr


def test_missing_table_exits_2(tmp_path):
    proc = _run(tmp_path, "--algorithms=darts", "--seeds=0", f"--workdir={tmp_path / 'w'}", timeout=300)
    assert proc.returncode == 2
    assert "TFNAS_DATA_DIR" in proc.stderr and "nats_bench_tss_200ep.csv" in proc.stderr


@pytest.mark.slow
def test_one_algorithm_one_seed_on_cifar10(data_dir, tmp_path):
    proc = _run(
        data_dir, "--algorithms=darts_minus", "--seeds=0", "--epochs=1", "--channels=4", "--layers=1",
        "--image_size=8", "--max_train_examples=64", "--batch_size=16", "--verbose=0", f"--workdir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert list(summary) == ["darts_minus"]
    entry = summary["darts_minus"]
    assert set(entry) == {"cells", "cifar10_mean", "cifar10_std", "cifar100_mean", "imagenet16_mean", "search_seconds",
                          "cifar10_by_epoch", "parameter_free_by_epoch", "recipe"}
    assert entry["recipe"].startswith("1 epochs, batch 16, SGD lr 0.025->0.001, weight decay 0.0003")
    assert "auxiliary skip" in entry["recipe"] and "recipes run" in proc.stdout
    assert entry["cifar10_by_epoch"] == [entry["cifar10_mean"]]  # one epoch: its cell is the found one
    assert 0 <= entry["parameter_free_by_epoch"][0] <= 6
    assert len(entry["cells"]) == 1 and entry["cifar10_std"] == 0.0
    table = NB201Table(data_dir=data_dir)
    assert entry["cifar10_mean"] == pytest.approx(table.accuracy(entry["cells"][0]), abs=1e-3)
    assert entry["cifar100_mean"] == pytest.approx(table.accuracy(entry["cells"][0], "cifar100"), abs=1e-3)
    assert entry["search_seconds"] > 0
    text = proc.stdout
    assert "paper 93.80+-0.40" in text and "optimum" in text and entry["cells"][0] in text
    assert (tmp_path / "darts_minus" / "seed0" / "genotype.json").exists()


def test_compare_in_table_mode_prints_the_table_png_and_json(data_dir, tmp_path):
    proc = _run(data_dir, "--compare", "--strategies=random,evolution,pnas", "--evaluator=table",
                "--table_column=cifar100", "--budget_evaluations=25", "--num_seeds=2", f"--workdir={tmp_path}",
                timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert list(summary) == ["random", "evolution", "pnas"]
    table = NB201Table(data_dir=data_dir)
    for row in summary.values():
        assert {"mean", "std", "cpu_hours"} <= set(row) and len(row["cells"]) == 2
        assert row["mean"] == pytest.approx(sum(table.accuracy(c) for c in row["cells"]) / 2, abs=1e-3)
        assert row["evaluations"] <= 25
    assert "strategies see the table's 200-epoch cifar100 test accuracy" in proc.stdout
    assert "(paper 93.92, arXiv 1802.01548)" in proc.stdout
    assert (tmp_path / "compare.png").stat().st_size > 1000 and (tmp_path / "compare.json").exists()
    # Reproducible from the seeds.
    again = _run(data_dir, "--compare", "--strategies=random,evolution,pnas", "--table_column=cifar100",
                 "--budget_evaluations=25", "--num_seeds=2", f"--workdir={tmp_path / 'again'}", timeout=600)
    repeat = json.loads(again.stdout.strip().splitlines()[-1])
    for name, row in summary.items():  # the cost (PNAS's surrogate wall time) is measured, not seeded
        assert {k: v for k, v in repeat[name].items() if k != "cpu_hours"} == {
            k: v for k, v in row.items() if k != "cpu_hours"}
    # An explicit --seeds list runs just those seeds, each as it runs among the others.
    one = _run(data_dir, "--compare", "--strategies=random,evolution,pnas", "--table_column=cifar100",
               "--budget_evaluations=25", "--seeds=1", f"--workdir={tmp_path / 'seed1'}", timeout=600)
    single = json.loads(one.stdout.strip().splitlines()[-1])
    for name, row in summary.items():
        assert single[name]["cells"] == row["cells"][1:]


def test_compare_inside_a_learned_space(data_dir, tmp_path):
    from tfnas.algorithms.autospace import LearnedNB201Space
    from tfnas.genotypes.nb201 import NB201Genotype

    space = LearnedNB201Space.spanned_by([
        (NB201Genotype.from_string("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"),
         1.2),
        (NB201Genotype(("nor_conv_1x1",) * 6), 1.0)])
    path = tmp_path / "learned_space.json"
    path.write_text(space.to_json())
    proc = _run(data_dir, "--compare", "--strategies=random,evolution,pnas", "--budget_evaluations=10",
                "--num_seeds=2", f"--learned_space={path}", f"--workdir={tmp_path / 'w'}", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    for row in summary.values():
        for cell in row["cells"]:
            space.validate(NB201Genotype.from_string(cell))
    assert f"searching inside the learned space {path} ({space.size} cells)" in proc.stdout


def test_compare_refuses_unknown_strategies(data_dir, tmp_path):
    proc = _run(data_dir, "--compare", "--strategies=random,hyperband", f"--workdir={tmp_path}", timeout=300)
    assert proc.returncode == 2 and "hyperband" in proc.stderr and "evolution" in proc.stderr


def test_compare_with_a_zero_cost_warm_start(data_dir, tmp_path):
    proc = _run(data_dir, "--compare", "--strategies=random,local", "--evaluator=table", "--budget_evaluations=3",
                "--num_seeds=1", "--warm_start_scorer=params", "--warm_start_cells=4", f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warm start: the best of 4 random cells by params (for local)" in proc.stdout
    runs = json.loads((tmp_path / "compare.json").read_text())["runs"]
    assert runs["local"][0]["evaluations"] == 3 and runs["random"][0]["evaluations"] == 3


def test_recipes_are_each_algorithms_nb201_recipe():
    from tfnas.algorithms.config import recipe_text
    from tfnas.algorithms.runner import make_search_config

    darts = recipe_text(make_search_config("darts", "nb201"))
    assert darts.startswith("50 epochs, batch 64, SGD lr 0.025->0.001 Nesterov, weight decay 0.0005")
    gdas = recipe_text(make_search_config("gdas", "nb201"))
    assert gdas.startswith("240 epochs, batch 64") and "tau 10->0.1" in gdas
    pc = recipe_text(make_search_config("pc_darts", "nb201"))
    assert "batch 256" in pc and "partial channels 1/4" in pc and "arch warm-up 15 epochs" in pc
    assert "50 epochs, batch 64" in recipe_text(make_search_config("darts_minus", "nb201"))


@pytest.mark.slow
def test_compare_in_one_shot_mode_trains_a_spos_supernet_once(data_dir, tmp_path):
    args = ["--compare", "--strategies=random,evolution", "--evaluator=supernet", "--budget_evaluations=4",
            "--num_seeds=1", "--dataset=digits", "--epochs=1", "--channels=4", "--image_size=8",
            "--max_train_examples=128", "--batch_size=32", "--proxy_val_examples=64", "--verbose=0",
            f"--workdir={tmp_path}"]
    proc = _run(data_dir, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert list(summary) == ["random", "evolution"] and all(row["evaluations"] == 4 for row in summary.values())
    assert (tmp_path / "spos_supernet" / "config.json").exists() and "SPOS supernet" in proc.stdout
    training = json.loads((tmp_path / "spos_supernet" / "genotype.json").read_text())["search"]["search_seconds"]
    assert all(row["cpu_hours"] * 3600 >= training for row in summary.values())  # supernet cost included
