# imbalance-baselines: the two set-up-and-go commands are `make reproduce` and `make test`.
# Each creates .venv and installs the project when needed (idempotent; instant when done).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
PROFILE ?= quick
KERNEL := imbalance-baselines
STAMP := $(VENV)/.installed
SHARED_CIFAR := ../shared/data/unpack_cifar.py

.PHONY: setup test reproduce bench lab clean refresh-references data

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) \
		--display-name "Python (imbalance-baselines)" >/dev/null
	@touch $@

## make test: unit and integration tests plus the nbval notebook regression (synthetic data only).
test: $(STAMP)
	MPLBACKEND=agg $(BIN)/python -m pytest

## make data: real CIFAR in DATA_DIR. Uses the lossless copy beside the project when present;
## otherwise the notebooks download it with torchvision (md5-checked) on first use.
data:
	@if [ ! -d "$(DATA_DIR)/cifar-10-batches-py" ] && [ -f "$(SHARED_CIFAR)" ]; then \
		$(PYTHON) $(SHARED_CIFAR) "$(DATA_DIR)"; fi

## make reproduce [PROFILE=quick|smoke|full]: run every notebook of the profile into results/PROFILE.
reproduce: $(STAMP) data
	$(BIN)/python -m imbalance_baselines.reproduce --profile $(PROFILE) --data-dir "$(DATA_DIR)" --kernel $(KERNEL)

bench: $(STAMP)
	$(BIN)/python -m imbalance_baselines.bench --data-dir "$(DATA_DIR)"

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

refresh-references: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m imbalance_baselines.reproduce --refresh-references --kernel $(KERNEL)

clean:
	rm -rf $(VENV) results/smoke .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
