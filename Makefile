# Two commands on a fresh machine: `make demo` (runs the example app) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench

$(BIN)/luaflow: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/luaflow

setup: $(BIN)/luaflow

demo: setup
	$(BIN)/luaflow start app:order_workflow --app examples/orders --wait \
	  --input '{"id": "o-1", "total": 42, "customer_id": "c-1", "shipping_address": "1 Main St", "delay": "3s"}'

test: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src
	$(BIN)/luaflow lint examples/orders
	$(BIN)/python -m pytest tests -q -p no:cacheprovider

bench: setup
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done
