# Twofold: `make run` serves on the embedded SQLite default; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements-dev.lock
# pytest-xdist workers for `make test`: two per core, since much of a test's time is spent
# waiting (server and browser start-ups, request hand-offs between threads); measured in
# docs/development.md. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')

.PHONY: run test fuzz lock lint typecheck pytest bench bench-admin bench-burst bench-oidc messages clean

# Every package is pinned in $(LOCK) (made by `make lock` from pyproject.toml). uv installs
# it in seconds into a venv made without pip; if uv cannot be had, pip installs the same pins.
# Both write the packages' bytecode at install time (pip does by default, uv when asked):
# where PYTHONDONTWRITEBYTECODE is set, every process (each test worker, server and CLI run)
# would otherwise compile SQLAlchemy, FastAPI & co. again, ~1.3 s of CPU each time.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv --without-pip $(VENV)
	@if $(PYTHON) -m pip --python $(BIN)/python install --quiet --disable-pip-version-check \
			"$$(grep '^uv==' $(LOCK))" 2>/dev/null; then \
		$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python \
			-c $(LOCK) -e '.[dev]'; \
	else \
		echo "uv could not be installed: installing the same pins with pip (slower)"; \
		$(PYTHON) -m venv $(VENV) && \
		$(BIN)/python -m pip install --quiet --upgrade pip && \
		$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'; \
	fi
	touch $(STAMP)

# Re-pin every package after a change of dependencies in pyproject.toml (commit the result).
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--quiet --custom-compile-command "make lock" -o $(LOCK)

# Quiet install, then the server: its setup link (first start) is the last thing printed.
run:
	@$(MAKE) --silent --no-print-directory $(STAMP)
	@$(BIN)/twofold serve

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Bytecode is written (into the ignored __pycache__ folders) even where the environment sets
# PYTHONDONTWRITEBYTECODE: otherwise every worker compiles and assertion-rewrites every test
# module again (collecting takes 6.1 s of CPU instead of 2.7 s, in each of the workers).
pytest: $(STAMP)
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(PYTEST_WORKERS)

# mypy (single-threaded, ~7 s) runs beside pytest, whose workers spend part of their time
# waiting; its report is printed after pytest's, and either failing fails `make test`.
test: lint
	@$(BIN)/mypy > $(VENV)/mypy.log 2>&1 & typecheck=$$!; \
	$(MAKE) --no-print-directory pytest; tests=$$?; \
	wait $$typecheck; typed=$$?; \
	echo "$(BIN)/mypy"; cat $(VENV)/mypy.log; \
	[ $$tests -eq 0 ] && [ $$typed -eq 0 ]

# The JSON API fuzzed from its own schema for longer than `make test` does (schemathesis,
# every check, SQLite and PostgreSQL as the environment gives): FUZZ_EXAMPLES per operation.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	TWOFOLD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n 0 \
		-p no:cacheprovider tests/web/test_api_schema.py

# Issue 13's benchmarks (bench/README.md): BENCH_QUICK=1 for a smoke run (short loads, 10k
# people). The service benchmark needs wrk (apt-get install -y wrk) and PostgreSQL; it
# installs privacyIDEA into its own venv (BENCH_PI_VENV) the first time.
bench: $(STAMP)
	$(BIN)/python bench/verify_totp.py
	$(BIN)/python bench/signin_cost.py
	$(BIN)/python bench/service.py

bench-admin: $(STAMP)
	$(BIN)/python bench/admin_members.py

bench-burst: $(STAMP)
	$(BIN)/python bench/sqlite_burst.py

bench-oidc: $(STAMP)
	$(BIN)/python bench/oidc_tokens.py

# The message template translators start from (docs/development.md, "Words and translation").
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --sort-output --project=Twofold \
		-o src/twofold/locale/twofold.pot .

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache
