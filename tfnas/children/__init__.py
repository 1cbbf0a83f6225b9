"""Child networks built from genotypes, and their training recipe.

`build_child(genotype, ...)` is the single entry point; the per-space builders live in
`darts_net`, `nb201_net` and `mobile_net`, the training recipe in `training`.
"""

from tfnas.children.factory import build_child

__all__ = ["build_child"]
