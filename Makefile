# Pulse: the two commands a new user needs are `make up` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: up test install lint unit integration clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Run Pulse on the embedded broker with the live demo (Ctrl-C stops everything).
up: $(STAMP)
	$(VENV)/bin/pulse up --demo

## Everything CI runs: static checks, unit, agent and integration tests.
test: $(STAMP)
	$(VENV)/bin/ruff check streams models graph rules tests
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

unit: $(STAMP)
	$(VENV)/bin/pytest -q -m "not integration"

integration: $(STAMP)
	$(VENV)/bin/pytest -q -m integration

clean:
	rm -rf $(VENV) .pulse .pytest_cache .mypy_cache .ruff_cache
