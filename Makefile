# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-slow test-gpu lint typecheck imports bench docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[ray,ai,dedup,iceberg,lance,jpeg,dev,docs]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check python tests benchmarks examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy

imports: $(STAMP)
	$(VENV)/bin/lint-imports

test: lint typecheck imports
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q -n 2 --timeout=600 --durations=15

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q -m slow --timeout=3600

# Real CuPy/vLLM/CUDA-torch tests (skipped without a GPU). vLLM pins its own torch: run this
# from the GPU environment described in docs/guide/gpu.md, e.g. `make test-gpu VENV=.venv-gpu`.
test-gpu:
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH=python $(PY) -m pytest -q -m gpu -n 0 tests/gpu -rs

demo: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) examples/curate.py

# Peers that pin other versions (daft 0.7 wants pyarrow < 26) live in their own venv; the harness
# runs their workers with that interpreter (THRESHER_BENCH_PYTHON_DAFT) and marks them "not
# installed" when it is absent. `make bench` never changes the project's venv.
# `make bench` runs every benchmark at the published sizes (hours on 2 cores) and regenerates
# docs/benchmarks.md from benchmarks/results/; `make bench BENCH_SCALE=quick` runs the quick sizes
# (67 min on a 2-core machine shared with other jobs at load average 25-65; map_pipeline 17 min of it). The page names the command that produced it.
PEERS := .venv-peers
BENCH_SCALE ?= full
BENCH_FLAGS := $(if $(filter full,$(BENCH_SCALE)),--full,$(if $(filter quick,$(BENCH_SCALE)),,$(error BENCH_SCALE must be full or quick)))

bench: $(STAMP)
	# torch pinned (CPU wheel) for the map-pipeline peer; av/simplejpeg/psutil for the media peers and RSS
	test -x $(PEERS)/bin/python || ($(PYTHON) -m venv $(PEERS) && $(PEERS)/bin/python -m pip install -q torch==2.13.0 \
		&& $(PEERS)/bin/python -m pip install -q 'daft==0.7.26' pillow psutil av simplejpeg numpy) \
		|| echo 'peer venv $(PEERS) could not be built: Daft rows will read "not installed"'
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 THRESHER_BENCH_PYTHON_DAFT=$(abspath $(PEERS))/bin/python \
		THRESHER_BENCH_COMMAND='make bench$(if $(filter quick,$(BENCH_SCALE)), BENCH_SCALE=quick,)' \
		$(PY) -m benchmarks all $(BENCH_FLAGS)

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) build dist site .pytest_cache .mypy_cache .ruff_cache
