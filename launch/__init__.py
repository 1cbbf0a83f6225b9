"""The absl apps. Importing the package first chooses TensorFlow's CPU kernel library
(oneDNN or Eigen) by a measured, cached probe, before any script imports TensorFlow:
see `tfnas.runtime.choose_kernel_library` (`TFNAS_KERNEL_LIBRARY` overrides it)."""

from tfnas import runtime as _runtime

_runtime.choose_kernel_library()
