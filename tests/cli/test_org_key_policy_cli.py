"""`twofold org policy SLUG --passkeys … --phishing-resistant … --remember-days …`
(decision 0029): the preview, the confirmation, the audit record, and the refusals."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from cli.commands import ok, runner, twofold
from support import STRONG_PASSWORD
from twofold.cli.main import app
from twofold.core.audit_events import AuditEventType
from twofold.crypto.passwords import PasswordHashingParams
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.models import AuditEvent, Organization, User, WebAuthnCredential

pytestmark = pytest.mark.usefixtures("cli_environment", "migrated_data_dir")


def _runtime(data_dir: Path) -> Runtime:
    return build_runtime(Settings(data_dir=data_dir), hashing=PasswordHashingParams.for_tests())


def create_user(data_dir: Path, login: str, *options: str) -> None:
    ok(data_dir, "user", "create", login, "--password-stdin", *options, stdin=STRONG_PASSWORD)


def give_key(data_dir: Path, login: str) -> None:
    """A registered security key (the WebAuthn registration itself is not this module's)."""
    runtime = _runtime(data_dir)
    with runtime.db() as db:
        user = db.scalar(select(User).where(User.login == login))
        assert user is not None
        db.add(
            WebAuthnCredential(
                user_id=user.id,
                name="YubiKey",
                credential_id=f"key-{login}".encode(),
                public_key=b"\x01",
                sign_count=0,
                created_at=datetime.now(UTC),
            )
        )
        db.commit()
    runtime.engine.dispose()


def settings_of(data_dir: Path, slug: str) -> tuple[str, str, int, datetime | None]:
    runtime = _runtime(data_dir)
    with runtime.db() as db:
        organization = db.scalar(select(Organization).where(Organization.slug == slug))
        assert organization is not None
        found = (
            organization.passkeys,
            organization.phishing_resistant,
            organization.remember_days,
            organization.phishing_resistant_since,
        )
    runtime.engine.dispose()
    return found


def policy_events(data_dir: Path) -> list[dict[str, object]]:
    runtime = _runtime(data_dir)
    with runtime.db() as db:
        rows = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.event == AuditEventType.ORGANIZATION_POLICY_CHANGED.value)
            .order_by(AuditEvent.id)
        )
        found = [json.loads(row.detail) for row in rows]
    runtime.engine.dispose()
    return found


def error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    """acme with admin `boss` (with a key), admin `ann` and members `bob` (with a key), `cat`."""
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "boss", "--org", "acme", "--role", "admin")
    create_user(tmp_path, "ann", "--org", "acme", "--role", "admin")
    create_user(tmp_path, "bob", "--org", "acme")
    create_user(tmp_path, "cat", "--org", "acme")
    give_key(tmp_path, "boss")
    give_key(tmp_path, "bob")
    return tmp_path


def test_org_policy_help_names_the_key_options() -> None:
    output = runner.invoke(app, ["org", "policy", "--help"]).output
    for option in ("--passkeys", "--phishing-resistant", "--remember-days"):
        assert option in output


def test_requiring_keys_of_admins_previews_who_lacks_one_and_their_grace(acme: Path) -> None:
    output = ok(
        acme,
        "org",
        "policy",
        "acme",
        "--phishing-resistant",
        "admins",
        "--grace-days",
        "10",
        "--yes",
    )
    lines = output.splitlines()
    assert "Passkeys: stays second-factor." in lines
    assert "Phishing-resistant: off -> admins." in lines
    assert "1 of 2 admins has no security key or passkey yet." in lines
    assert any(
        re.fullmatch(
            r"Those already here may put off adding one until \d{4}-\d\d-\d\d \d\d:\d\d UTC; "
            r"anyone who joins later adds one at once\.",
            line,
        )
        for line in lines
    ), output
    assert any("a code alone is not enough" in line for line in lines)
    assert "Remember this browser: stays off." in lines
    assert lines[-1] == "Applied. 2FA is optional for 'acme'."
    passkeys, resistant, remember, since = settings_of(acme, "acme")
    assert (passkeys, resistant, remember) == ("second-factor", "admins", 0)
    assert since is not None


def test_requiring_keys_of_all_without_grace_says_at_once(acme: Path) -> None:
    output = ok(acme, "org", "policy", "acme", "--phishing-resistant", "all", "--yes")
    assert "2 of 4 members have no security key or passkey yet." in output
    assert "They must add one at their next sign-in or page view." in output


def test_everyone_covered_having_a_key_says_so_and_no_grace_line(acme: Path) -> None:
    give_key(acme, "ann")
    output = ok(acme, "org", "policy", "acme", "--phishing-resistant", "admins", "--yes")
    assert "0 of 2 admins have no security key or passkey yet." in output
    assert "must add one" not in output
    assert "put off" not in output


def test_every_setting_is_applied_and_audited_before_and_after(acme: Path) -> None:
    ok(
        acme,
        "org",
        "policy",
        "acme",
        "--passkeys",
        "passwordless",
        "--phishing-resistant",
        "all",
        "--remember-days",
        "14",
        "--yes",
    )
    assert settings_of(acme, "acme")[:3] == ("passwordless", "all", 14)
    [event] = policy_events(acme)
    assert event["passkeys_before"] == "second-factor"
    assert event["passkeys_after"] == "passwordless"
    assert event["phishing_resistant_before"] == "off"
    assert event["phishing_resistant_after"] == "all"
    assert event["remember_days_before"] == "0"
    assert event["remember_days_after"] == "14"


def test_an_unchanged_setting_is_not_in_the_audit_record(acme: Path) -> None:
    ok(acme, "org", "policy", "acme", "--remember-days", "7", "--yes")
    [event] = policy_events(acme)
    assert event["remember_days_before"] == "0"
    assert event["remember_days_after"] == "7"
    assert "passkeys_before" not in event
    assert "phishing_resistant_before" not in event


def test_remember_days_preview_says_off_and_days(acme: Path) -> None:
    output = ok(acme, "org", "policy", "acme", "--remember-days", "30", "--yes")
    assert "Remember this browser: off -> 30 days." in output
    output = ok(acme, "org", "policy", "acme", "--remember-days", "0", "--yes")
    assert "Remember this browser: 30 days -> off." in output


def test_turning_passkeys_off_says_how_many_have_one(acme: Path) -> None:
    output = ok(acme, "org", "policy", "acme", "--passkeys", "off", "--yes")
    assert "Passkeys: second-factor -> off." in output
    assert "2 members with a security key or passkey will no longer be able to use it here." in (
        output
    )
    assert settings_of(acme, "acme")[0] == "off"


def test_without_key_options_the_preview_says_nothing_of_keys(acme: Path) -> None:
    output = ok(acme, "org", "policy", "acme", "--two-factor", "required", "--yes")
    assert "Passkeys" not in output
    assert "Phishing-resistant" not in output
    assert "Remember this browser" not in output


def test_declining_changes_nothing_and_records_nothing(acme: Path) -> None:
    code, output = twofold(
        acme, "org", "policy", "acme", "--phishing-resistant", "all", stdin="n\n"
    )
    assert code == 0, output
    assert output.index("Phishing-resistant: off -> all.") < output.index("Apply?")
    assert output.rstrip().endswith("Not applied: nothing was changed.")
    assert settings_of(acme, "acme") == ("second-factor", "off", 0, None)
    assert policy_events(acme) == []


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--passkeys", "on", "Error: Passkeys must be one of: off, second-factor, passwordless."),
        (
            "--phishing-resistant",
            "admin",
            "Error: Phishing-resistant must be one of: off, admins, all.",
        ),
        (
            "--remember-days",
            "31",
            "Error: Remember-this-browser days are a whole number from 0 (off) to 30.",
        ),
        (
            "--remember-days",
            "-1",
            "Error: Remember-this-browser days are a whole number from 0 (off) to 30.",
        ),
        (
            "--remember-days",
            "two",
            "Error: Remember-this-browser days are a whole number from 0 (off) to 30.",
        ),
    ],
)
def test_a_bad_value_is_a_clear_error_and_changes_nothing(
    acme: Path, option: str, value: str, message: str
) -> None:
    code, output = twofold(acme, "org", "policy", "acme", option, value, "--yes")
    assert code == 1
    assert error_line(output) == message
    assert settings_of(acme, "acme") == ("second-factor", "off", 0, None)
    assert policy_events(acme) == []


def test_requiring_keys_while_they_are_off_is_refused(acme: Path) -> None:
    code, output = twofold(
        acme, "org", "policy", "acme", "--passkeys", "off", "--phishing-resistant", "all", "--yes"
    )
    assert code == 1
    assert "cannot be required while they are turned off" in error_line(output)
    assert settings_of(acme, "acme") == ("second-factor", "off", 0, None)
    ok(acme, "org", "policy", "acme", "--phishing-resistant", "all", "--yes")
    code, output = twofold(acme, "org", "policy", "acme", "--passkeys", "off", "--yes")
    assert code == 1
    assert settings_of(acme, "acme")[:2] == ("second-factor", "all")
