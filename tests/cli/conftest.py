"""What the CLI tests share: an environment that names no other database, keys or data
directory, and cheap password hashing (modules opt in with `cli_environment`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli.commands import ok
from support import STRONG_PASSWORD


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SECRET_KEYS", "DATA_DIR", "BASE_URL"):
        monkeypatch.delenv(f"TWOFOLD_{name}", raising=False)
    monkeypatch.setenv("TWOFOLD_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("TWOFOLD_ARGON2_MEMORY_KIB", "8")
    monkeypatch.setenv("TWOFOLD_ARGON2_PARALLELISM", "1")


@pytest.fixture
def migrated_data_dir(tmp_path: Path, sqlite_template: Path) -> Path:
    """tmp_path holding the database a first command would create, already migrated: every
    command still runs the start-up checks and writes the key file, but does not replay
    every migration into a new file (~150 ms each time, a third of these modules' time).
    A first run from an empty directory stays tested in test_cli.py and by every server the
    browser tests start; migrations themselves in tests/store/test_migrations.py."""
    shutil.copy(sqlite_template, tmp_path / "twofold.db")
    return tmp_path


@pytest.fixture
def acme(tmp_path: Path, cli_environment: None, migrated_data_dir: Path) -> Path:
    """A data directory with the organization `acme` and its admin `boss` (who has an email
    address, so the admins' notices have someone to go to)."""
    ok(tmp_path, "org", "create", "acme", "--name", "Acme Inc.")
    ok(
        tmp_path,
        "user",
        "create",
        "boss",
        "--org",
        "acme",
        "--role",
        "admin",
        "--email",
        "boss@example.org",
        "--password-stdin",
        stdin=STRONG_PASSWORD,
    )
    return tmp_path
