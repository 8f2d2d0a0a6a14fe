# The two commands of the README. Both create (or reuse) .venv and install exoqc into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The tests also need every optional part, so that none skips: Spark scoring, the PostgreSQL
# team store, the browser tests of the MLflow UI (make run does not).
TEST_INSTALLED := $(VENV)/.installed-test
TEST_EXTRAS := dev,spark,postgres,e2e

.PHONY: run test lint

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "exoqc needs Python >= 3.11: run 'make PYTHON=python3.11 ...'" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

$(TEST_INSTALLED): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e ".[$(TEST_EXTRAS)]"
	touch $(TEST_INSTALLED)

# The main job: reference cohort -> both models -> score a new batch -> where to look.
run: $(INSTALLED)
	$(BIN)/exoqc train --target all
	$(BIN)/exoqc simulate data/new-batch --n-preps 300 --seed 2026
	$(BIN)/exoqc score data/new-batch -o data/new-batch-scores.csv
	@echo "MLflow UI: $(BIN)/exoqc ui   (then open http://127.0.0.1:5000)"

# Debian's chromium, chromium-driver and postgresql are installed when missing (as root or
# with passwordless sudo; otherwise the script prints the command and those tests skip).
test: $(TEST_INSTALLED)
	$(BIN)/ruff check .
	MYPY=$(BIN)/mypy bash scripts/typecheck.sh
	bash scripts/install-system-deps.sh
	$(BIN)/python -m pytest
