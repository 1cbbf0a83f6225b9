"""DartsGenotype: string/JSON codecs, validation messages, published genotypes."""

from __future__ import annotations

import json

import pytest

from tfnas.genotypes import codec
from tfnas.genotypes.cell import DartsGenotype
from tfnas.genotypes.published_cells import DARTS_MINUS, DARTS_V1, DARTS_V2, GDAS, PC_DARTS
from tfnas.spaces import darts as darts_space

V2_STRING = (
    "normal=|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|"
    "+|sep_conv_3x3~1|skip_connect~0|+|skip_connect~0|dil_conv_3x3~2|;"
    "reduce=|max_pool_3x3~0|max_pool_3x3~1|+|skip_connect~2|max_pool_3x3~1|"
    "+|max_pool_3x3~0|skip_connect~2|+|skip_connect~2|max_pool_3x3~1|"
)


def test_darts_v2_canonical_string():
    assert DARTS_V2.to_string() == V2_STRING
    assert DartsGenotype.from_string(V2_STRING) == DARTS_V2


@pytest.mark.parametrize("genotype", [DARTS_V1, DARTS_V2, PC_DARTS, GDAS, DARTS_MINUS])
def test_published_round_trips(genotype):
    assert DartsGenotype.from_string(genotype.to_string()) == genotype
    assert DartsGenotype.from_dict(genotype.to_dict()) == genotype
    assert codec.parse(genotype.to_json()) == genotype
    assert codec.parse(genotype.to_string()) == genotype
    darts_space.validate(genotype)


def test_published_registry_names():
    for name, genotype in [("darts_v1", DARTS_V1), ("darts_v2", DARTS_V2),
                           ("pc_darts", PC_DARTS), ("gdas", GDAS), ("darts_minus", DARTS_MINUS)]:
        assert codec.load(name) is genotype
    assert codec.load("DARTS-V2") is DARTS_V2


def test_published_values_match_reference_listing():
    # Spot checks against the reference genotypes.py listings.
    assert DARTS_V1.normal[-1] == ("skip_connect", 2)
    assert DARTS_V2.normal[-1] == ("dil_conv_3x3", 2)
    assert PC_DARTS.reduce[0] == ("sep_conv_5x5", 1)
    assert GDAS.reduce[-2:] == (("sep_conv_5x5", 0), ("sep_conv_5x5", 1))
    # Meituan-AutoML/DARTS- cifar10_s0_0 (= cifar10_s0_best): first and last edges of each cell.
    assert DARTS_MINUS.normal[0] == ("sep_conv_3x3", 0) and DARTS_MINUS.normal[-1] == ("sep_conv_3x3", 0)
    assert DARTS_MINUS.reduce[1] == ("max_pool_3x3", 1) and DARTS_MINUS.reduce[-1] == ("skip_connect", 3)


def test_json_has_readable_fields():
    data = json.loads(DARTS_V2.to_json())
    assert data["format"] == "tfnas.darts_cell/1"
    assert data["space"] == "darts"
    assert data["normal"][0] == ["sep_conv_3x3", 0]
    assert data["reduce_concat"] == [2, 3, 4, 5]


def test_lists_and_ranges_are_normalised():
    g = DartsGenotype(
        normal=[list(e) for e in DARTS_V2.normal], reduce=list(DARTS_V2.reduce),
        normal_concat=range(2, 6), reduce_concat=[2, 3, 4, 5],
    )
    assert g == DARTS_V2
    assert hash(g) == hash(DARTS_V2)


def test_non_default_concat_is_written_and_parsed():
    g = DartsGenotype(DARTS_V2.normal, DARTS_V2.reduce, normal_concat=(2, 4, 5))
    text = g.to_string()
    assert text.endswith(";normal_concat=2,4,5")
    assert "reduce_concat" not in text
    assert DartsGenotype.from_string(text) == g


def test_smaller_cells_are_genotypes_but_not_the_standard_space():
    g = DartsGenotype.from_string(
        "normal=|sep_conv_3x3~0|skip_connect~1|;reduce=|max_pool_3x3~0|max_pool_3x3~1|"
    )
    assert g.normal_concat == (2,)
    assert DartsGenotype.from_string(g.to_string()) == g
    with pytest.raises(ValueError, match="4 intermediate nodes"):
        darts_space.validate(g)


@pytest.mark.parametrize(
    "text, message",
    [
        (V2_STRING.replace("sep_conv_3x3~0", "conv_9x9~0", 1), "Unknown DARTS op 'conv_9x9'"),
        (V2_STRING.replace("sep_conv_3x3~0", "none~0", 1), "'none'"),
        (V2_STRING.replace("dil_conv_3x3~2", "dil_conv_3x3~5"), "out of range for normal node 5"),
        (V2_STRING.replace("|sep_conv_3x3~0|sep_conv_3x3~1|+", "|sep_conv_3x3~0|+", 1),
         "has 1 edges, expected 2"),
        (V2_STRING + ";normal_concat=2,3,9", "Bad normal_concat"),
        (V2_STRING + ";normal_concat=3,2", "strictly increasing"),
        (V2_STRING + ";reduce_concat=", "reduce_concat must be"),
        (V2_STRING.split(";")[0], "lacks the 'reduce' cell"),
        (V2_STRING + ";colour=red", "Unknown key 'colour'"),
        (V2_STRING.replace("sep_conv_3x3~0", "sep_conv_3x3-0", 1), "must look like 'op~input'"),
        ("normal=sep_conv_3x3~0;reduce=|max_pool_3x3~0|max_pool_3x3~1|", "must look like"),
    ],
)
def test_invalid_strings_raise_useful_errors(text, message):
    with pytest.raises(ValueError, match=message):
        DartsGenotype.from_string(text)


def test_invalid_constructor_arguments():
    with pytest.raises(ValueError, match="even, non-zero number of edges"):
        DartsGenotype(normal=DARTS_V2.normal[:3], reduce=DARTS_V2.reduce)
    with pytest.raises(ValueError, match="Input index out of range for reduce node 2"):
        DartsGenotype(normal=DARTS_V2.normal, reduce=(("max_pool_3x3", 2),) + DARTS_V2.reduce[1:])
    with pytest.raises(ValueError, match="pair"):
        DartsGenotype(normal="sep_conv_3x3", reduce=DARTS_V2.reduce)


def test_from_dict_checks_format_and_space():
    data = DARTS_V2.to_dict()
    with pytest.raises(ValueError, match="space"):
        DartsGenotype.from_dict({**data, "space": "nb201"})
    with pytest.raises(ValueError, match="format"):
        DartsGenotype.from_dict({**data, "format": "tfnas.darts_cell/0"})


def test_looks_like():
    assert DartsGenotype.looks_like(V2_STRING)
    assert not DartsGenotype.looks_like("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_supernet_edges():
    edges = darts_space.supernet_edges()
    assert len(edges) == 14
    assert edges[:3] == ((2, 0), (2, 1), (3, 0))
