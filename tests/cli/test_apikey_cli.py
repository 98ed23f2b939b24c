"""`twofold apikey …`: the key printed once, listed without it, revoked; clear errors."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from cli.commands import ok, runner, twofold
from twofold.cli.main import app
from twofold.crypto.passwords import PasswordHashingParams
from twofold.services.runtime import build_runtime
from twofold.settings import Settings
from twofold.store.models import ApiKey, OutgoingEmail

pytestmark = pytest.mark.usefixtures("cli_environment", "migrated_data_dir")

API_KEY = re.compile(r"^api_key: (tfk_[A-Za-z0-9_-]{43})$", re.M)


def stored(data_dir: Path) -> tuple[list[tuple[object, ...]], list[str]]:
    """Every stored key (all columns) and every queued email's recipient."""
    runtime = build_runtime(Settings(data_dir=data_dir), hashing=PasswordHashingParams.for_tests())
    with runtime.db() as db:
        keys = [tuple(row) for row in db.execute(select(ApiKey.__table__))]
        mail = list(db.scalars(select(OutgoingEmail.recipient).order_by(OutgoingEmail.id)))
    runtime.engine.dispose()
    return keys, mail


@pytest.mark.parametrize(
    "command", [["apikey"], ["apikey", "create"], ["apikey", "list"], ["apikey", "revoke"]]
)
def test_every_apikey_command_explains_itself(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    assert len(result.output.splitlines()) > 4


def test_create_prints_the_key_once_and_keeps_only_its_hash(acme: Path) -> None:
    output = ok(acme, "apikey", "create", "acme", "--name", "Billing")
    found = API_KEY.search(output)
    assert found is not None
    assert "shown only this once" in output
    [row], mail = stored(acme)
    assert hashlib.sha256(found.group(1).encode()).digest() in row
    assert found.group(1) not in repr(row)
    assert mail[-1] == "boss@example.org"
    listing = ok(acme, "apikey", "list", "acme")
    assert found.group(1) not in listing
    assert "Billing" in listing
    assert "LAST USED" in listing


def test_revoke_asks_then_revokes_and_tells_the_admins(acme: Path) -> None:
    ok(acme, "apikey", "create", "acme", "--name", "Billing")
    [row], _mail = stored(acme)
    key_id = str(row[0])
    declined = ok(acme, "apikey", "revoke", key_id, stdin="n\n")
    assert "nothing was changed" in declined
    assert stored(acme)[0] == [row]
    assert "Revoked API key 'Billing'" in ok(acme, "apikey", "revoke", key_id, "--yes")
    keys, mail = stored(acme)
    assert keys[0] != row  # revoked_at is set
    assert mail.count("boss@example.org") == 2
    code, output = twofold(acme, "apikey", "revoke", key_id, "--yes")
    assert code == 1
    assert "already revoked" in output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["apikey", "create", "nope", "--name", "X"], "no organization"),
        (["apikey", "list", "nope"], "no organization"),
        (["apikey", "revoke", "999", "--yes"], "There is no API key with ID 999"),
        (["apikey", "create", "acme", "--name", "  "], "Give the key a name"),
        (["apikey", "create", "acme", "--name", "X", "--per-minute", "0"], "Requests per minute"),
    ],
)
def test_unknown_or_bad_input_is_a_clear_error_with_nothing_stored(
    acme: Path, args: list[str], says: str
) -> None:
    code, output = twofold(acme, *args)
    assert code == 1, output
    assert says.lower() in output.lower()
    assert stored(acme)[0] == []


def test_a_second_active_key_of_the_same_name_is_refused(acme: Path) -> None:
    ok(acme, "apikey", "create", "acme", "--name", "VPN")
    code, output = twofold(acme, "apikey", "create", "acme", "--name", "VPN")
    assert code == 1, output
    assert "already has an active API key named 'VPN'" in output
    assert len(stored(acme)[0]) == 1
