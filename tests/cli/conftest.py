"""What the CLI tests share: an environment that names no other database, keys or data
directory, and cheap password hashing (modules opt in with `cli_environment`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SECRET_KEYS", "DATA_DIR", "BASE_URL"):
        monkeypatch.delenv(f"TWOFOLD_{name}", raising=False)
    monkeypatch.setenv("TWOFOLD_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("TWOFOLD_ARGON2_MEMORY_KIB", "8")
    monkeypatch.setenv("TWOFOLD_ARGON2_PARALLELISM", "1")
