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
LARGE_SCALE := imagenet-lt places-lt mini-imagenet-lt inat2018

.PHONY: setup test test-ui reproduce bench lab clean refresh-references data

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

## make test-ui: the explorer notebook run in JupyterLab in headless Chromium (Debian's chromium and
## chromium-driver; nothing downloads a browser). Screenshots: tests/ui/output/ (UI_TEST_OUTPUT=...).
test-ui: $(STAMP)
	@for tool in chromium chromedriver; do command -v $$tool >/dev/null || { echo "make test-ui:" \
		"$$tool not found; install it with: apt-get install -y chromium chromium-driver" >&2; exit 1; }; done
	@$(BIN)/python -c "import selenium" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,ui]'
	IMBALANCE_UI_TESTS=1 MPLBACKEND=agg $(BIN)/python -m pytest tests/ui

## make data: real CIFAR in DATA_DIR. Uses the lossless copy beside the project when present;
## otherwise the notebooks download it with torchvision (md5-checked) on first use. Large-scale
## profiles read their own images from DATA_DIR, so nothing is unpacked there.
data:
	@if [ -z "$(filter $(PROFILE),$(LARGE_SCALE))" ] && [ ! -d "$(DATA_DIR)/cifar-10-batches-py" ] \
		&& [ -f "$(SHARED_CIFAR)" ]; then \
		$(PYTHON) $(SHARED_CIFAR) "$(DATA_DIR)"; fi

## make reproduce [PROFILE=quick|smoke|full]: run every notebook of the profile into results/PROFILE.
## Large-scale benchmarks (notebook 07): PROFILE=imagenet-lt|places-lt|mini-imagenet-lt|inat2018 with
## DATA_DIR = the image root holding the split files (iNaturalist: its json files).
reproduce: $(STAMP) data
	$(BIN)/python -m imbalance_baselines.reproduce --profile $(PROFILE) --data-dir "$(DATA_DIR)" --kernel $(KERNEL)

## make bench [BENCH_ARGS="--threads 1 --part engine"]: the engine against a peers'-style CIFAR
## loader, and the JPEG pipeline against an ImageFolder + DataLoader reference (2 workers); ratios
## measured in the same run, on generated data.
bench: $(STAMP)
	$(BIN)/python -m imbalance_baselines.bench $(BENCH_ARGS)

## make lab [LAB_ARGS=...]: JupyterLab on the notebooks; new notebooks get the project's kernel.
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --MultiKernelManager.default_kernel_name=$(KERNEL) $(LAB_ARGS)

refresh-references: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m imbalance_baselines.reproduce --refresh-references --kernel $(KERNEL)

clean:
	rm -rf $(VENV) results/smoke results/explore-smoke tests/ui/output .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
