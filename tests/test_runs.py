"""Tests of the run helpers shared by child training, search and evaluation (tfnas.runs)."""

import json
import os

import numpy as np
import pytest

from tfnas.runs import check_run_config, jsonable, write_json


def test_write_json_turns_numpy_into_json_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "x.json"
    write_json(str(path), {"a": np.arange(3), "b": np.float32(0.5), 1: (np.int64(2),)})
    assert json.loads(path.read_text()) == {"a": [0, 1, 2], "b": 0.5, "1": [2]}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert jsonable([np.ones(2)]) == [[1.0, 1.0]]


def test_check_run_config_writes_then_accepts_the_same_config(tmp_path):
    workdir = tmp_path / "run"
    config = {"search": {"epochs": 3, "seed": 0}, "space": "nb201"}
    check_run_config(str(workdir), config)
    assert json.loads((workdir / "config.json").read_text()) == config
    check_run_config(str(workdir), dict(config))  # a resume with the same settings


def test_check_run_config_names_every_field_that_differs(tmp_path):
    check_run_config(str(tmp_path), {"search": {"epochs": 3, "seed": 0}, "space": "nb201"})
    with pytest.raises(ValueError, match=r"holds a search with a different config \(search.epochs: 3 -> 4; space: 'nb201' -> 'darts'\)"):
        check_run_config(str(tmp_path), {"search": {"epochs": 4, "seed": 0}, "space": "darts"}, what="search")


def test_check_run_config_reports_an_unreadable_file(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable config.json"):
        check_run_config(str(tmp_path), {"a": 1})


class _Resolver:
    def __init__(self, cluster, task_type, task_id):
        self._cluster, self.task_type, self.task_id = cluster, task_type, task_id

    def cluster_spec(self):
        import tensorflow as tf

        return tf.train.ClusterSpec(self._cluster)


class _Strategy:
    def __init__(self, cluster, task_type, task_id):
        self.cluster_resolver = _Resolver(cluster, task_type, task_id)


@pytest.mark.parametrize(
    "cluster, task_type, task_id, chief, subdir",
    [
        ({"worker": ["a:1", "b:1"]}, "worker", 0, True, None),
        ({"worker": ["a:1", "b:1"]}, "worker", 1, False, "worker-1"),
        ({"chief": ["c:1"], "worker": ["a:1"]}, "chief", 0, True, None),
        ({"chief": ["c:1"], "worker": ["a:1"]}, "worker", 0, False, "worker-0"),
    ],
)
def test_only_the_chief_writes_into_the_workdir(cluster, task_type, task_id, chief, subdir):
    from tfnas.runs import is_chief, task_workdir

    strategy = _Strategy(cluster, task_type, task_id)
    assert is_chief(strategy) is chief
    assert task_workdir("w", strategy) == ("w" if subdir is None else f"w/{subdir}")
    assert is_chief(None) and task_workdir("w") == "w"


def test_make_strategy_refuses_unknown_names_and_bad_tf_config(monkeypatch):
    from tfnas.runs import make_strategy

    with pytest.raises(ValueError, match="one of auto, one_device, mirrored, multi_worker"):
        make_strategy("tpu")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        make_strategy("auto")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match="lacks them"):
        make_strategy("multi_worker")
    assert make_strategy("one_device").num_replicas_in_sync == 1


def test_result_log_keeps_each_line_and_reads_back_only_its_settings(tmp_path):
    from tfnas.runs import ResultLog

    path = str(tmp_path / "sub" / "results.jsonl")
    log = ResultLog(path, {"seed": np.int64(0)})
    assert log.read() == {}  # no file yet
    log.append("a", score=np.float32(1.5), seconds=2.0)
    log.append("b", score=float("-inf"), seconds=1.0)  # a degenerate score survives the round trip
    log.append("a", score=3.0, seconds=4.0)  # the last line of a cell wins
    ResultLog(path, {"seed": 1}).append("c", score=5.0, seconds=6.0)
    read = ResultLog(path, {"seed": 0}).read()
    assert set(read) == {"a", "b"} and read["a"]["score"] == 3.0 and read["b"]["score"] == float("-inf")
    assert set(ResultLog(path, {"seed": 1}).read()) == {"c"}
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"cell": "d", "score": 1.0')  # a line cut short
    with pytest.raises(ValueError, match="line 5, is not a result line"):
        log.read()


def test_loop_checkpoint_restores_objects_and_state_and_refuses_corrupt_files(tmp_path):
    import tensorflow as tf

    from tfnas.runs import CorruptCheckpointError, LoopCheckpoint

    variable = tf.Variable([1.0, 2.0])
    loop = LoopCheckpoint(str(tmp_path / "ck"), variable=variable)
    assert loop.restore() is None
    loop.save({"epoch": 1})
    variable.assign([5.0, 6.0])
    loop.save({"epoch": 2})
    variable.assign([0.0, 0.0])
    again = LoopCheckpoint(str(tmp_path / "ck"), variable=variable)
    assert again.restore() == {"epoch": 2}
    assert variable.numpy().tolist() == [5.0, 6.0]
    data = [f for f in os.listdir(tmp_path / "ck") if ".data-" in f][0]
    with open(tmp_path / "ck" / data, "r+b") as f:
        f.seek(0)
        f.write(b"garbage")
    with pytest.raises(CorruptCheckpointError, match="missing or corrupt.*Delete"):
        LoopCheckpoint(str(tmp_path / "ck"), variable=variable).restore()
    (tmp_path / "ck" / "loop_state.json").write_text("{not json")
    with pytest.raises(CorruptCheckpointError, match="unreadable"):
        LoopCheckpoint(str(tmp_path / "ck"), variable=variable).restore()
