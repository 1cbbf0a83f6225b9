"""tfnas.algorithms: differentiable architecture search as Keras models with a bilevel step.

`ALGORITHMS` maps the CLI names to the classes: `darts`, `darts2` (second order),
`darts_minus`, `pc_darts`, `gdas`, `rome`, and `spos` (the one-shot supernet's training,
no architecture learned), `magic_t` (SPOS whose adjacent paths differ in one op), `magic_a` (SPOS with
alignment to an anchor child), `magic_at` (both), `spos_distinct` (SPOS over
non-isomorphic NB201 cells), `bnas` (binarized PC-DARTS with operation-space reduction). `build_search(config, space, num_classes,
input_shape, steps_per_epoch=...)` builds supernet + algorithm + optimizers;
`search.callbacks()` gives the schedules the method needs.
"""

from tfnas.algorithms.base import ALGORITHMS, BilevelSearch
from tfnas.algorithms.beta_darts import BetaDarts
from tfnas.algorithms.bnas import Bnas
from tfnas.algorithms.config import SearchConfig
from tfnas.algorithms.darts import Darts, Darts2
from tfnas.algorithms.darts_minus import DartsMinus
from tfnas.algorithms.factory import build_search, make_optimizers
from tfnas.algorithms.gdas import Gdas
from tfnas.algorithms.magic import MagicA, MagicAT, MagicT
from tfnas.algorithms.pc_darts import PCDarts
from tfnas.algorithms.rome import Rome
from tfnas.algorithms.spos import Spos
from tfnas.algorithms.spos_distinct import SposDistinct
from tfnas.algorithms.schedules import ArchWarmup, BetaSchedule, TemperatureSchedule

__all__ = [
    "ALGORITHMS",
    "ArchWarmup",
    "BetaDarts",
    "BetaSchedule",
    "Bnas",
    "BilevelSearch",
    "Darts",
    "Darts2",
    "DartsMinus",
    "Gdas",
    "MagicA",
    "MagicAT",
    "MagicT",
    "PCDarts",
    "Rome",
    "Spos",
    "SposDistinct",
    "SearchConfig",
    "TemperatureSchedule",
    "build_search",
    "make_optimizers",
]
