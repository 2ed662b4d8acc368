# The two quickstart commands (README.md): `make demo` and `make test`.
# `make test-matrix` (what .ci/run calls): the full suite on Python 3.12, the fast suite on 3.11
# and 3.13, each in its own .venv-X.Y.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FAST := -m "not condor and not slow"

.PHONY: install demo test lint test-matrix test-3.11 test-3.12 test-3.13

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	VENV=$(VENV) scripts/demo.sh

test: install
	VENV=$(VENV) scripts/test.sh $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

test-matrix: test-3.12 test-3.11 test-3.13

test-3.12:
	$(MAKE) test PYTHON="$$(scripts/python-for.sh 3.12)" VENV=.venv-3.12

test-3.11 test-3.13:
	$(MAKE) test PYTHON="$$(scripts/python-for.sh $(@:test-%=%))" VENV=.venv-$(@:test-%=%) \
		PYTEST_ARGS='$(FAST)'
