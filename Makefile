# The two commands a user runs on a fresh machine: `make demo` and `make test`.
# Both create .venv (unless a virtualenv is already active) and install what they need.

SHELL := /bin/bash
PYTHON ?= python3

ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := .venv
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.tracelink-installed

PYTEST_ARGS ?=

.PHONY: help venv install test test-unit test-integration test-e2e lint format typecheck check demo dev bench browser stunnel node clean

help:
	@echo "make demo        set up and run the lost-order demo on the embedded stack"
	@echo "make test        set up and run the whole test suite"
	@echo "make check       lint (ruff), format check and mypy --strict"
	@echo "make bench       run the benchmarks in bench/ (prints JSON)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv install: $(STAMP)

# Headless Chromium for the HTML view's browser test (Debian's package; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's chromium for the browser test"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Debian's stunnel4: the TLS terminator the Kafka security tests put in front of the stand-in.
stunnel:
	@command -v stunnel4 >/dev/null 2>&1 || command -v stunnel >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's stunnel4 for the Kafka TLS tests"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends stunnel4 >/dev/null; }

# Node.js and npm for the demo's gateway (Debian's packages when absent; needs root or
# sudo), then its packages exactly as locked (the dev ones are the tests' JSON log exporter).
# Reinstalled when the lockfile changes.
GATEWAY_NODE := devstack/demo/gateway-node
NODE_STAMP := $(GATEWAY_NODE)/node_modules/.tracelink-installed

node: $(NODE_STAMP)

$(NODE_STAMP): $(GATEWAY_NODE)/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's nodejs and npm for the demo gateway"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }
	cd $(GATEWAY_NODE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: $(STAMP) browser stunnel node check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) stunnel node
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: $(STAMP) browser stunnel node
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck

demo: $(STAMP) node
	$(BIN)/tracelink demo

dev: $(STAMP)
	$(BIN)/tracelink dev

bench: $(STAMP)
	@for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf .venv .tracelink $(GATEWAY_NODE)/node_modules .mypy_cache .ruff_cache .pytest_cache build dist
