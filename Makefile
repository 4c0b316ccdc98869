PY ?= python
SHELL := bash

.PHONY: check check-fast check-minimum minimum-venv lint types test fmt constraints snowflake-venv engines-venv image

check: lint types test

lint:
	$(PY) -m ruff check healthsync/*.py connector scoring state mappings sandbox tests benchmarks
	$(PY) -m ruff format --check healthsync/*.py connector scoring state mappings sandbox tests benchmarks

types:
	$(PY) -m mypy

# The run's output is kept in build/pytest.log and its slowest tests in build/slowest-tests.txt (CI prints it).
test: .venv-snowflake/.installed .venv-engines/.installed
	@mkdir -p build
	set -o pipefail; $(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=25 | tee build/pytest.log; status=$$?; \
		awk '/slowest [0-9]+ durations/ {on = 1} on && /^=/ && !/slowest/ {exit} on' build/pytest.log \
		> build/slowest-tests.txt; exit $$status

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
# A stamp, written once pip succeeded: make dates .venv-snowflake/bin/python by the interpreter it links to (older
# than any pin), which rebuilt the venv on every `make test`.
.venv-snowflake/.installed: constraints-snowflake.txt
	$(MAKE) snowflake-venv

snowflake-venv:
	rm -rf .venv-snowflake && $(PY) -m venv .venv-snowflake
	.venv-snowflake/bin/pip install -q --upgrade pip
	.venv-snowflake/bin/pip install -q -c constraints-snowflake.txt '.[snowflake]' fakesnow pytest
	touch .venv-snowflake/.installed

# The engines test venv: the generated SQL runs on ClickHouse (chdb: ClickHouse embedded, through clickhouse-connect's
# dialect) and on Spark (pyspark, Java 17; compiled by the Databricks dialect) in tests/sources/engines. chdb-core
# (555 MB) and pyspark (450 MB) stay out of the main venv. `make test` builds it
# when missing or when its pins changed; the stamp is written only once pip succeeded.
.venv-engines/.installed: constraints-engines.txt pyproject.toml
	$(MAKE) engines-venv

engines-venv:
	rm -rf .venv-engines && $(PY) -m venv .venv-engines
	.venv-engines/bin/pip install -q --upgrade pip
	.venv-engines/bin/pip install -q -c constraints-engines.txt '.[clickhouse,databricks]' chdb pyspark pytest
	touch .venv-engines/.installed

image:
	../shared/tools/container-base build -t healthsync .

check-fast: lint types
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not slow and not container"

# The lower bounds of pyproject.toml, proven: .venv-minimum holds every runtime dependency (and the `arrow` extra)
# at its floor (constraints-minimum.txt; test tools float), and this subset of the suite touches each of them:
# sources on DuckDB, SQLite, PostgreSQL and files (CSV, JSONL, Parquet, Segment), the warehouse dialects, scoring,
# settings and YAML, the CLI and its output, the state store and its alembic migrations, the retry layer, and the
# HubSpot, Intercom and Slack SDK destinations against the sandboxes, and the backtest's HTML report (matplotlib)
# and suggested weights (scikit-learn).
# 2-4 minutes on 2 cores, venv included.
MINIMUM_TESTS = \
	tests/sources/test_parity.py tests/sources/test_postgres.py tests/sources/test_dialects.py \
	tests/scoring/test_table.py tests/scoring/test_metrics.py tests/scoring/test_normalize.py \
	tests/scoring/test_explain.py tests/backtest/test_report.py tests/backtest/test_metrics.py \
	tests/backtest/test_backtest.py::test_weights_on_the_causal_event_warn_better_and_the_suggestion_moves_weight_there \
	tests/state/test_schema.py tests/state/test_store.py tests/state/test_history.py tests/sync/test_retry.py \
	tests/test_config.py::test_the_reference_configuration_is_accepted_as_written \
	tests/test_config.py::test_environment_overrides_the_file_and_is_named_in_errors \
	"tests/test_cli.py::test_score_writes_every_format_to_a_file[parquet]" \
	"tests/test_cli.py::test_score_writes_every_format_to_a_file[table]" \
	tests/test_output.py::test_progress_bars_on_a_terminal_cover_every_phase \
	tests/hubspot/test_tasks.py::test_two_runs_make_exactly_one_task_per_identity \
	tests/intercom/test_attributes.py::test_a_datetime_attribute_passes_three_runs_in_a_row_provisioned_once \
	tests/slack/test_alerts.py::test_a_tier_change_sends_one_alert_and_a_rerun_sends_none

check-minimum: .venv-minimum/.installed
	.venv-minimum/bin/python -m pytest -n 2 --dist loadfile -p no:cacheprovider \
		-k "not test_score_accounts_never_emits_nan" $(MINIMUM_TESTS)

# Rebuilt when its pins or the declared dependencies change; the stamp is written only once pip succeeded.
.venv-minimum/.installed: constraints-minimum.txt pyproject.toml
	$(MAKE) minimum-venv

minimum-venv:
	rm -rf .venv-minimum && $(PY) -m venv .venv-minimum
	.venv-minimum/bin/pip install -q --upgrade pip
	.venv-minimum/bin/pip install -q -c constraints-minimum.txt '.[test]'
	.venv-minimum/bin/pip check
	touch .venv-minimum/.installed
