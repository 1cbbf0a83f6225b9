"""`python -m launch.dna` end to end at tiny size on the embedded digits, and its errors."""

from __future__ import annotations

import json

from tests.helpers import error_line, run_launch

_TINY = ["--dataset=digits", "--image_size=8", "--teacher_epochs=1", "--student_epochs=1", "--train_examples=128",
         "--val_examples=64", "--batch_size=32",
         "--skeleton=stem=8;blocks=ir_r1_k3_s1_e6_c8|ir_r2_k3_s2_e6_c16;head=16;act=relu6",
         "--teacher=stem=8;blocks=ir_r2_k5_s1_e6_c8|ir_r2_k5_s2_e6_c16;head=16;act=relu6"]


def test_search_and_compare_print_the_contract_and_a_rerun_resumes(tmp_path):
    args = [f"--workdir={tmp_path}", *_TINY, "--compare", "--test_examples=64", "--strategy=one_device"]
    done = run_launch("dna", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    search = summary["search"]
    assert search["children_rated"] == 49 and search["madds"] <= search["budget_madds"]
    assert set(summary["compare"]) == {"dna", "reference", "teacher"}
    assert summary["compare"]["dna"]["genotype"] == search["genotype"]
    assert summary["compare"]["reference"]["madds"] == search["budget_madds"]
    for key in ("teacher_heldout_accuracy", "training_seconds", "config", "cpu", "cpu_vector_extensions",
                "kernel_library"):
        assert key in summary
    again = run_launch("dna", f"--workdir={tmp_path}", *_TINY)  # teacher, students and ratings resumed
    assert again.returncode == 0, again.stderr[-3000:]
    assert "DNA teacher:" not in again.stdout and "children rated" not in again.stdout
    assert json.loads(again.stdout.strip().splitlines()[-1])["search"] == search


def test_a_teacher_that_does_not_fit_the_skeleton_is_a_clear_error(tmp_path):
    done = run_launch("dna", f"--workdir={tmp_path}", *_TINY, "--teacher=stem=8;blocks=ir_r2_k5_s1_e6_c12;head=16")
    assert done.returncode == 2
    assert "must be the skeleton's" in error_line(done.stderr)
