# Twofold: `make run` serves on the embedded SQLite default; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers for `make test`: one per core; PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto

.PHONY: run test lint typecheck pytest bench bench-admin bench-burst messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Quiet install, then the server: its setup link (first start) is the last thing printed.
run:
	@$(MAKE) --silent --no-print-directory $(STAMP)
	@$(BIN)/twofold serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/verify_totp.py

bench-admin: $(STAMP)
	$(BIN)/python bench/admin_members.py

bench-burst: $(STAMP)
	$(BIN)/python bench/sqlite_burst.py

# The message template translators start from (docs/development.md, "Words and translation").
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --sort-output --project=Twofold \
		-o src/twofold/locale/twofold.pot .

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
