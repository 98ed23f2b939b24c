"""`twofold keys` as an operator runs a rotation: with the key file of the embedded default,
and with TWOFOLD_SECRET_KEYS on SQLite and PostgreSQL. Exit status 1 and a clear message on
every refusal, and never a key in the output except the new one `keys add` hands over."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import update
from typer.testing import CliRunner

from support import TEST_KEYS, Person, make_person
from twofold.cli.main import app
from twofold.crypto.key_file import read_key_file
from twofold.crypto.keyring import KeyRing
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock, SystemClock
from twofold.services import second_factor, signin
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.models import KeyPrimary

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SECRET_KEYS", "DATA_DIR"):
        monkeypatch.delenv(f"TWOFOLD_{name}", raising=False)
    monkeypatch.setenv("TWOFOLD_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("TWOFOLD_ARGON2_MEMORY_KIB", "8")
    monkeypatch.setenv("TWOFOLD_ARGON2_PARALLELISM", "1")


def keys(data_dir: Path, *args: str) -> Result:
    return runner.invoke(app, ["keys", *args, "--data-dir", str(data_dir)])


def runtime_for(settings: Settings) -> Runtime:
    return build_runtime(settings, hashing=PasswordHashingParams.for_tests())


def as_if_promoted_an_hour_ago(settings: Settings) -> None:
    """Time passing for the settle window of `retire` (the CLI runs on the real clock)."""
    runtime = runtime_for(settings)
    try:
        with runtime.db() as db:
            db.execute(
                update(KeyPrimary).values(promoted_at=SystemClock().now() - timedelta(hours=1))
            )
            db.commit()
    finally:
        runtime.engine.dispose()


def signs_in_with_totp(settings: Settings, person: Person) -> None:
    clock = FixedClock(SystemClock().now() + timedelta(minutes=5))
    runtime = build_runtime(settings, clock=clock, hashing=PasswordHashingParams.for_tests())
    try:
        with runtime.db() as db:
            started = signin.sign_in_with_password(
                db, runtime, login=person.login, password=person.password, client=ClientInfo()
            )
            second_factor.verify_totp(
                db, runtime, started.session, person.totp(clock), ClientInfo()
            )
    finally:
        runtime.engine.dispose()


def lines_for(output: str, kid: str) -> list[str]:
    return [line.split() for line in output.splitlines() if line.startswith(kid + " ")]


def test_a_rotation_with_the_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    runtime = runtime_for(settings)
    alice = make_person(runtime, "alice", with_totp=True)
    runtime.engine.dispose()

    listed = keys(tmp_path, "list")
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[0].split() == [
        "KID", "STATE", "HERE", "TOTP", "SECRETS", "QUEUED", "EMAILS", "SIGNING", "KEYS",
        "RECOVERY", "CODES", "FINGERPRINT",
    ]  # fmt: skip
    assert lines_for(listed.output, "k1")[0][:7] == ["k1", "primary", "yes", "1", "0", "0", "10"]

    added = keys(tmp_path, "add")
    assert added.exit_code == 0, added.output
    assert "Added key 'k2'" in added.output
    assert "twofold keys promote k2" in added.output
    file_text = (tmp_path / "secret-keys").read_text()
    assert set(read_key_file(tmp_path / "secret-keys").keys) == {"k1", "k2"}

    for command, expected in [
        (["promote", "k9"], "Unknown key id 'k9'"),
        (["retire", "k1"], "is the primary key"),
    ]:
        refused = keys(tmp_path, *command)
        assert refused.exit_code == 1, refused.output
        assert expected in refused.output
    assert (tmp_path / "secret-keys").read_text() == file_text

    promoted = keys(tmp_path, "promote", "k2")
    assert promoted.exit_code == 0, promoted.output
    assert "now the primary key (was 'k1')" in promoted.output
    assert "already the primary" in keys(tmp_path, "promote", "k2").output

    resealed = keys(tmp_path, "reseal", "--batch-size", "1")
    assert resealed.exit_code == 0, resealed.output
    assert "TOTP secrets: 1 re-sealed" in resealed.output
    assert "Nothing to re-seal" in keys(tmp_path, "reseal").output

    too_soon = keys(tmp_path, "retire", "k1")
    assert too_soon.exit_code == 1
    assert "servers may still be sealing with 'k1'" in too_soon.output
    as_if_promoted_an_hour_ago(settings)
    codes_left = keys(tmp_path, "retire", "k1")
    assert codes_left.exit_code == 1
    assert "10 unused recovery codes of 1 people" in codes_left.output
    retired = keys(tmp_path, "retire", "k1", "--discard-recovery-codes")
    assert retired.exit_code == 0, retired.output
    assert "removed from" in retired.output
    assert set(read_key_file(tmp_path / "secret-keys").keys) == {"k2"}

    listed = keys(tmp_path, "list")
    assert lines_for(listed.output, "k1")[0][:6] == ["k1", "retired", "no", "0", "0", "0"]
    assert lines_for(listed.output, "k2")[0][:6] == ["k2", "primary", "yes", "1", "0", "0"]
    outputs = "".join(r.output for r in (listed, added, promoted, resealed, retired))
    for line in file_text.splitlines():
        assert line.partition(":")[2] not in outputs  # no key material, ever
    signs_in_with_totp(settings, alice)


def test_a_rotation_with_secret_keys_in_the_environment(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_DATABASE_URL", database_url)
    monkeypatch.setenv("TWOFOLD_SECRET_KEYS", TEST_KEYS.to_text())
    settings = Settings(data_dir=tmp_path)
    runtime = runtime_for(settings)
    alice = make_person(runtime, "alice", with_totp=True)
    runtime.engine.dispose()

    added = keys(tmp_path, "add", "--kid", "test2")
    assert added.exit_code == 0, added.output
    new_ring = KeyRing.parse(added.stdout)  # stdout holds the new entry only
    assert list(new_ring.keys) == ["test2"]
    assert "Append it to TWOFOLD_SECRET_KEYS on every server" in added.stderr
    assert not (tmp_path / "secret-keys").exists()

    not_here = keys(tmp_path, "promote", "test2")
    assert not_here.exit_code == 1
    assert "Unknown key id 'test2'" in not_here.output  # no server has started with it yet

    # Phase 1 done: every server (and this shell) has both keys.
    both = KeyRing(keys={**TEST_KEYS.keys, **new_ring.keys}, primary_kid="test1")
    monkeypatch.setenv("TWOFOLD_SECRET_KEYS", both.to_text())
    assert keys(tmp_path, "promote", "test2").exit_code == 0
    resealed = keys(tmp_path, "reseal")
    assert resealed.exit_code == 0, resealed.output
    assert "TOTP secrets: 1 re-sealed" in resealed.output
    as_if_promoted_an_hour_ago(Settings(data_dir=tmp_path))
    retired = keys(tmp_path, "retire", "test1", "--discard-recovery-codes")
    assert retired.exit_code == 0, retired.output
    assert "Remove it from TWOFOLD_SECRET_KEYS" in retired.output
    again = keys(tmp_path, "promote", "test1")
    assert again.exit_code == 1
    assert "retired and cannot seal again" in again.output

    # Phase 4 done: the retired key leaves the environment.
    monkeypatch.setenv("TWOFOLD_SECRET_KEYS", new_ring.to_text())
    listed = keys(tmp_path, "list")
    assert listed.exit_code == 0, listed.output
    assert lines_for(listed.output, "test1")[0][:3] == ["test1", "retired", "no"]
    assert lines_for(listed.output, "test2")[0][:4] == ["test2", "primary", "yes", "1"]
    signs_in_with_totp(Settings(data_dir=tmp_path), alice)
