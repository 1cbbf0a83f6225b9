# The two set-up commands: `make quickstart` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

export TF_CPP_MIN_LOG_LEVEL ?= 2
export TFNAS_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: quickstart test test-fast test-emulated-avx2 gpu clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

quickstart: $(STAMP)
	$(PY) -m launch.quickstart --workdir=runs/quickstart

# The kernel tests run twice: with TensorFlow's default CPU kernels, and again with the
# other kernel library (oneDNN is TF's default only on CPUs with AVX-512 VNNI/BF16 or AMX;
# TF_ENABLE_ONEDNN_OPTS=0 turns it off, =1 on), so Eigen and oneDNN are both covered on
# whatever CPU runs CI.
KERNEL_TESTS := tests/supernets tests/tf_bugs

# On a CPU with AVX-512 a third pass runs them with oneDNN held to its AVX2 kernels
# (ONEDNN_MAX_CPU_ISA=AVX2: oneDNN's own dispatch switch): the oneDNN code path of AVX2-only
# machines (the rest of TensorFlow is compiled code, the same on both).
test: $(STAMP)
	$(PY) -m pytest -n 2 --timeout=900 --durations=150 tests
	TF_ENABLE_ONEDNN_OPTS=$$($(PY) -c "from tfnas import runtime; print(int(runtime.kernel_library() == 'eigen'))") \
	  $(PY) -m pytest -n 2 --timeout=900 $(KERNEL_TESTS)
	if $(PY) -c "import sys; from tfnas import runtime; sys.exit('avx512f' not in runtime.cpu_vector_extensions())"; then \
	  ONEDNN_MAX_CPU_ISA=AVX2 TF_ENABLE_ONEDNN_OPTS=1 $(PY) -m pytest -n 2 --timeout=900 $(KERNEL_TESTS); fi

# Tests on an emulated AVX2-only CPU, for a machine with AVX-512: QEMU's user-mode emulator
# (Debian/Ubuntu package qemu-user) runs Python under the CPUID of an AMD EPYC Milan (AVX2
# and FMA, no AVX-512), so TensorFlow, oneDNN, LiteRT and ONNX Runtime pick the kernels they
# pick on such a CPU. `python-emu` is this venv's Python behind the emulator; processes it
# starts (xdist workers, launch scripts) are emulated too. The kernel tests run twice, with
# TensorFlow's default there (Eigen) and with oneDNN, then the export tests; about seven times
# slower than native. It first prints oneDNN's own reading of the CPU (its `isa:` line).
EMULATED_CPU ?= EPYC-Milan
EMULATED_TESTS ?= tests/export tests/applications
test-emulated-avx2: $(STAMP)
	@command -v qemu-x86_64 >/dev/null 2>&1 || { echo "error: qemu-x86_64 not found; install QEMU's user-mode emulator (apt-get install qemu-user)"; exit 1; }
	printf '#!/bin/sh\nexec qemu-x86_64 -0 "$$0" "$$(dirname "$$0")/python" "$$@"\n' > $(VENV)/bin/python-emu
	chmod +x $(VENV)/bin/python-emu
	QEMU_CPU=$(EMULATED_CPU) TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_VERBOSE=1 $(VENV)/bin/python-emu -c \
	  "import tensorflow as tf; tf.matmul(tf.ones((64, 64)), tf.ones((64, 64))).numpy()" 2>&1 | grep -m1 "isa:"
	for onednn in 0 1; do \
	  QEMU_CPU=$(EMULATED_CPU) TF_ENABLE_ONEDNN_OPTS=$$onednn $(VENV)/bin/python-emu -m pytest -n 2 \
	    --timeout=3600 $(KERNEL_TESTS) || exit 1; \
	done
	QEMU_CPU=$(EMULATED_CPU) $(VENV)/bin/python-emu -m pytest -n 2 --timeout=3600 $(EMULATED_TESTS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

# A GPU box: the CUDA build of the same TensorFlow in place of the CPU build (one TensorFlow,
# not two: tensorflow-cpu and tensorflow both install the `tensorflow` package).
gpu: | $(PY)
	$(PY) -m pip install --quiet -e .
	$(PY) -m pip uninstall --quiet -y tensorflow-cpu
	$(PY) -m pip install --quiet 'tensorflow[and-cuda]==2.21.0'

clean:
	rm -rf $(VENV) runs .pytest_cache
