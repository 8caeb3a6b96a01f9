# Pulse: the two commands a new user needs are `make up` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TRAIN  := $(VENV)/.train-installed

.PHONY: up test install lint unit integration prometheus clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## The tests also cover the training code (export, the Chinese tier, transformer models):
## the train extra (torch 2.13.0 CPU, transformers, onnx, scikit-learn) goes into the test
## environment only; `make up` and a plain `pip install` stay without it.
$(TRAIN): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,train]'
	touch $(TRAIN)

install: $(STAMP)

## Run Pulse on the embedded broker with the live demo (Ctrl-C stops everything).
up: $(STAMP)
	$(VENV)/bin/pulse up --demo

## Debian's prometheus (server + promtool): the observability tests and `pulse up --observe`
## use it. Installed when missing (as root, with apt-get); idempotent. On a host with
## systemd the package also starts a service on :9090, which Pulse does not need.
prometheus:
	@if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then \
	  echo "prometheus: $$(prometheus --version 2>&1 | head -n1)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "prometheus: installing Debian's package"; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null && \
	  echo "prometheus: $$(prometheus --version 2>&1 | head -n1)"; \
	else \
	  echo "prometheus: not installed, and apt-get is unavailable or this is not root:" \
	       "the tests that need it are skipped (apt-get install prometheus, or put it on PATH)"; \
	fi

## Everything CI runs: static checks, unit, agent and integration tests.
test: $(TRAIN) prometheus
	$(VENV)/bin/ruff check streams models graph rules tests
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

unit: $(TRAIN)
	$(VENV)/bin/pytest -q -m "not integration"

integration: $(STAMP) prometheus
	$(VENV)/bin/pytest -q -m integration

clean:
	rm -rf $(VENV) .pulse .pytest_cache .mypy_cache .ruff_cache
