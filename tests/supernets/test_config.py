"""Tests for SupernetConfig: validation and the dict round trip."""

from __future__ import annotations

import json

import pytest

from tfnas.supernets import SupernetConfig


def test_round_trip_through_json():
    config = SupernetConfig(space="darts", channels=8, layers=3, input_shape=(16, 16, 3),
                            partial_channels=2, edge_normalization=True, seed=3)
    data = json.loads(json.dumps(config.to_dict()))
    assert SupernetConfig.from_dict(data) == config


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"space": "nope"}, "space"),
        ({"mixing": "hard"}, "mixing"),
        ({"channels": -1}, "channels=-1"),
        ({"channels": 6, "partial_channels": 4}, "partial_channels"),
        ({"mixing": "gumbel", "aux_skip": True}, "aux_skip"),
        ({"mixing": "gumbel", "partial_channels": 2}, "partial_channels"),
        ({"space": "nb201", "mixing": "rome"}, "rome"),
        ({"input_shape": (30, 30, 3)}, "multiples of 4"),
        ({"layers": 2}, "layers"),
    ],
)
def test_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SupernetConfig(**kwargs)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="bogus"):
        SupernetConfig.from_dict({"bogus": 1})
