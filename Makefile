# alearn: `make demo` sets up and runs a real GPAW active-learning campaign;
# `make test` sets up and runs the tests. Both are idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1

.PHONY: setup demo demo-mpi test test-fast lint

setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/alearn run examples/demo/campaign.yaml --workdir $(WORKDIR)
	$(VENV)/bin/alearn status $(WORKDIR)
	$(VENV)/bin/alearn report $(WORKDIR)

demo-mpi: setup
	mpirun -np 2 $(VENV)/bin/alearn run examples/demo/campaign.yaml --workdir $(WORKDIR)-mpi
	$(VENV)/bin/alearn status --wide $(WORKDIR)-mpi

test: setup
	$(VENV)/bin/python -m pytest -p no:cacheprovider -q tests

test-fast: setup
	$(VENV)/bin/python -m pytest -q tests -m "not slow and not gpaw and not mpi"

lint:
	$(VENV)/bin/ruff check alearn calculators protocols tests benchmarks examples
