"""Tests for launch/bench.py (the input_pipeline sub-command), with flagsaver."""

from __future__ import annotations

import json

import pytest
from absl import app
from absl.testing import flagsaver

from launch import bench


@pytest.fixture(autouse=True, scope="module")
def _parse_flags():
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS(["bench"])


def test_input_pipeline_prints_one_json_line(capsys):
    with flagsaver.flagsaver(dataset="digits", batch_size=32, num_batches=5, warmup_batches=1):
        bench.main(["bench", "input_pipeline"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert result["dataset"] == "digits" and result["batch_size"] == 32 and result["augment"] is True
    assert result["images_per_second"] > 0


def test_unknown_subcommand():
    with pytest.raises(app.UsageError, match="input_pipeline"):
        bench.main(["bench", "nope"])
