"""Tests for the mobile block genotype: grammar, canonical string, JSON, validation."""

from __future__ import annotations

import dataclasses
import json

import pytest

import tfnas.genotypes.published_blocks as published
from tfnas.genotypes.block import BlockGenotype, BlockSpec
from tfnas.genotypes.codec import PUBLISHED, load, parse

NAMES = ["mobilenet_v2", "mnasnet_a1", "proxylessnas_mobile", "fbnet_c", "efficientnet_b0"]


@pytest.mark.parametrize("name", NAMES)
def test_published_round_trips(name):
    g = PUBLISHED.get(name)
    assert isinstance(g, BlockGenotype)
    text = g.to_string()
    assert "\n" not in text
    assert BlockGenotype.from_string(text) == g
    assert BlockGenotype.looks_like(text)
    assert BlockGenotype.from_dict(g.to_dict()) == g
    assert BlockGenotype.from_dict(json.loads(g.to_json())) == g
    assert parse(text) == g
    assert parse(g.to_json()) == g
    assert load(name) is g
    assert load(name.upper()) is g
    assert BlockGenotype.from_string(text).to_string() == text


def test_to_dict_has_readable_fields():
    d = published.EFFICIENTNET_B0.to_dict()
    assert d["format"] == "tfnas.mobile_blocks/1"
    assert d["space"] == "mobile"
    assert d["stem"] == 32 and d["head"] == 1280 and d["act"] == "swish"
    assert d["stages"][0] == ["ds_r1_k3_s1_c16_se0.25"]
    assert d["dropout"] == 0.2
    json.dumps(d)


def test_from_dict_rejects_wrong_format():
    d = published.MOBILENET_V2.to_dict()
    d["format"] = "tfnas.mobile_blocks/0"
    with pytest.raises(ValueError, match="format"):
        BlockGenotype.from_dict(d)


def test_block_spec_parsing_any_order_and_canonical():
    spec = BlockSpec.from_string("ir_c40_se0.25_e6_s2_k5_r2_nsw")
    assert spec == BlockSpec("ir", 2, 5, 2, 6, 40, 0.25, "swish")
    assert spec.to_string() == "ir_r2_k5_s2_e6_c40_se0.25_nsw"
    # timm writes EfficientNet's first block with e1; a ds block has no expansion token.
    assert BlockSpec.from_string("ds_r1_k3_s1_e1_c16_se0.25").to_string() == "ds_r1_k3_s1_c16_se0.25"
    assert BlockSpec.from_string("ir_r1_k3_s1_e2.5_c16").expansion == 2.5
    assert BlockSpec.from_string("ir_r1_k3_s1_e2.5_c16").to_string() == "ir_r1_k3_s1_e2.5_c16"
    assert BlockSpec.from_string("zero_r2").to_string() == "zero_r2"
    assert BlockSpec.from_string("cn_r1_k3_s1_c16_skip").skip is True
    assert BlockSpec.from_string("ds_r1_k3_s1_c16_noskip").skip is False
    assert len(BlockSpec.from_string("ir_r3_k3_s2_e6_c24").unrolled()) == 3
    assert [b.stride for b in BlockSpec.from_string("ir_r3_k3_s2_e6_c24").unrolled()] == [2, 1, 1]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("xx_r1_k3_s1_c16", "'xx'"),
        ("ir_r2_k5_s2_e6_c40_nxx", "'nxx'"),
        ("ir_r1_k3_s1_e6_c16_foo", "'foo'"),
        ("ir_r1_k3_s1_e6_c16_a1", "'a1'"),
        ("ir_r1_k3_s1_e6_c16_sex", "'sex'"),
        ("ir_r1_r2_k3_s1_e6_c16", "Duplicate option 'r2'"),
        ("ir_r1_k3_s1_c16", "e<num>"),
        ("ir_k3_s1_e6_c16", "r<int>"),
        ("ir_r1_s1_e6_c16", "k<int>"),
        ("ir_r1_k4_s1_e6_c16", "kernel=4"),
        ("ir_r1_k3_s3_e6_c16", "stride=3"),
        ("ir_r0_k3_s1_e6_c16", "repeats=0"),
        ("ir_r1_k3_s1_e0_c16", "expansion=0"),
        ("ir_r1_k3_s1_e6_c0", "out_channels=0"),
        ("ir_r1_k3_s1_e6_c16_se1.5", "se_ratio=1.5"),
        ("ds_r1_k3_s1_e6_c16", "expansion=6"),
        ("cn_r1_k3_s1_c16_se0.25", "squeeze-excite"),
        ("ir_r1_k3_s1_e6_c16_skip", "'skip'"),
        ("cn_r1_k3_s1_c16_noskip", "noskip"),
        ("zero_r1_k3", "'k3'"),
        ("", "non-empty"),
    ],
)
def test_bad_block_strings_name_the_token(text, fragment):
    with pytest.raises(ValueError) as info:
        BlockSpec.from_string(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("stem=32", "'blocks'"),
        ("blocks=ds_r1_k3_s1_c16", "'stem'"),
        ("stem=x;blocks=ds_r1_k3_s1_c16", "stem='x'"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;head=-1", "head='-1'"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;depth=3", "'depth'"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;stem=16", "Duplicate field 'stem'"),
        ("stem=32;blocks=ds_r1_k3_s1_c16|", "Stage 1"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;act=gelu", "act='gelu'"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;se_base=out", "se_base='out'"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;se_gate=tanh", "se_gate='tanh'"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;se_act=gelu", "se_act='gelu'"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;bn_momentum=1.5", "bn_momentum=1.5"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;bn_eps=abc", "bn_eps='abc'"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;dropout=1.0", "dropout=1.0"),
        ("stem=32;blocks=ds_r1_k3_s1_c16;head", "key=value"),
        ("stem=32;blocks=zero_r2", "at least one block"),
        ("stem=32;blocks=cn_r1_k3_s2_c32_skip", "forces a residual"),
        ("stem=32;blocks=ir_r1_k3_s1_e6_c16_nqq", "'nqq'"),
    ],
)
def test_bad_genotype_strings(text, fragment):
    with pytest.raises(ValueError) as info:
        BlockGenotype.from_string(text)
    assert fragment in str(info.value)


def test_optional_fields_take_defaults():
    g = BlockGenotype.from_string("stem=16;blocks=ds_r1_k3_s1_c8|ir_r2_k5_s2_e6_c16_se0.25")
    assert g.head == 1280 and g.act == "relu" and g.se_base == "in" and g.dropout == 0.0
    assert "head=1280" in g.to_string()


def test_layers_resolve_widths_residuals_and_zero():
    layers = published.PROXYLESSNAS_MOBILE.layers()
    assert len(layers) == 1 + 4 + 4 + 4 + 4 + 4 + 1
    first = layers[0]
    assert (first.in_channels, first.out_channels, first.residual) == (32, 16, False)
    stage1 = [layer for layer in layers if layer.stage == 1]
    assert [layer.spec.block_type for layer in stage1] == ["ir", "ir", "zero", "zero"]
    assert [layer.residual for layer in stage1] == [False, True, False, False]
    assert stage1[2].in_channels == stage1[2].out_channels == 32
    assert stage1[0].mid_channels == 48
    fb = published.FBNET_C.layers()[0]
    assert fb.residual and fb.mid_channels == 16
    assert not published.MNASNET_A1.layers()[0].residual
    assert published.FBNET_C.num_features == 1984


def test_looks_like():
    assert not BlockGenotype.looks_like("|nor_conv_3x3~0|")
    assert not BlockGenotype.looks_like("normal=...;reduce=...")
    assert BlockGenotype.looks_like(" stem=8;blocks=ds_r1_k3_s1_c8")


def test_genotype_is_hashable_and_frozen():
    g = published.MOBILENET_V2
    assert hash(g) == hash(BlockGenotype.from_string(g.to_string()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.stem = 16  # type: ignore[misc]


def test_with_reduction_moves_the_earliest_stride_2_blocks_to_stride_1():
    v2 = published.MOBILENET_V2
    strides = [b.stride for stage in v2.stages for b in stage]
    assert v2.reduction == 32 and strides.count(2) == 4
    cifar = v2.with_reduction(8)
    new = [b.stride for stage in cifar.stages for b in stage]
    changed = [i for i, (a, b) in enumerate(zip(strides, new)) if a != b]
    assert cifar.reduction == 8 and changed == [i for i, s in enumerate(strides) if s == 2][:2]
    assert v2.with_reduction(32) == v2
    assert published.AUTOSPACE_C10_PROXY.reduction == 16  # a zero block has no stride
    for bad in (64, 12, 1, 2.0):
        with pytest.raises(ValueError, match="total must be 32 divided by a power of 2"):
            v2.with_reduction(bad)
