PY ?= python

.PHONY: check check-fast lint types test fmt constraints image

check: lint types test

lint:
	$(PY) -m ruff check healthsync/*.py connector scoring state mappings sandbox tests benchmarks
	$(PY) -m ruff format --check healthsync/*.py connector scoring state mappings sandbox tests benchmarks

types:
	$(PY) -m mypy

test:
	$(PY) -m pytest -n 2 --dist loadfile

fmt:
	$(PY) -m ruff format healthsync/*.py connector scoring state mappings sandbox tests benchmarks
	$(PY) -m ruff check --fix healthsync/*.py connector scoring state mappings sandbox tests benchmarks

constraints:
	rm -rf /tmp/healthsync-constraints && $(PY) -m venv /tmp/healthsync-constraints
	/tmp/healthsync-constraints/bin/pip install -q .
	/tmp/healthsync-constraints/bin/pip freeze --exclude-editable | grep -v '^healthsync' > constraints.txt

image:
	../shared/tools/container-base build -t healthsync .

check-fast: lint types
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow and not container"
