"""`twofold check`: one line per check (ok, warning or error, with what to do), exit status
0 without errors and 1 with; it starts nothing and creates nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cli.commands import ok, twofold
from support import POSTGRES_URL, STRONG_PASSWORD, TEST_KEYS, require_or_skip
from twofold.crypto.keyring import KeyRing

pytestmark = pytest.mark.usefixtures("cli_environment")


def lines_of(output: str, level: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(f"{level} ")]


def test_a_fresh_development_setup_passes_and_nothing_is_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    status, output = twofold(data_dir, "check")
    assert status == 0, output
    assert lines_of(output, "error") == []
    assert "will be made at" in output  # the database and the key file, on the first start
    assert "No errors" in output
    assert not data_dir.exists()


def test_a_migrated_embedded_database_with_its_keys_passes(migrated_data_dir: Path) -> None:
    ok(migrated_data_dir, "org", "list")  # a first command records the keys
    status, output = twofold(migrated_data_dir, "check")
    assert status == 0, output
    assert "The database schema is up to date." in output
    assert "The secret keys match the keys recorded in the database." in output


def test_keys_that_differ_from_the_databases_are_an_error(
    migrated_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(migrated_data_dir, "org", "list")  # records the key file's key
    other = KeyRing.generate((migrated_data_dir / "secret-keys").read_text().split(":")[0])
    monkeypatch.setenv("TWOFOLD_SECRET_KEYS", other.to_text())
    status, output = twofold(migrated_data_dir, "check")
    assert status == 1
    [mismatch] = [line for line in lines_of(output, "error") if "secret keys" in line]
    assert "fingerprint differs" in mismatch, mismatch
    assert other.to_text() not in output


def test_production_without_mail_or_base_url_and_several_workers_on_sqlite_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_ENV", "production")
    status, output = twofold(tmp_path / "data", "check", "--workers", "2")
    assert status == 1
    errors = "\n".join(lines_of(output, "error"))
    assert "TWOFOLD_SMTP_HOST" in errors
    assert "TWOFOLD_BASE_URL" in errors
    assert "2 workers need PostgreSQL" in errors
    assert "3 errors" in output


def test_an_invalid_setting_is_named_without_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_SHUTDOWN_GRACE_SECONDS", "soon-ish")
    status, output = twofold(tmp_path / "data", "check")
    assert status == 1
    assert "error   settings: TWOFOLD_SHUTDOWN_GRACE_SECONDS:" in output
    assert "soon-ish" not in output


def test_a_test_hook_left_set_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOFOLD_TEST_CRASH_AT", "account.turn_on_totp")
    status, output = twofold(tmp_path / "data", "check")
    assert status == 1
    assert "TWOFOLD_TEST_CRASH_AT is set" in output


def test_a_database_that_does_not_answer_and_redis_that_does_not_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_DATABASE_URL", "postgresql+psycopg://twofold:pw@127.0.0.1:9/x")
    monkeypatch.setenv("TWOFOLD_SECRET_KEYS", TEST_KEYS.to_text())
    monkeypatch.setenv("TWOFOLD_REDIS_URL", "redis://:hunter2@127.0.0.1:9/0")
    status, output = twofold(tmp_path / "data", "check")
    assert status == 1
    errors = "\n".join(lines_of(output, "error"))
    assert "database: The database does not answer" in errors
    assert "redis: Redis does not answer" in errors
    assert "pw@" not in output
    assert "hunter2" not in output


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_pending_migrations_say_twofold_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    assert database_url == POSTGRES_URL
    monkeypatch.setenv("TWOFOLD_DATABASE_URL", database_url)
    monkeypatch.setenv("TWOFOLD_SECRET_KEYS", TEST_KEYS.to_text())
    status, output = twofold(tmp_path / "data", "check", "--workers", "4")
    assert status == 0, output
    assert "ok      workers: Server processes: 4." in output
    assert "ok      migrations: The database schema is up to date." in output

    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as connection:  # put back as it was, whatever the newest is
        newest = connection.scalar(text("SELECT version_num FROM alembic_version"))
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0014'"))
        status, output = twofold(tmp_path / "data", "check")
        assert status == 1
        assert "error   migrations:" in output
        assert "Run `twofold migrate` first." in output
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :newest"), {"newest": newest}
            )
        engine.dispose()


def test_redis_that_answers_is_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = os.environ.get("TWOFOLD_TEST_REDIS_URL")
    require_or_skip(bool(url), "Redis (TWOFOLD_TEST_REDIS_URL)")
    assert url is not None
    monkeypatch.setenv("TWOFOLD_REDIS_URL", url)
    status, output = twofold(tmp_path / "data", "check")
    assert status == 0, output
    assert "ok      redis: Redis answers" in output


def test_keys_registered_for_another_rp_id_are_a_warning(
    migrated_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(migrated_data_dir, "user", "create", "ada", "--password-stdin", stdin=STRONG_PASSWORD + "\n")
    engine = create_engine(f"sqlite:///{migrated_data_dir / 'twofold.db'}", poolclass=NullPool)
    with engine.begin() as connection:
        user_id = connection.scalar(text("SELECT id FROM users WHERE login = 'ada'"))
        for number in range(2):
            connection.execute(
                text(
                    "INSERT INTO webauthn_credentials (user_id, name, credential_id, public_key,"
                    " sign_count, transports, aaguid, backup_eligible, backed_up, discoverable,"
                    " created_at, rp_id) VALUES (:user, :name, :cid, :key, 0, '', '', false,"
                    " false, false, '2026-01-01 00:00:00.000000', 'example.com')"
                ),
                {"user": user_id, "name": f"Key {number}", "cid": bytes([number]), "key": b"k"},
            )
    engine.dispose()
    status, output = twofold(migrated_data_dir, "check")
    assert status == 0, output
    [orphaned] = [line for line in lines_of(output, "warning") if "passkeys" in line]
    assert "2 security keys or passkeys were registered for the relying-party id" in orphaned
    assert "example.com" in orphaned
    assert "localhost" in orphaned
    monkeypatch.setenv("TWOFOLD_BASE_URL", "https://login.example.com")
    monkeypatch.setenv("TWOFOLD_WEBAUTHN_RP_ID", "example.com")
    status, output = twofold(migrated_data_dir, "check")
    assert "answer for the relying-party id example.com" in output
