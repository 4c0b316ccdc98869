PY ?= python

.PHONY: check check-fast lint types test fmt constraints snowflake-venv image

check: lint types test

lint:
	$(PY) -m ruff check healthsync/*.py connector scoring state mappings sandbox tests benchmarks
	$(PY) -m ruff format --check healthsync/*.py connector scoring state mappings sandbox tests benchmarks

types:
	$(PY) -m mypy

test: .venv-snowflake/bin/python
	$(PY) -m pytest -n 2 --dist loadfile --durations=15

fmt:
	$(PY) -m ruff format healthsync/*.py connector scoring state mappings sandbox tests benchmarks
	$(PY) -m ruff check --fix healthsync/*.py connector scoring state mappings sandbox tests benchmarks

# The pins of everything `pip install '.[test]'` brings (the set CI tests and ships).
constraints:
	rm -rf /tmp/healthsync-constraints && $(PY) -m venv /tmp/healthsync-constraints
	/tmp/healthsync-constraints/bin/pip install -q '.[test]'
	/tmp/healthsync-constraints/bin/pip freeze --exclude-editable | grep -v '^healthsync' > constraints.txt

# The Snowflake test venv: fakesnow needs SQLAlchemy 2.0 and snowflake-connector-python < 5 (tests/sources/snowflake).
# `make test` builds it when missing (or when its pins changed), so the README's one test command sets up everything.
.venv-snowflake/bin/python: constraints-snowflake.txt
	$(MAKE) snowflake-venv

snowflake-venv:
	rm -rf .venv-snowflake && $(PY) -m venv .venv-snowflake
	.venv-snowflake/bin/pip install -q --upgrade pip
	.venv-snowflake/bin/pip install -q -c constraints-snowflake.txt '.[snowflake]' fakesnow pytest

image:
	../shared/tools/container-base build -t healthsync .

check-fast: lint types
	$(PY) -m pytest -n 2 --dist loadfile -m "not slow and not container"
