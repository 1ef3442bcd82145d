# The two commands a newcomer needs: `make run` and `make test`. Everything else is their parts.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Test processes (pytest-xdist), each with its own database; a file's tests stay together.
TEST_WORKERS ?= 2
FLASK := $(BIN)/flask --app app

.PHONY: setup system-packages run test lint bench clean

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(BIN)/activate

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch node_modules/.installed

static/vendor/htmx.min.js: node_modules/.installed
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js

setup: $(BIN)/activate static/vendor/htmx.min.js

## Set up, migrate, load the demo program and run the web server and the worker together.
run: setup
	$(FLASK) db upgrade
	$(FLASK) demo
	@echo ""
	@echo "  Open http://localhost:$(PORT)  (Ctrl-C stops the web server and the worker;"
	@echo "  passkeys need a name such as localhost, not 127.0.0.1)"
	@echo ""
	$(BIN)/python -m iop_pwa.runner --port $(PORT)

## System packages the tests need (Chromium, redis-server, wrk, openssl): installed where this
## is root with apt-get; elsewhere the missing ones are named with the command that installs them.
system-packages:
	@tools/system_packages.sh

## Set up and run the whole test suite. Its last line says how many tests were skipped, and why.
test: setup system-packages
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) node_modules static/vendor .pytest_cache
