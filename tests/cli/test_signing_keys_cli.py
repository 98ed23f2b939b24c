"""`twofold keys rotate-signing` and `list-signing` as an operator runs them, on SQLite and
PostgreSQL. The CLI runs on the real clock; what happens later is checked by a server on a
FixedClock set ahead, so nothing sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from support import TEST_KEYS, SigningKeyPool
from twofold.cli.main import app
from twofold.otp.clock import FixedClock, SystemClock
from twofold.services.runtime import Runtime
from twofold.services.signing_keys import ID_TOKEN_LIFETIME, RS256, active_key
from twofold.store.models import AuditEvent, OidcSigningKey

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TWOFOLD_DATA_DIR", raising=False)
    monkeypatch.setenv("TWOFOLD_DATABASE_URL", database_url)
    monkeypatch.setenv("TWOFOLD_SECRET_KEYS", TEST_KEYS.to_text())
    return tmp_path


@pytest.fixture
def server(runtime: Runtime, clock: FixedClock) -> Runtime:
    """A server on the same database and keys, its clock set to real time (as the CLI's)."""
    clock.set(SystemClock().now())
    return runtime


@pytest.fixture
def started(server: Runtime, signing_key_pool: SigningKeyPool) -> list[str]:
    """The keys `twofold serve` made when it first started."""
    return signing_key_pool.install(server)


def keys(data_dir: Path, *args: str) -> Result:
    return runner.invoke(app, ["keys", *args, "--data-dir", str(data_dir)])


def signing_kid_at(server: Runtime, moment: datetime) -> str:
    with server.db() as db:
        row = active_key(db, RS256, moment)
        assert row is not None
        return row.kid


def rows(output: str) -> dict[str, list[str]]:
    """`list-signing` as kid -> [alg, state, …]."""
    listed = {}
    for line in output.splitlines()[1:]:
        kid, *rest = line.split()
        listed[kid] = rest
    return listed


def stored_keys(server: Runtime) -> int:
    with server.db() as db:
        return int(db.scalar(select(func.count()).select_from(OidcSigningKey)) or 0)


def test_list_signing_before_the_first_start_says_there_are_none(data_dir: Path) -> None:
    listed = keys(data_dir, "list-signing")
    assert listed.exit_code == 0, listed.output
    assert "No signing keys yet" in listed.output


def test_rotate_signing_publishes_now_and_signs_after_the_delay(
    data_dir: Path, server: Runtime, started: list[str]
) -> None:
    before = SystemClock().now().replace(microsecond=0)  # the listing shows seconds
    rotated = keys(data_dir, "rotate-signing", "--activate-after", "2h")
    assert rotated.exit_code == 0, rotated.output
    added = [line.split()[3].rstrip(":") for line in rotated.output.splitlines() if "Added" in line]
    assert len(added) == 2
    assert "Added RS256 key" in rotated.output
    assert "Added ES256 key" in rotated.output
    assert "published now, signs from" in rotated.output
    for old in started:
        assert f"Key {old} (" in rotated.output
    assert "stays published until" in rotated.output
    assert "PRIVATE" not in rotated.output

    listed = keys(data_dir, "list-signing")
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[0].split()[:3] == ["KID", "ALG", "STATE"]
    table = rows(listed.output)
    assert {table[kid][1] for kid in started} == {"signing"}
    assert {table[kid][1] for kid in added} == {"next"}

    # A server two hours on signs with the new key; the old one stays published one ID-token
    # lifetime longer, and the listing says until when.
    old_rs256 = next(kid for kid in started if table[kid][0] == RS256)
    new_rs256 = next(kid for kid in added if table[kid][0] == RS256)
    assert signing_kid_at(server, before + timedelta(hours=2) - timedelta(seconds=5)) == old_rs256
    assert signing_kid_at(server, before + timedelta(hours=2, minutes=1)) == new_rs256
    activates = datetime.fromisoformat(" ".join(table[new_rs256][2:4]) + "+00:00")
    unpublish = datetime.fromisoformat(" ".join(table[old_rs256][5:7]) + "+00:00")
    assert unpublish - activates == ID_TOKEN_LIFETIME
    assert timedelta(hours=2) <= activates - before < timedelta(hours=2, minutes=1)

    with server.db() as db:
        events = db.scalars(
            select(AuditEvent.event).where(AuditEvent.event == "signing_keys.rotated")
        ).all()
    assert len(events) == 1


def test_rotate_signing_at_once_leaves_the_old_key_published_only(
    data_dir: Path, started: list[str]
) -> None:
    rotated = keys(data_dir, "rotate-signing", "--activate-after", "0")
    assert rotated.exit_code == 0, rotated.output
    table = rows(keys(data_dir, "list-signing").output)
    assert {table[kid][1] for kid in started} == {"published-only"}
    assert sorted(state for _alg, state, *_ in table.values()) == [
        "published-only",
        "published-only",
        "signing",
        "signing",
    ]


def test_a_bad_delay_is_refused_with_a_clear_message_and_adds_nothing(
    data_dir: Path, server: Runtime, started: list[str]
) -> None:
    for given, says in [
        ("soon", "'soon' is not a duration: give a number and a unit, such as 24h"),
        ("24", "'24' is not a duration"),
        ("-1h", "'-1h' is not a duration"),
        ("1w", "'1w' is not a duration"),
        ("400d", "A duration of at most 365 days"),
    ]:
        refused = keys(data_dir, "rotate-signing", "--activate-after", given)
        assert refused.exit_code == 1, given
        assert f"Error: {says}" in refused.output
    assert stored_keys(server) == len(started)


def test_the_commands_explain_themselves() -> None:
    helped = runner.invoke(app, ["keys", "rotate-signing", "--help"])
    assert helped.exit_code == 0
    assert "--activate-after" in helped.output
    assert "published" in helped.output
    listed = runner.invoke(app, ["keys", "--help"])
    assert "rotate-signing" in listed.output
    assert "list-signing" in listed.output
