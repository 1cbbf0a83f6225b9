"""Test configuration: quiet TensorFlow, deterministic seeds, the shared data location."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The allocator `launch.bench search_step` selects for its tensor-memory figure; chosen
# before TensorFlow starts so that the in-process bench tests can read it.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
# Tests run on TensorFlow's default kernel library for this CPU (the Makefile runs the kernel
# tests again on the other one); launch scripts started by tests inherit this and skip the
# kernel-library probe (`tfnas.runtime.choose_kernel_library`), which has its own tests.
os.environ.setdefault("TFNAS_KERNEL_LIBRARY", "default")
# Kernels with several formulations run their first one (no timing, the same graph on every
# run); the gradient checks run each formulation, tests/supernets/test_kernel_choice.py the
# measurement (`tfnas.supernets.kernel_choice`).
os.environ.setdefault("TFNAS_KERNEL_FORM", "first")

import pathlib

import pytest

from tfnas import runtime

# The compile settings every launch script's main applies (one Grappler pass, ...), set
# before any test compiles a function: see tfnas/runtime.py.
runtime.configure()

_DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    """The shared data folder (`TFNAS_DATA_DIR`, else ../shared/data). Fails, never skips, when absent."""
    path = pathlib.Path(os.environ.get("TFNAS_DATA_DIR", _DEFAULT_DATA))
    if not path.is_dir():
        pytest.fail(
            f"Shared data folder {path} not found: set TFNAS_DATA_DIR to the folder holding "
            "cifar10/ and nb201/ (CI has it at ../shared/data)."
        )
    return path


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    """Runs the modules with the most `slow` tests first, each module's tests together and in
    their own order. Under `pytest -n 2` the long tests then start early and the tests left to
    share out at the end are short ones, so the two workers finish together (in file order a
    long launch test could start last and run alone for minutes)."""
    modules: dict[str, list] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)

    def slow_count(path: str) -> int:
        return sum(1 for item in modules[path] if item.get_closest_marker("slow") is not None)

    order = sorted(modules, key=slow_count, reverse=True)  # stable: file order among equals
    items[:] = [item for path in order for item in modules[path]]


def pytest_report_header(config):
    """The CPU and TensorFlow kernel library the run is on, at the top of every test log: the
    kernels TensorFlow and oneDNN pick depend on both."""
    where = runtime.machine()
    cpu = f"tfnas: CPU {where['cpu']}; {' '.join(where['cpu_vector_extensions']) or 'flags unknown'}"
    if os.environ.get("QEMU_CPU"):  # `make test-emulated-avx2`: /proc/cpuinfo is the host's
        cpu += f" (host; emulated by QEMU as {os.environ['QEMU_CPU']}, see oneDNN's isa line)"
    return [cpu, f"tfnas: TensorFlow kernel library {where['kernel_library']}"]
