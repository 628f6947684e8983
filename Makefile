# deepfake-lightning: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= demo
OUT ?= outputs/$(PROFILE)
DATA_ROOT ?= data/dfl-synth
ARGS ?=
SEEDS ?=
JOBS ?= 1
export WANDB_MODE ?= offline
export YOLO_OFFLINE ?= true

.DEFAULT_GOAL := help
.PHONY: help install demo paper synth extract test test-full test-gpu wheel-check lint format sweep recipes bench clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,landmarks]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the package with the pinned versions in constraints.txt

synth: $(STAMP) ## Generate the embedded dataset (demo size) under data/dfl-synth
	$(BIN)/dfl-synth synth=demo $(ARGS)

extract: $(STAMP) ## Extract, cache and split DATA_ROOT (Celeb-DF v2 layout)
	$(BIN)/dfl-extract data.root=$(DATA_ROOT) $(ARGS)

paper: $(STAMP) ## Whole chain on DATA_ROOT: extract, train, ensemble, report -> OUT (PROFILE=demo|demo_scratch|full, SEEDS="0 1 2 3", JOBS=2)
	$(BIN)/python -m deepfake_lightning.apps.paper --data-root $(DATA_ROOT) --out $(OUT) --profile $(PROFILE) --seeds "$(SEEDS)" --jobs $(JOBS) -- $(ARGS)

DEMO_PROFILE ?= demo
demo: $(STAMP) ## The main job on the embedded dataset (CPU, under 10 minutes; DEMO_PROFILE=demo_scratch: ResNet-50 from scratch)
	$(BIN)/dfl-synth synth=demo
	$(MAKE) --no-print-directory paper DATA_ROOT=data/dfl-synth PROFILE=$(DEMO_PROFILE) OUT=outputs/$(DEMO_PROFILE)

test: $(STAMP) ## Fast test suite (CPU)
	$(BIN)/python -m pytest -q

test-full: $(STAMP) ## All tests, slow ones included
	$(BIN)/python -m pytest -q -m "not gpu"

test-gpu: $(STAMP) ## GPU smoke tests (on a machine with CUDA)
	$(BIN)/python -m pytest -q -m gpu

wheel-check: $(STAMP) ## Build the wheel, install it into a temporary venv, run dfl-train/dfl-synth outside the tree
	bash .ci/wheel-check

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check deepfake_lightning hydra_plugins benchmarks tests
	$(BIN)/ruff format --check deepfake_lightning hydra_plugins benchmarks tests

format: $(STAMP) ## ruff format and fix
	$(BIN)/ruff format deepfake_lightning hydra_plugins benchmarks tests
	$(BIN)/ruff check --fix deepfake_lightning hydra_plugins benchmarks tests

sweep: $(STAMP) ## Class-weight multiplier sweep (demo profile) -> experiments/class_weight_sweep/
	$(BIN)/dfl-synth synth=demo
	DFL_DEMO_EPOCHS=$${DFL_DEMO_EPOCHS:-3} $(BIN)/dfl-train -m hparams_search=class_weight_sweep experiment=demo_specialist \
		data.root=data/dfl-synth $(ARGS)

recipes: $(STAMP) ## Which recipe: paired comparisons over SEEDS (default 0-3) on DATA_ROOT -> outputs/recipes/<name>/summary.json
	$(BIN)/python experiments/recipes/run.py --data-root $(DATA_ROOT) --out outputs/recipes/$(notdir $(DATA_ROOT)) \
		--seeds $(or $(SEEDS),0 1 2 3) --label "$(DATA_ROOT)" $(ARGS)

bench: $(STAMP) ## Performance figures as ratios in one run -> reports/bench/bench.json (GPU: experiments/perf/gpu_check.sh)
	$(BIN)/python -m benchmarks.bench $(ARGS)

clean: ## Remove generated data, logs and outputs (keeps .venv)
	rm -rf data logs outputs multirun .pytest_cache
