# The two commands a newcomer needs: `make run` and `make test`. Both create the venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG15_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test install lint typecheck pytest test-pg15 fuzz bench-quick record-histories clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start PostgreSQL, Temporal, migrations, demo data, worker and API (Ctrl-C stops all of it).
run: install
	$(BIN)/agencyflow up

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy --strict billing scheduling insights core persistence identity documents

# pytest exits 5 when it collects nothing; for us that is a broken suite, never a pass.
pytest: install
	@$(BIN)/pytest -q -p no:cacheprovider; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: the suite is broken"; exit 1; fi; \
	exit $$status

## Lint, type checks and the whole test suite (embedded PostgreSQL 18 + Temporal dev server).
test: lint typecheck pytest

## The database-backed suite again against the machine's PostgreSQL 15 (used by .ci/run when 5432 answers).
test-pg15: install
	@AGENCYFLOW_TEST_DATABASE_URL=$(PG15_URL) $(BIN)/pytest -q -p no:cacheprovider -m "not pure"; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: the suite is broken"; exit 1; fi; \
	exit $$status

## The long API fuzzing run (schemathesis, every operation, all checks): >= 15,000 cases, 0 x 5xx, 0 schema
## violations. `make test` runs the same test with a short budget (tests/api/test_fuzz.py).
FUZZ_EXAMPLES ?= 80
fuzz: install
	AGENCYFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) AGENCYFLOW_FUZZ_MIN_CASES=15000 \
		$(BIN)/pytest -q -s -p no:cacheprovider tests/api/test_fuzz.py

## Re-record the workflow histories the replay test checks (only after making a workflow change safe).
record-histories: install
	AGENCYFLOW_RECORD_HISTORIES=1 $(BIN)/pytest -q -p no:cacheprovider tests/engagements -k "record or engagement_bills or thirteen"

bench-quick: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .agencyflow .pytest_cache .mypy_cache .ruff_cache
