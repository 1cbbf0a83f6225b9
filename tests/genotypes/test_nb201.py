"""NB201Genotype: the benchmark's strings, UniqueString, iso keys and index order."""

from __future__ import annotations

import collections
import csv

import pytest

from tfnas.genotypes import codec
from tfnas.genotypes.nb201 import NB201Genotype, all_nb201_genotypes
from tfnas.spaces import nb201 as nb201_space

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def table(data_dir):
    with open(data_dir / "nb201" / "nats_bench_tss_200ep.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_round_trip_and_structure():
    g = NB201Genotype.from_string(BEST)
    assert g.to_string() == BEST
    assert g.ops == ("nor_conv_3x3",) * 3 + ("skip_connect", "nor_conv_3x3", "nor_conv_3x3")
    assert g.nodes[2] == (("skip_connect", 0), ("nor_conv_3x3", 1), ("nor_conv_3x3", 2))
    assert NB201Genotype.from_dict(g.to_dict()) == g
    assert codec.parse(BEST) == g
    assert codec.parse(g.to_json()) == g
    assert g.to_dict()["edges"][3] == {"from": 0, "to": 3, "op": "skip_connect"}


def test_all_table_strings_round_trip_exactly(table):
    assert len(table) == nb201_space.NUM_CELLS == 15625
    for row in table:
        text = row["ArchitectureString"]
        assert NB201Genotype.from_string(text).to_string() == text


def test_index_order_matches_the_table(table):
    genotypes = all_nb201_genotypes()
    assert len(set(genotypes)) == 15625
    assert [g.to_string() for g in genotypes] == [row["ArchitectureString"] for row in table]


def test_unique_str_reproduces_the_unique_string_column(table):
    keys = set()
    for row in table:
        g = NB201Genotype.from_string(row["ArchitectureString"])
        assert g.unique_str() == row["UniqueString"]
        keys.add(g.unique_str())
    assert len(keys) == 6466  # the paper's count of unique cells


def test_iso_key_refines_unique_str(table):
    classes = collections.defaultdict(set)
    for row in table:
        classes[row["UniqueString"]].add(NB201Genotype.from_string(row["ArchitectureString"]).iso_key())
    assert all(len(keys) == 1 for keys in classes.values())
    assert len({k for keys in classes.values() for k in keys}) == 5390


def test_iso_key_invariant_under_node_relabelling():
    # Nodes 1 and 2 are independent (edge 1->2 is none): swapping them is an isomorphism.
    a = NB201Genotype(("nor_conv_1x1", "nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_3x3"))
    b = NB201Genotype(("nor_conv_3x3", "nor_conv_1x1", "none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3"))
    assert a != b
    assert a.iso_key() == b.iso_key()
    assert a.unique_str() != b.unique_str()  # the authors' key keeps the zero term


def test_iso_key_ignores_dead_edges_and_separates_functions():
    # Output fed by node 0 only; what nodes 1 and 2 compute cannot reach it.
    a = NB201Genotype(("nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3", "none", "none"))
    b = NB201Genotype(("skip_connect", "none", "none", "nor_conv_3x3", "none", "none"))
    assert a.iso_key() == b.iso_key() == "(0)@nor_conv_3x3"
    assert NB201Genotype(("none",) * 6).iso_key() == "#"
    c = NB201Genotype(("nor_conv_1x1", "none", "none", "nor_conv_3x3", "none", "none"))
    assert c.iso_key() == b.iso_key()
    d = NB201Genotype(("nor_conv_1x1", "none", "none", "nor_conv_3x3", "skip_connect", "none"))
    assert d.iso_key() != c.iso_key()


@pytest.mark.parametrize(
    "text, message",
    [
        (BEST.replace("nor_conv_3x3~0|+", "conv_5x5~0|+", 1), "Unknown NAS-Bench-201 op 'conv_5x5'"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 '\\+'-separated nodes"),
        (BEST.replace("|skip_connect~0|", "|skip_connect~1|"), "must come from node 0"),
        (BEST.replace("|nor_conv_3x3~0|nor_conv_3x3~1|", "|nor_conv_3x3~0|"), "must have 2 incoming edges"),
        (BEST.replace("nor_conv_3x3~0|+", "nor_conv_3x3|+", 1), "must look like 'op~input'"),
        ("nor_conv_3x3~0+a+b", "must look like"),
    ],
)
def test_invalid_strings_raise_useful_errors(text, message):
    with pytest.raises(ValueError, match=message):
        NB201Genotype.from_string(text)


def test_invalid_constructor_arguments():
    with pytest.raises(ValueError, match="6 edges"):
        NB201Genotype(("none",) * 5)
    with pytest.raises(ValueError, match="on edge 2->3"):
        NB201Genotype(("none",) * 5 + ("sep_conv_3x3",))
    with pytest.raises(ValueError, match="sequence of 6 op names"):
        NB201Genotype("none")


def test_looks_like_distinguishes_spaces():
    assert NB201Genotype.looks_like(BEST)
    assert not NB201Genotype.looks_like("normal=|sep_conv_3x3~0|sep_conv_3x3~1|;reduce=|x~0|x~1|")
