"""`twofold client …`: registering applications as the operator, the secret printed once."""

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
from twofold.store.models import OidcClient, OutgoingEmail

pytestmark = pytest.mark.usefixtures("cli_environment", "migrated_data_dir")

APP = "https://grafana.example.org/login/generic_oauth"
CLIENT_ID = re.compile(r"^client_id: ([A-Za-z0-9]{24})$", re.M)
CLIENT_SECRET = re.compile(r"^client_secret: ([A-Za-z0-9_-]{43})$", re.M)


def rows(data_dir: Path) -> list[tuple[object, ...]]:
    """Every stored client, all columns: to show a refusal changed nothing."""
    runtime = build_runtime(Settings(data_dir=data_dir), hashing=PasswordHashingParams.for_tests())
    with runtime.db() as db:
        found = [tuple(row) for row in db.execute(select(OidcClient.__table__))]
    runtime.engine.dispose()
    return found


def queued_to(data_dir: Path) -> list[str]:
    runtime = build_runtime(Settings(data_dir=data_dir), hashing=PasswordHashingParams.for_tests())
    with runtime.db() as db:
        found = list(db.scalars(select(OutgoingEmail.recipient).order_by(OutgoingEmail.id)))
    runtime.engine.dispose()
    return found


def create(data_dir: Path, *options: str) -> str:
    return ok(data_dir, "client", "create", "acme", "--name", "Grafana", *options)


@pytest.mark.parametrize(
    "command",
    [
        ["client"],
        ["client", "create"],
        ["client", "list"],
        ["client", "revoke"],
        ["client", "rotate-secret"],
    ],
)
def test_every_client_command_explains_itself(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    assert len(result.output.splitlines()) > 4


def test_create_prints_the_client_id_and_the_secret_once(acme: Path) -> None:
    output = create(acme, "--redirect-uri", APP, "--redirect-uri", "http://localhost:3000/cb")
    client_id = CLIENT_ID.search(output)
    secret = CLIENT_SECRET.search(output)
    assert client_id is not None
    assert secret is not None
    assert "shown only this once" in output
    [row] = rows(acme)
    assert client_id.group(1) in row
    assert hashlib.sha256(secret.group(1).encode()).digest() in row
    assert secret.group(1) not in repr(row)
    assert secret.group(1) not in ok(acme, "client", "list", "acme")
    assert queued_to(acme)[-1] == "boss@example.org"


def test_a_public_client_gets_no_secret_line(acme: Path) -> None:
    output = create(acme, "--redirect-uri", APP, "--public", "--require-2fa")
    assert CLIENT_ID.search(output)
    assert "client_secret" not in output
    listed = ok(acme, "client", "list", "acme").splitlines()
    assert listed[0].split()[:4] == ["CLIENT", "ID", "NAME", "TYPE"]
    assert listed[1].split()[2:5] == ["public", "yes", "RS256"]
    assert listed[1].endswith(APP)


def test_a_client_may_choose_es256_id_tokens_and_the_list_says_so(acme: Path) -> None:
    create(acme, "--redirect-uri", APP, "--id-token-alg", "ES256")
    listed = ok(acme, "client", "list", "acme").splitlines()
    assert "ID TOKEN" in listed[0]
    assert listed[1].split()[2:5] == ["confidential", "no", "ES256"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--redirect-uri", "http://grafana.example.org/cb"], "is not a usable redirect URI"),
        (["--redirect-uri", "https://*.example.org/cb"], "is not a usable redirect URI"),
        (
            ["--redirect-uri", APP, "--post-logout-redirect-uri", "https://x.org/#f"],
            "is not a usable redirect URI",
        ),
        (["--redirect-uri", APP, "--id-token-alg", "HS256"], "choose RS256 or ES256"),
        (["--redirect-uri", APP, "--id-token-alg", "none"], "choose RS256 or ES256"),
    ],
)
def test_a_bad_uri_exits_1_with_a_clear_message_and_stores_nothing(
    acme: Path, options: list[str], message: str
) -> None:
    code, output = twofold(acme, "client", "create", "acme", "--name", "Grafana", *options)
    assert code == 1
    assert "Error:" in output
    assert message in output
    assert rows(acme) == []
    assert "client_id" not in output


def test_an_unknown_organization_is_an_error(acme: Path) -> None:
    code, output = twofold(acme, "client", "create", "nope", "--name", "X", "--redirect-uri", APP)
    assert code == 1
    assert "There is no organization 'nope'." in output


def test_list_of_an_organization_without_clients_says_so(acme: Path) -> None:
    assert "No applications registered for 'acme'." in ok(acme, "client", "list", "acme")


def test_revoke_asks_first_and_a_no_changes_nothing(acme: Path) -> None:
    client_id = CLIENT_ID.search(create(acme, "--redirect-uri", APP))
    assert client_id is not None
    before = rows(acme)
    output = ok(acme, "client", "revoke", client_id.group(1), stdin="n\n")
    assert "Not applied: nothing was changed." in output
    assert rows(acme) == before


def test_revoke_with_yes_revokes_and_tells_the_admins(acme: Path) -> None:
    client_id = CLIENT_ID.search(create(acme, "--redirect-uri", APP))
    assert client_id is not None
    output = ok(acme, "client", "revoke", client_id.group(1), "--yes")
    assert f"Revoked 'Grafana' ({client_id.group(1)})." in output
    assert queued_to(acme)[-2:] == ["boss@example.org", "boss@example.org"]
    listed = ok(acme, "client", "list", "acme").splitlines()[1]
    assert listed.split()[5] != "-"  # the revoked date
    code, again = twofold(acme, "client", "revoke", client_id.group(1), "--yes")
    assert code == 1
    assert "was already revoked. Nothing was changed." in again


def test_revoke_of_an_unknown_client_is_an_error(acme: Path) -> None:
    code, output = twofold(acme, "client", "revoke", "nope", "--yes")
    assert code == 1
    assert "There is no application with client ID 'nope'." in output


def test_rotate_secret_prints_a_new_secret_once(acme: Path) -> None:
    first = create(acme, "--redirect-uri", APP)
    client_id = CLIENT_ID.search(first)
    old = CLIENT_SECRET.search(first)
    assert client_id is not None
    assert old is not None
    output = ok(acme, "client", "rotate-secret", client_id.group(1))
    new = CLIENT_SECRET.search(output)
    assert new is not None
    assert new.group(1) != old.group(1)
    [row] = rows(acme)
    assert hashlib.sha256(new.group(1).encode()).digest() in row


def test_rotate_secret_of_a_public_client_is_refused(acme: Path) -> None:
    client_id = CLIENT_ID.search(create(acme, "--redirect-uri", APP, "--public"))
    assert client_id is not None
    before = rows(acme)
    code, output = twofold(acme, "client", "rotate-secret", client_id.group(1))
    assert code == 1
    assert "is public: it has no secret to rotate" in output
    assert rows(acme) == before
