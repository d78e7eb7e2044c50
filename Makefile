# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Real benchmark data lives beside the checkout; it is read from there, never copied in.
SHARED_DATA := $(abspath ../shared/data)
export GEMMA_BENCHMARK_DATA_DIR ?= $(SHARED_DATA)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test lint typecheck clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The CPU build of torch first, so that the package's torch range is already met
# and pip does not fetch a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check gemma_benchmark tests benchmarks
	$(BIN)/ruff format --check gemma_benchmark tests benchmarks

typecheck: install
	$(BIN)/mypy gemma_benchmark

test: lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

demo: install
	$(BIN)/gemma-benchmark make-tiny-model .cache/tiny-gemma --arch gemma --seed 0
	$(BIN)/gemma-benchmark run configs/quickstart.yaml --output results/quickstart

clean:
	rm -rf $(VENV) .cache results .mypy_cache .ruff_cache .pytest_cache
