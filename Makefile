# The two set-up commands: `make quickstart` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

export TF_CPP_MIN_LOG_LEVEL ?= 2
export TFNAS_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: quickstart test test-fast gpu clean

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
	$(PY) -m pytest -q -n 2 --timeout=900 --durations=150 tests
	TF_ENABLE_ONEDNN_OPTS=$$($(PY) -c "from tfnas import runtime; print(int(runtime.kernel_library() == 'eigen'))") \
	  $(PY) -m pytest -q -n 2 --timeout=900 $(KERNEL_TESTS)
	if $(PY) -c "import sys; from tfnas import runtime; sys.exit('avx512f' not in runtime.cpu_vector_extensions())"; then \
	  ONEDNN_MAX_CPU_ISA=AVX2 TF_ENABLE_ONEDNN_OPTS=1 $(PY) -m pytest -q -n 2 --timeout=900 $(KERNEL_TESTS); fi

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
