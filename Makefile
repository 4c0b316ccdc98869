PY ?= python

.PHONY: check lint types test fmt

check: lint types test

lint:
	$(PY) -m ruff check connector scoring state mappings sandbox tests benchmarks
	$(PY) -m ruff format --check connector scoring state mappings sandbox tests benchmarks

types:
	$(PY) -m mypy

test:
	$(PY) -m pytest -n 2

fmt:
	$(PY) -m ruff format connector scoring state mappings sandbox tests benchmarks
	$(PY) -m ruff check --fix connector scoring state mappings sandbox tests benchmarks
