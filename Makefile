PY ?= python

.PHONY: check lint types test fmt

check: lint types test

lint:
	$(PY) -m ruff check connector scoring state mappings sandbox tests benchmarks
	$(PY) -m ruff format --check connector scoring state mappings sandbox tests benchmarks

types:
	$(PY) -m mypy

test:
	$(PY) -m pytest -n 2 --dist loadfile

fmt:
	$(PY) -m ruff format connector scoring state mappings sandbox tests benchmarks
	$(PY) -m ruff check --fix connector scoring state mappings sandbox tests benchmarks

constraints:
	rm -rf /tmp/healthsync-constraints && $(PY) -m venv /tmp/healthsync-constraints
	/tmp/healthsync-constraints/bin/pip install -q .
	/tmp/healthsync-constraints/bin/pip freeze --exclude-editable | grep -v '^healthsync' > constraints.txt

image:
	../shared/tools/container-base build -t healthsync .
