# imbalance-baselines: the two set-up-and-go commands are `make reproduce` and `make test`.
# Each creates .venv and installs the project when needed (idempotent; instant when done).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
PROFILE ?= quick
# How the profile's run queue trains: 1 this process, N local workers, ray[:address] a Ray cluster, 0 nothing
# (default: the profile's params/<profile>/queue.yaml, else 1). THREADS: torch threads per training process.
JOBS ?=
THREADS ?= 2
KERNEL := imbalance-baselines
STAMP := $(VENV)/.installed
SHARED_CIFAR := ../shared/data/unpack_cifar.py
LARGE_SCALE := imagenet-lt places-lt mini-imagenet-lt inat2018

.PHONY: setup test test-ui reproduce queue status tensorboard bench gpu-check lab clean refresh-references data

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

## make data: real CIFAR in DATA_DIR. Uses the lossless copy beside the project when present; then
## every CIFAR dataset the profile's parameter files name that is still missing comes from its official
## archive (one placed in DATA_DIR, else downloaded; md5-checked), or make stops here (exit 2) with one
## message saying how to provide it. Large-scale profiles read their own images from DATA_DIR and
## smoke uses synthetic data, so nothing is fetched for them. Mirror: IMBALANCE_CIFAR_MIRROR=<base URL>.
data: $(STAMP)
	@if [ -z "$(filter $(PROFILE),$(LARGE_SCALE))" ] && [ ! -d "$(DATA_DIR)/cifar-10-batches-py" ] \
		&& [ -f "$(SHARED_CIFAR)" ]; then \
		$(PYTHON) $(SHARED_CIFAR) "$(DATA_DIR)"; fi
	@$(BIN)/python -m imbalance_baselines.cli.data --data-dir "$(DATA_DIR)" --profile $(PROFILE)

## make reproduce [PROFILE=quick|smoke|full|precision] [JOBS=...]: validate every parameter file of the
## profile, train its run queue (JOBS), then render every notebook from the results store into
## results/PROFILE. Large-scale benchmarks (notebook 07): PROFILE=imagenet-lt|places-lt|mini-imagenet-lt|
## inat2018 with DATA_DIR = the image root holding the split files (iNaturalist: its json files).
reproduce: $(STAMP) data
	$(BIN)/python -m imbalance_baselines.cli.reproduce --profile $(PROFILE) --data-dir "$(DATA_DIR)" \
		--kernel $(KERNEL) --threads $(THREADS) $(if $(JOBS),--jobs $(JOBS))
	$(MAKE) --no-print-directory site

## make queue PROFILE=full [JOBS=1]: train the profile's run queue only (resumable; run it detached with
## nice -n 19 and OMP_WAIT_POLICY=PASSIVE, see README). make status: how far it got.
queue: $(STAMP) data
	$(BIN)/python -m imbalance_baselines.cli.queue --profile $(PROFILE) --data-dir "$(DATA_DIR)" \
		--threads $(THREADS) --jobs $(or $(JOBS),1)

status: $(STAMP)
	@$(BIN)/python -m imbalance_baselines.cli.status --profile $(PROFILE) --data-dir "$(DATA_DIR)"

## make tensorboard: TensorBoard event files for every stored run without them, then how to show them.
tensorboard: $(STAMP)
	@$(BIN)/python -m imbalance_baselines.cli.tensorboard --store results/store

## make site: results/site/ with one HTML page per rendered notebook (images embedded) and an index;
## readable in any browser, no Jupyter needed. Kept out of git (.gitignore): rebuild it with this target.
.PHONY: site
site: $(STAMP)
	$(BIN)/python -m imbalance_baselines.cli.site --results results --out results/site

## make bench [BENCH_ARGS="--threads 1 --part engine"]: the engine against a peers'-style CIFAR
## loader, and the JPEG pipeline against an ImageFolder + DataLoader reference (2 workers); ratios
## measured in the same run, on generated data.
bench: $(STAMP)
	$(BIN)/python -m imbalance_baselines.cli.bench $(BENCH_ARGS)

## make gpu-check [GPU_CHECK_ARGS="--budget-seconds 480 --out gpu_check.json"]: on the first CUDA device,
## in about 8 minutes: a 200-epoch ResNet-32 CE run (CIFAR-10-LT IF100 from DATA_DIR, else synthetic),
## K = 1-16 runs at once (one engine pass; K processes), CUDA graphs, and the full profile's GPU time,
## each next to its target. On a bare machine: .ci/gpu_check.sh (creates the venv first).
gpu-check: $(STAMP)
	$(BIN)/python -m imbalance_baselines.cli.gpu_check --data-dir "$(DATA_DIR)" $(GPU_CHECK_ARGS)

## make lab [LAB_ARGS=...]: JupyterLab on the notebooks; new notebooks get the project's kernel.
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --MultiKernelManager.default_kernel_name=$(KERNEL) $(LAB_ARGS)

refresh-references: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m imbalance_baselines.cli.reproduce --refresh-references --kernel $(KERNEL)

clean:
	rm -rf $(VENV) results/smoke results/explore-smoke tests/ui/output .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
