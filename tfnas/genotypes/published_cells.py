"""Published cell genotypes (DARTS space, and NAS-Bench-201's ResNet cell), registered in
`tfnas.genotypes.codec.PUBLISHED`.

Each is transcribed from the authors' released `genotypes.py`:

- `darts_v1`: DARTS first order, quark0/darts `cnn/genotypes.py` `DARTS_V1`.
- `darts_v2`: DARTS second order, quark0/darts `DARTS_V2` (the paper's CIFAR-10 cell,
  2.76% error, 3.3M parameters; `DARTS = DARTS_V2` in the reference).
- `pc_darts`: PC-DARTS, yuhuixu1993/PC-DARTS `genotypes.py` `PC_DARTS_cifar` (the
  reference's `PCDARTS` alias; searched on CIFAR-10, 2.57% error).
- `gdas`: GDAS, D-X-Y/AutoDL-Projects `GDAS_V1` (`lib/nas_infer_model/DXYs/genotypes.py`;
  the authors' own listing, last reduction node `sep_conv_5x5` from inputs 0 and 1; a
  few third-party copies have input 2 for the last edge).
- `darts_minus`: DARTS-, Meituan-AutoML/DARTS- `src/eval/genotypes.py` `cifar10_s0_0`, which
  the listing names `cifar10_s0_best` (the DARTS space, "S0 (S5 in the code)", searched on
  CIFAR-10; the paper's CIFAR-10 table gives DARTS- 3.5M parameters, 97.41 +- 0.08% average
  and 97.5% best test accuracy; `build_child` counts 3,454,318 at 36 channels, 20 cells).
- `nb201_resnet`: the NAS-Bench-201 paper's ResNet cell (two 3x3 convolutions in series
  plus a skip; table CIFAR-10 93.91 at 200 epochs), `tfnas.spaces.nb201.RESNET_CELL`; the
  reference architecture of AutoSpace's NB201 evolution and DNA's teacher.

References:
    - Liu et al., DARTS, arXiv 1806.09055.
    - Xu et al., PC-DARTS, arXiv 1907.05737.
    - Dong & Yang, Searching for A Robust Neural Architecture in Four GPU Hours (GDAS),
      arXiv 1910.04465.
    - Chu et al., DARTS-: Robustly Stepping out of Performance Collapse Without Indicators,
      arXiv 2009.01027.
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326 (the ResNet cell).

Example:
>>> from tfnas.genotypes import codec
>>> codec.load("darts_v2") is DARTS_V2
True
"""

from __future__ import annotations

from tfnas.genotypes.cell import DartsGenotype
from tfnas.genotypes.codec import PUBLISHED
from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.spaces import nb201 as nb201_space

DARTS_V1 = DartsGenotype(
    normal=(
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
        ("skip_connect", 0), ("sep_conv_3x3", 1),
        ("skip_connect", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0), ("skip_connect", 2),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("skip_connect", 2), ("max_pool_3x3", 0),
        ("max_pool_3x3", 0), ("skip_connect", 2),
        ("skip_connect", 2), ("avg_pool_3x3", 0),
    ),
    reduce_concat=(2, 3, 4, 5),
)

DARTS_V2 = DartsGenotype(
    normal=(
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1), ("skip_connect", 0),
        ("skip_connect", 0), ("dil_conv_3x3", 2),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ("max_pool_3x3", 0), ("max_pool_3x3", 1),
        ("skip_connect", 2), ("max_pool_3x3", 1),
        ("max_pool_3x3", 0), ("skip_connect", 2),
        ("skip_connect", 2), ("max_pool_3x3", 1),
    ),
    reduce_concat=(2, 3, 4, 5),
)

PC_DARTS = DartsGenotype(
    normal=(
        ("sep_conv_3x3", 1), ("skip_connect", 0),
        ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
        ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
        ("avg_pool_3x3", 0), ("dil_conv_3x3", 1),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ("sep_conv_5x5", 1), ("max_pool_3x3", 0),
        ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 3),
        ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
    ),
    reduce_concat=(2, 3, 4, 5),
)

GDAS = DartsGenotype(
    normal=(
        ("skip_connect", 0), ("skip_connect", 1),
        ("skip_connect", 0), ("sep_conv_5x5", 2),
        ("sep_conv_3x3", 3), ("skip_connect", 0),
        ("sep_conv_5x5", 4), ("sep_conv_3x3", 3),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
        ("sep_conv_5x5", 2), ("sep_conv_5x5", 1),
        ("dil_conv_5x5", 2), ("sep_conv_3x3", 1),
        ("sep_conv_5x5", 0), ("sep_conv_5x5", 1),
    ),
    reduce_concat=(2, 3, 4, 5),
)

DARTS_MINUS = DartsGenotype(
    normal=(
        ("sep_conv_3x3", 0), ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 1), ("dil_conv_3x3", 2),
        ("skip_connect", 1), ("sep_conv_3x3", 0),
        ("skip_connect", 1), ("sep_conv_3x3", 0),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ("sep_conv_3x3", 0), ("max_pool_3x3", 1),
        ("skip_connect", 2), ("max_pool_3x3", 0),
        ("skip_connect", 2), ("skip_connect", 3),
        ("skip_connect", 2), ("skip_connect", 3),
    ),
    reduce_concat=(2, 3, 4, 5),
)

PUBLISHED.register("darts_v1", DARTS_V1)
PUBLISHED.register("darts_v2", DARTS_V2)
PUBLISHED.register("pc_darts", PC_DARTS)
PUBLISHED.register("gdas", GDAS)
PUBLISHED.register("darts_minus", DARTS_MINUS)

NB201_RESNET = NB201Genotype.from_string(nb201_space.RESNET_CELL)
PUBLISHED.register("nb201_resnet", NB201_RESNET)
