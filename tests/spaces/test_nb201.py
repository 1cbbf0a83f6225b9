"""The NB201 sub-space check shared by supernets, strategies and AutoSpace."""

import pytest

from tfnas.spaces import nb201


def test_canonical_edge_ops_orders_each_edge_as_the_space():
    rows = nb201.canonical_edge_ops([["nor_conv_3x3", "none"]] + [["skip_connect"]] * 5)
    assert rows[0] == ("none", "nor_conv_3x3") and rows[1:] == (("skip_connect",),) * 5


@pytest.mark.parametrize("edge_ops, match", [
    ([["none"]] * 5, "edge_ops needs 6"),
    ("none", "edge_ops needs 6"),
    ([["none"]] * 5 + [[]], "edge_ops\\[5\\] must be a non-empty"),
    ([["none"]] * 5 + ["none"], "edge_ops\\[5\\] must be a non-empty"),
    ([["conv_9x9"]] + [["none"]] * 5, "edge_ops\\[0\\] must list distinct ops"),
    ([["none", "none"]] + [["none"]] * 5, "edge_ops\\[0\\] must list distinct ops"),
])
def test_canonical_edge_ops_names_what_is_wrong(edge_ops, match):
    with pytest.raises(ValueError, match=match):
        nb201.canonical_edge_ops(edge_ops)
