# Every target builds .venv itself, so a fresh clone needs nothing installed by hand. The test and
# bench tools are dependency groups of pyproject.toml (pip >= 25.1 installs them with --group).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py csrc/ccore.c | sha1sum | cut -c1-12)

.PHONY: demo test test-fast test-unit bench validate lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py csrc/ccore.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install -q -e . --group test --group bench
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/collapse-otel demo

# One BLAS thread, as collapse-otel's own processes run (see cli.main): the tests start
# servers beside the test process on two cores, where BLAS threads only spin.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest

# The tests that start nothing heavy (no real Prometheus, serve process, browser or
# simulation), from every folder: minutes, for the edit-test loop; `make test` before a merge.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -m "not slow"

# The fast tests of tests/unit only (in-process: no framework, server or subprocess): the
# quickest loop while editing the core.
test-unit: $(STAMP)
	$(BIN)/ruff check .
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests/unit -m "not slow"

bench: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks

# The decision rule against ground truth on every corpus (docs/verdict.md): prints the
# operating tables, offline (compare) and online (release processes, Prometheus, the
# generated rules); exit 1 when the requirement is not met. Two worker processes.
validate: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.validation

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info
