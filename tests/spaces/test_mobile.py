"""Tests for the mobile block search space."""

from __future__ import annotations

import dataclasses

import pytest

import tfnas.genotypes.published_blocks as published
from tfnas.genotypes.block import BlockGenotype, BlockSpec
from tfnas.spaces.mobile import (
    DEFAULT_SPACE,
    EXPANSIONS,
    KERNELS,
    SE_RATIOS,
    MobileSpace,
    StageSpec,
    stage_specs,
    validate,
)

ALL = [
    published.MOBILENET_V2,
    published.MNASNET_A1,
    published.PROXYLESSNAS_MOBILE,
    published.FBNET_C,
    published.EFFICIENTNET_B0,
]


def test_default_choices():
    assert KERNELS == (3, 5, 7)
    assert EXPANSIONS == (1, 3, 4, 6)
    assert SE_RATIOS == (0.0, 0.25)
    assert DEFAULT_SPACE.activations == ("relu", "relu6", "swish", "hswish")
    assert DEFAULT_SPACE.allow_zero


@pytest.mark.parametrize("genotype", ALL, ids=lambda g: str(g.stem) + "_" + str(g.head) + "_" + g.act)
def test_published_models_are_in_their_skeleton_with_default_choices(genotype):
    validate(genotype)
    space = MobileSpace.skeleton_of(genotype)
    assert (space.kernels, space.expansions, space.se_ratios) == (KERNELS, EXPANSIONS, SE_RATIOS)
    space.validate(genotype)
    validate(genotype, space)


def test_proxylessnas_mobile_is_in_default_space():
    DEFAULT_SPACE.validate(published.PROXYLESSNAS_MOBILE)


def test_narrower_choices_reject_with_reason():
    space = MobileSpace.skeleton_of(published.PROXYLESSNAS_MOBILE, kernels=(3, 5))
    with pytest.raises(ValueError, match="kernel 7"):
        space.validate(published.PROXYLESSNAS_MOBILE)
    space = MobileSpace.skeleton_of(published.EFFICIENTNET_B0, se_ratios=(0.0,))
    with pytest.raises(ValueError, match="SE ratio 0.25"):
        space.validate(published.EFFICIENTNET_B0)
    space = MobileSpace.skeleton_of(published.FBNET_C, block_types=("ds",))
    with pytest.raises(ValueError, match="block type 'ir'"):
        space.validate(published.FBNET_C)
    space = MobileSpace.skeleton_of(published.PROXYLESSNAS_MOBILE, allow_zero=False)
    with pytest.raises(ValueError, match="zero"):
        space.validate(published.PROXYLESSNAS_MOBILE)
    space = MobileSpace.skeleton_of(published.MOBILENET_V2, activations=("relu",))
    with pytest.raises(ValueError, match="activation 'relu6'"):
        space.validate(published.MOBILENET_V2)


def test_skeleton_mismatches_are_reported():
    with pytest.raises(ValueError, match="width 24, the stage width is 32"):
        DEFAULT_SPACE.validate(published.MNASNET_A1)
    with pytest.raises(ValueError, match="stem=16"):
        DEFAULT_SPACE.validate(published.FBNET_C)
    g = published.PROXYLESSNAS_MOBILE
    too_deep = dataclasses.replace(g, stages=g.stages[:1] + (g.stages[1] + (BlockSpec("zero", 1),),) + g.stages[2:])
    with pytest.raises(ValueError, match="at most 4"):
        DEFAULT_SPACE.validate(too_deep)
    noskip = BlockGenotype.from_string(g.to_string().replace("ir_r1_k3_s1_e3_c32", "ir_r1_k3_s1_e3_c32_noskip"))
    with pytest.raises(ValueError, match="noskip"):
        DEFAULT_SPACE.validate(noskip)


def test_zero_not_allowed_where_shape_changes():
    space = MobileSpace(stem=8, stages=(StageSpec(8, 1, 2), StageSpec(16, 2, 2)), head=0)
    assert BlockSpec("zero", 1) in space.candidates(0, 0)
    assert BlockSpec("zero", 1) not in space.candidates(1, 0)
    assert BlockSpec("zero", 1) in space.candidates(1, 1)
    g = BlockGenotype.from_string("stem=8;blocks=zero_r2|zero_r1,ir_r1_k3_s1_e3_c16;head=0")
    with pytest.raises(ValueError):
        space.validate(g)


def test_candidates_and_size():
    cands = DEFAULT_SPACE.candidates(1, 1)
    # ir: 4 expansions x 3 kernels x 2 SE x 4 acts; ds: 3 x 2 x 4; + zero
    assert len(cands) == 96 + 24 + 1
    assert all(c.stride == 1 for c in cands)
    assert all(c.stride == 2 for c in DEFAULT_SPACE.candidates(1, 0))
    with pytest.raises(ValueError, match="slot"):
        DEFAULT_SPACE.candidates(0, 1)
    with pytest.raises(ValueError, match="stage"):
        DEFAULT_SPACE.candidates(7, 0)
    assert DEFAULT_SPACE.num_architectures() > 10**30


@pytest.mark.parametrize("seed", range(5))
def test_samples_are_valid(seed):
    g = DEFAULT_SPACE.sample(seed=seed)
    DEFAULT_SPACE.validate(g)
    assert BlockGenotype.from_string(g.to_string()) == g


def test_bad_space_arguments():
    with pytest.raises(ValueError, match="stride"):
        StageSpec(16, 3, 1)
    with pytest.raises(ValueError, match="kernels"):
        MobileSpace(stem=8, stages=(StageSpec(8, 1, 1),), kernels=(4,))
    with pytest.raises(ValueError, match="activations"):
        MobileSpace(stem=8, stages=(StageSpec(8, 1, 1),), activations=("gelu",))
    with pytest.raises(ValueError, match="same length"):
        stage_specs([8, 16], [1], [1, 2])
    with pytest.raises(ValueError, match="genotype"):
        validate("stem=8")  # type: ignore[arg-type]
