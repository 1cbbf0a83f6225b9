"""Tests of `python -m launch.rank`, run as subprocesses (absl flags are process-global)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tfnas.benchmarks import NB201Table
from tfnas.ranking import rank_metrics, sample_indices
from tfnas.ranking.ensemble import ranks
from tests.helpers import error_line, run_launch, run_launch_cases, run_launch_on_logical_cpus

_TINY = ("--num_cells=5", "--channels=4", "--layers=1", "--image_size=8", "--batch_size=8", "--seed=3")


def _run(data_dir, *args: str) -> subprocess.CompletedProcess:
    return run_launch("rank", "--space=nb201", *args, data_dir=data_dir)


_BAD_FLAGS = [
    (("--scorer=snip",), "Unknown --scorer='snip'; known: alpha, dna, ensemble, grad_norm, meco, naswot, params"),
    (("--scorer=ensemble", "--members=params,naswot"), "Ensemble member 'params' has no scores at"),
    (("--scorer=ensemble", "--members=params"), "at least two member scorers"),
    (("--scorer=params", "--members=params,naswot"), "--members belongs to --scorer=ensemble"),
    (("--scorer=params", "--teacher=nb201_resnet.c8_l2_s16_cifar10"), "--teacher belongs to --scorer=dna"),
    (("--scorer=params", "--supernet_algorithm=spos"), "--supernet_algorithm belongs to --scorer=spos or alpha"),
    (("--scorer=spos", "--supernet_algorithm=gdas"), "must be one of spos, magic_t, magic_a, magic_at, spos_distinct"),
    (("--scorer=params", "--num_cells=0"), "num_cells must be in [1, 15625]"),
    (("--scorer=params", "--dna_search"), "--dna_search belongs to --scorer=dna"),
    (("--scorer=spos", "--anchor_weight=0.1"), "--anchor_weight belongs to --supernet_algorithm=magic_a or magic_at"),
    (("--scorer=synflow", "--reference"), "conflicts with --scorer=synflow"),
]


@pytest.fixture(scope="module")
def bad_flag_runs(data_dir, tmp_path_factory):
    """`_BAD_FLAGS`' runs, all in one process (`run_launch_cases`), by their args."""
    workdir = tmp_path_factory.mktemp("rank_bad_flags")
    return run_launch_cases("rank", {args: ("--space=nb201", *args, f"--workdir={workdir / str(i)}")
                                     for i, (args, _) in enumerate(_BAD_FLAGS)}, data_dir=data_dir)


@pytest.mark.parametrize("args, message", _BAD_FLAGS)
def test_bad_flags_exit_2(bad_flag_runs, args, message):
    proc = bad_flag_runs[args]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in error_line(proc.stderr)


def test_missing_table_exits_2(tmp_path):
    proc = _run(tmp_path, "--scorer=params", f"--workdir={tmp_path / 'w'}")
    assert proc.returncode == 2
    assert "error: " in proc.stderr and "nats_bench_tss_200ep.csv" in proc.stderr


def test_two_scorers_rate_the_same_sample_and_report_json(data_dir, tmp_path):
    table = NB201Table(data_dir=data_dir)
    expected = sample_indices(5, seed=3).tolist()
    summaries = {}
    for scorer in ("params", "naswot"):
        proc = _run(data_dir, f"--scorer={scorer}", *_TINY, f"--workdir={tmp_path}")
        assert proc.returncode == 0, proc.stderr[-3000:]
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        summaries[scorer] = summary
        assert {"scorer", "kendall_tau", "spearman_rho", "top10_precision", "cpu_seconds", "num_cells", "seed",
                "cpu", "cpu_vector_extensions", "kernel_library", "proxy"} <= set(summary)
        assert summary["scorer"] == scorer and summary["num_cells"] == 5 and summary["seed"] == 3
        assert summary["proxy"]["channels"] == 4 and summary["cpu_seconds"] > 0
        assert "Kendall tau" in proc.stdout
        saved = json.loads((tmp_path / f"{scorer}_scores.json").read_text())
        cells = saved["cells"]
        assert [c["index"] for c in cells] == expected  # The same seeded sample for every scorer.
        assert [c["cifar10"] for c in cells] == [table.accuracy(i) for i in expected]
        scores = [float("-inf") if c["score"] is None else c["score"] for c in cells]
        again = rank_metrics(scores, [c["cifar10"] for c in cells])
        assert summary["kendall_tau"] == pytest.approx(again.kendall_tau, abs=1e-6)
        assert summary["top10_precision"] == pytest.approx(again.top10_precision, abs=1e-6)
        assert (tmp_path / f"{scorer}_scatter.png").stat().st_size > 1000
    assert summaries["params"]["published_kendall_tau"] == 0.57
    # The ensemble of the two: mean rank of their saved scores, their cost included.
    proc = _run(data_dir, "--scorer=ensemble", "--members=params,naswot", *_TINY, f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["scorer"] == "ensemble" and summary["scorer_settings"]["members"] == ["params", "naswot"]
    # Each figure is rounded to 0.01 s in the JSON, so their sum may exceed the rounded total by that much.
    assert summary["cpu_seconds"] >= summaries["params"]["cpu_seconds"] + summaries["naswot"]["cpu_seconds"] - 0.011
    member_scores = [[float("-inf") if c["score"] is None else c["score"]
                      for c in json.loads((tmp_path / f"{m}_scores.json").read_text())["cells"]]
                     for m in ("params", "naswot")]
    expected_scores = [(a + b) / 2 for a, b in zip(*(ranks(v).tolist() for v in member_scores))]
    saved = json.loads((tmp_path / "ensemble_scores.json").read_text())["cells"]
    assert [c["score"] for c in saved] == pytest.approx(expected_scores)


def test_an_interrupted_per_cell_run_resumes_from_its_partial_scores(data_dir, tmp_path):
    from tfnas.ranking import ProxyConfig

    table = NB201Table(data_dir=data_dir)
    cells = [table.genotype(i).to_string() for i in sample_indices(5, seed=3)]
    proxy = ProxyConfig(channels=4, layers=1, image_size=8, batch_size=8, seed=3).to_dict()
    settings = {"scorer": "params", "scorer_settings": {}, "proxy": proxy, "space": "nb201"}
    partial = tmp_path / "params_scores.partial.jsonl"
    lines = [  # what a killed run left: cell 0 scored; a line of another seed's proxy is ignored
        {"cell": cells[0], "score": 1e9, "cpu_seconds": 100.0, "wall_seconds": 50.0, "settings": settings},
        {"cell": cells[1], "score": 2e9, "cpu_seconds": 1.0, "wall_seconds": 1.0,
         "settings": {**settings, "proxy": {**proxy, "seed": 4}}},
    ]
    partial.write_text("".join(json.dumps(line) + "\n" for line in lines) + "{not json\n")
    proc = _run(data_dir, "--scorer=params", *_TINY, f"--workdir={tmp_path}")
    assert proc.returncode == 2 and "params_scores.partial.jsonl, line 3, is not a result line" in error_line(proc.stderr)
    partial.write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = _run(data_dir, "--scorer=params", *_TINY, f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["resumed_cells"] == 1 and summary["cpu_seconds"] >= 100.0 and summary["wall_seconds"] >= 50.0
    scores = [c["score"] for c in json.loads((tmp_path / "params_scores.json").read_text())["cells"]]
    assert scores[0] == 1e9  # read back, not scored again
    assert all(0 < s < 1e9 for s in scores[1:])  # parameter counts, the other seed's line unused
    assert not partial.exists()  # the run completed: a rerun measures again


@pytest.mark.slow
def test_spos_scorer_trains_a_supernet_then_rates_cells_with_inherited_weights(data_dir, tmp_path):
    args = ("--scorer=spos", "--num_cells=5", "--channels=4", "--layers=1", "--image_size=8", "--batch_size=32",
            "--supernet_epochs=1", "--supernet_train_examples=128", "--val_examples=64", f"--workdir={tmp_path}")
    proc = _run(data_dir, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["scorer"] == "spos" and summary["num_cells"] == 5
    assert summary["supernet_training_seconds"] > 0 and summary["scorer_settings"]["supernet_epochs"] == 1
    scores = json.loads((tmp_path / "spos_scores.json").read_text())["cells"]
    assert all(0.0 <= c["score"] <= 100.0 for c in scores)
    assert (tmp_path / "spos_supernet" / "checkpoints").is_dir()
    # A rerun resumes the finished supernet (no training) and rates the same cells the same way.
    again = _run(data_dir, *args)
    assert json.loads(again.stdout.strip().splitlines()[-1])["kendall_tau"] == summary["kendall_tau"]
    # MAGIC-T's supernet (arXiv 2108.12821) is rated the same way, under its own label.
    magic = _run(data_dir, *args, "--supernet_algorithm=magic_t")
    assert magic.returncode == 0, magic.stderr[-3000:]
    summary = json.loads(magic.stdout.strip().splitlines()[-1])
    assert summary["label"] == "spos_magic_t" and summary["scorer_settings"]["supernet_algorithm"] == "magic_t"
    assert (tmp_path / "magic_t_supernet" / "checkpoints").is_dir() and (tmp_path / "spos_magic_t_scores.json").exists()


@pytest.mark.slow
def test_alpha_scorer_reads_a_differentiable_search_s_architecture_weights(data_dir, tmp_path):
    import numpy as np

    from tfnas.algorithms.runner import restore_search
    from tfnas.genotypes.nb201 import NB201Genotype
    from tfnas.spaces import nb201 as nb201_space

    args = ("--scorer=alpha", "--supernet_algorithm=darts", "--num_cells=5", "--channels=4", "--layers=1",
            "--image_size=8", "--batch_size=32", "--supernet_epochs=1", "--supernet_train_examples=128",
            f"--workdir={tmp_path}")
    proc = _run(data_dir, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["scorer"] == "alpha" and summary["scorer_settings"]["supernet_algorithm"] == "darts"
    assert summary["label"] == "alpha_darts"
    assert summary["supernet_training_seconds"] > 0
    probs = np.stack([np.asarray(p) for p in restore_search(str(tmp_path / "darts_supernet")).supernet.arch_probabilities()])
    for cell in json.loads((tmp_path / "alpha_darts_scores.json").read_text())["cells"]:
        ops = NB201Genotype.from_string(cell["arch"]).ops
        want = sum(np.log(probs[e, nb201_space.OPS.index(op)]) for e, op in enumerate(ops))
        assert cell["score"] == pytest.approx(want, rel=1e-5)
    bad = _run(data_dir, "--scorer=alpha", "--supernet_algorithm=spos", f"--workdir={tmp_path}")
    assert bad.returncode == 2 and "--supernet_algorithm must be one of" in bad.stderr


@pytest.mark.slow
def test_dna_scorer_trains_teacher_and_block_students_then_rates_cells(data_dir, tmp_path):
    args = ("--scorer=dna", "--num_cells=5", "--channels=4", "--layers=1", "--image_size=8", "--batch_size=32",
            "--supernet_epochs=1", "--teacher_epochs=1", "--teacher_layers=1", "--supernet_train_examples=128",
            "--val_examples=64", f"--workdir={tmp_path}", "--dna_search", "--budget_params=100000")
    proc = _run(data_dir, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    found = summary["dna_search"]
    assert found["candidates"] == 6466 and found["params"] <= 100000 and 0 < found["cifar10"] <= 100
    assert summary["label"] == "dna" and summary["num_cells"] == 5 and summary["supernet_training_seconds"] > 0
    settings = summary["scorer_settings"]
    assert settings["student_epochs"] == 1 and settings["train_examples"] == 64 and settings["teacher_layers"] == 1
    assert 0.0 <= settings["teacher_heldout_accuracy"] <= 100.0
    assert all(c["score"] < 0 for c in json.loads((tmp_path / "dna_scores.json").read_text())["cells"])
    assert (tmp_path / "dna" / "teacher.weights.h5").exists() and (tmp_path / "dna" / "students").is_dir()


def test_one_device_strategy_scores_like_the_default(data_dir, tmp_path):
    runs = {}
    for strategy in ("auto", "one_device"):
        proc = _run(data_dir, "--scorer=params", *_TINY, f"--strategy={strategy}", f"--workdir={tmp_path / strategy}")
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[strategy] = json.loads((tmp_path / strategy / "params_scores.json").read_text())["cells"]
    assert runs["one_device"] == runs["auto"]


@pytest.mark.slow
def test_spos_supernet_on_two_logical_cpus_rates_like_one_device(data_dir, tmp_path):
    """The SPOS supernet searched under a 2-replica MirroredStrategy (the same global batches) rates
    the sample as the one-device supernet does, up to per-replica BatchNorm statistics."""
    args = ("--space=nb201", "--scorer=spos", "--num_cells=5", "--channels=4", "--layers=1", "--image_size=8",
            "--batch_size=32", "--supernet_epochs=1", "--supernet_train_examples=128", "--val_examples=64")
    one = _run(data_dir, *args[1:], "--strategy=one_device", f"--workdir={tmp_path / 'one'}")
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_launch_on_logical_cpus("rank", *args, "--strategy=mirrored", f"--workdir={tmp_path / 'two'}",
                                     data_dir=data_dir, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    assert json.loads(two.stdout.strip().splitlines()[-1])["replicas"] == 2
    logs = {k: json.loads((tmp_path / k / "spos_supernet" / "history.json").read_text())["epochs"][-1]["logs"]
            for k in ("one", "two")}
    assert abs(logs["two"]["loss"] - logs["one"]["loss"]) < 0.05
    scores = {k: [c["score"] for c in json.loads((tmp_path / k / "spos_scores.json").read_text())["cells"]]
              for k in ("one", "two")}
    assert max(abs(a - b) for a, b in zip(scores["one"], scores["two"])) <= 10.0  # accuracy points, 64 images
    assert (tmp_path / "two" / "spos_scores.json").exists() and (tmp_path / "two" / "spos_scatter.png").exists()
