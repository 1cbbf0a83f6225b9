"""tfnas.applications: the model zoo, consumed like `keras.applications`.

Functions per architecture (`DARTS_V2(include_top=True, weights=None, input_tensor=None,
input_shape=None, pooling=None, classes=None, classifier_activation="softmax")`, ...) and a
timm-style factory, `create_model("arch.tag")` / `list_models()`. Weights trained here ship
inside the package as float16 `.npz` files with a JSON card each (training command, measured
test accuracy, sha256); a file whose sha256 differs from its card raises
`WeightsIntegrityError`.

Example:
>>> from tfnas import applications
>>> applications.list_models(pretrained=True)  # doctest: +SKIP
['darts_v2.c16_l8_cifar10', ...]
>>> model = applications.create_model("darts_v2.c16_l8_cifar10")  # doctest: +SKIP
"""

from tfnas.applications.darts import DARTS_MINUS, DARTS_V1, DARTS_V2, GDAS, PC_DARTS
from tfnas.applications.mobile import (
    EfficientNetB0,
    FBNetC,
    MnasNetA1,
    MobileNetV2,
    ProxylessNASMobile,
)
from tfnas.applications.weights import (
    WeightsIntegrityError,
    load_weights_npz,
    save_weights_npz,
    sha256_file,
)
from tfnas.applications.zoo import (
    ARCHITECTURES,
    WEIGHTS,
    architecture_genotype,
    build_zoo_model,
    create_model,
    list_models,
    weights_card,
)

__all__ = [
    "ARCHITECTURES",
    "DARTS_V1",
    "DARTS_V2",
    "GDAS",
    "PC_DARTS",
    "DARTS_MINUS",
    "WEIGHTS",
    "EfficientNetB0",
    "FBNetC",
    "MnasNetA1",
    "MobileNetV2",
    "ProxylessNASMobile",
    "WeightsIntegrityError",
    "architecture_genotype",
    "build_zoo_model",
    "create_model",
    "list_models",
    "load_weights_npz",
    "save_weights_npz",
    "sha256_file",
    "weights_card",
]
