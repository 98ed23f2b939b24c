"""`twofold user reset-2fa` and `twofold user deactivate`, as an operator uses them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select

from cli.commands import ok, runner, twofold
from support import SMS_COUNTRIES, STRONG_PASSWORD, CapturingSms, columns_holding
from twofold.cli.main import app
from twofold.core.errors import InvalidCredentials
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import unix_time
from twofold.services import account, links, organizations, signin, sms, users
from twofold.services.member_actions import REENROLL_PURPOSE
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.models import (
    AuditEvent,
    Authenticator,
    AuthSession,
    OutgoingEmail,
    RecoveryCode,
    SmsChallenge,
    User,
)

pytestmark = pytest.mark.usefixtures("cli_environment", "migrated_data_dir")

LINK = re.compile(r"https?://\S+/reenroll/([A-Za-z0-9_-]+)")


def error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def runtime_for(data_dir: Path) -> Runtime:
    return build_runtime(Settings(data_dir=data_dir), hashing=PasswordHashingParams.for_tests())


def create_user(data_dir: Path, login: str, *options: str) -> None:
    ok(data_dir, "user", "create", login, "--password-stdin", *options, stdin=STRONG_PASSWORD)


def with_2fa(data_dir: Path, login: str) -> None:
    runtime = runtime_for(data_dir)
    with runtime.db() as db:
        user = users.get_by_login(db, login)
        pending = account.begin_totp_enrollment(db, runtime, user)
        code = pyotp.TOTP(pending.secret_b32).at(unix_time(runtime.now()))
        account.confirm_totp_enrollment(db, runtime, user, code, ClientInfo())
    runtime.engine.dispose()


def sign_in(data_dir: Path, login: str) -> None:
    runtime = runtime_for(data_dir)
    with runtime.db() as db:
        signin.sign_in_with_password(
            db, runtime, login=login, password=STRONG_PASSWORD, client=ClientInfo()
        )
    runtime.engine.dispose()


def state(data_dir: Path, login: str) -> dict[str, object]:
    """What an operator would check: 2FA, codes, sessions, the reset flag, queued mail."""
    runtime = runtime_for(data_dir)
    with runtime.db() as db:
        user = users.get_by_login(db, login)

        def count(column: object) -> int:
            return int(db.scalar(select(func.count()).where(column == user.id)) or 0)  # type: ignore[operator]

        result = {
            "two_factor": users.has_two_factor(db, user.id),
            "codes": count(RecoveryCode.user_id),
            "sessions": count(AuthSession.user_id),
            "reset_pending": user.two_factor_reset_at is not None,
            "active": user.is_active,
            "reset_mails": int(
                db.scalar(
                    select(func.count()).where(
                        OutgoingEmail.user_id == user.id, OutgoingEmail.kind == "two_factor_reset"
                    )
                )
                or 0
            ),
        }
    runtime.engine.dispose()
    return result


def audit(data_dir: Path, event: str) -> list[AuditEvent]:
    runtime = runtime_for(data_dir)
    with runtime.db() as db:
        rows = list(db.scalars(select(AuditEvent).where(AuditEvent.event == event)))
    runtime.engine.dispose()
    return rows


@pytest.fixture
def dave(tmp_path: Path) -> str:
    """A user with a confirmed address, 2FA on and one session."""
    create_user(tmp_path, "dave", "--email", "dave@example.org")
    with_2fa(tmp_path, "dave")
    sign_in(tmp_path, "dave")
    return "dave"


@pytest.fixture
def nomail(tmp_path: Path) -> str:
    """A user without an email address, with 2FA on."""
    create_user(tmp_path, "nomail")
    with_2fa(tmp_path, "nomail")
    return "nomail"


# --- help ----------------------------------------------------------------------------------


def help_text(*command: str) -> str:
    """The help as words: box drawing and line wrapping taken out."""
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())


def test_reset_2fa_help_names_its_options() -> None:
    text = help_text("user", "reset-2fa")
    assert "Usage: twofold user reset-2fa [OPTIONS] {login}" in text
    for option in ("--reason", "--yes", "--print-link", "Login name or email."):
        assert option in text
    assert "Reset a user's 2FA (lost phone)" in text
    assert "single-use link (24 h)" in text


def test_deactivate_help_says_what_it_does() -> None:
    text = help_text("user", "deactivate")
    assert "Usage: twofold user deactivate [OPTIONS] {login}" in text
    assert "Deactivate an account: it cannot sign in, and its sessions end at once." in text


def test_the_user_group_lists_both_commands() -> None:
    output = runner.invoke(app, ["user", "--help"]).output
    assert "reset-2fa" in output
    assert "deactivate" in output


# --- reset-2fa -----------------------------------------------------------------------------


def test_reset_2fa_removes_2fa_codes_and_sessions(tmp_path: Path, dave: str) -> None:
    output = ok(tmp_path, "user", "reset-2fa", dave, "--reason", "lost phone", "--yes")
    assert "Reset two-factor authentication of 'dave'." in output
    assert "emailed to their confirmed address" in output
    assert state(tmp_path, dave) == {
        "two_factor": False,
        "codes": 0,
        "sessions": 0,
        "reset_pending": True,
        "active": True,
        "reset_mails": 1,
    }


def test_reset_2fa_removes_the_phone_its_codes_and_its_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_SMS_ALLOWED_COUNTRIES", SMS_COUNTRIES)
    create_user(tmp_path, "erin", "--email", "erin@example.org")
    ok(tmp_path, "org", "policy", "default", "--methods", "totp,sms", "--yes")
    runtime = build_runtime(
        Settings(data_dir=tmp_path, sms_allowed_countries=SMS_COUNTRIES),
        hashing=PasswordHashingParams.for_tests(),
    )
    texts = CapturingSms()
    runtime.sms = texts
    with runtime.db() as db:
        user = users.get_by_login(db, "erin")
        current = organizations.membership_views(db, user)[0]
        sms.begin_phone(
            db, runtime, user, phone="+447400123456", current=current, client=ClientInfo()
        )
        sms.confirm_phone(db, runtime, user, texts.last_code(), ClientInfo())
        sealed = db.scalar(
            select(Authenticator.secret_sealed).where(Authenticator.user_id == user.id)
        )
        assert sealed is not None
        assert db.scalar(select(func.count()).select_from(SmsChallenge)) == 1

    output = ok(tmp_path, "user", "reset-2fa", "erin", "--reason", "lost phone", "--yes")
    assert "Reset two-factor authentication of 'erin'." in output
    assert "7400" not in output
    with runtime.db() as db:
        assert db.scalar(select(func.count()).select_from(Authenticator)) == 0
        assert db.scalar(select(func.count()).select_from(SmsChallenge)) == 0
        assert db.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    assert columns_holding(runtime, sealed, "+447400123456") == []
    runtime.engine.dispose()
    assert state(tmp_path, "erin")["two_factor"] is False


def test_reset_2fa_is_recorded_with_the_reason_and_no_admin(tmp_path: Path, dave: str) -> None:
    ok(tmp_path, "user", "reset-2fa", dave, "--reason", "called the help desk", "--yes")
    [event] = audit(tmp_path, "two_factor.reset_by_admin")
    assert event.actor_id is None
    assert json.loads(event.detail) == {"reason": "called the help desk", "sessions_ended": 1}


def test_reset_2fa_does_not_print_the_link_it_emails(tmp_path: Path, dave: str) -> None:
    output = ok(tmp_path, "user", "reset-2fa", dave, "--reason", "lost phone", "--yes")
    assert "/reenroll/" not in output


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reset_2fa_without_a_reason_is_a_clear_error(
    tmp_path: Path, dave: str, reason: str | None
) -> None:
    args = ["user", "reset-2fa", dave, "--yes"] + ([] if reason is None else ["--reason", reason])
    exit_code, output = twofold(tmp_path, *args)
    assert exit_code == 1
    assert error_line(output) == (
        "Error: Say why you are resetting (it goes into the audit log). Use --reason TEXT."
    )
    assert state(tmp_path, dave)["two_factor"] is True
    assert state(tmp_path, dave)["sessions"] == 1


def test_reset_2fa_without_a_reason_asks_nothing_first(tmp_path: Path, dave: str) -> None:
    exit_code, output = twofold(tmp_path, "user", "reset-2fa", dave, stdin="y\n")
    assert exit_code == 1
    assert "Reset?" not in output
    assert "--reason" in error_line(output)
    assert state(tmp_path, dave)["two_factor"] is True


def test_reset_2fa_asks_before_acting_and_a_no_changes_nothing_without_error(
    tmp_path: Path, dave: str
) -> None:
    exit_code, output = twofold(
        tmp_path, "user", "reset-2fa", dave, "--reason", "lost phone", stdin="n\n"
    )
    assert exit_code == 0, output  # declining is an answer, not an error
    assert output.index("signs them out everywhere") < output.index("Reset?")
    assert output.rstrip().endswith("Not applied: nothing was changed."), output
    assert "Error" not in output
    assert "Reset two-factor authentication of" not in output
    assert state(tmp_path, dave)["two_factor"] is True
    assert state(tmp_path, dave)["sessions"] == 1
    assert audit(tmp_path, "two_factor.reset_by_admin") == []


def test_reset_2fa_asks_before_acting_and_a_yes_resets(tmp_path: Path, dave: str) -> None:
    ok(tmp_path, "user", "reset-2fa", dave, "--reason", "lost phone", stdin="y\n")
    assert state(tmp_path, dave)["two_factor"] is False


def test_reset_2fa_of_someone_without_an_address_needs_print_link(
    tmp_path: Path, nomail: str
) -> None:
    exit_code, output = twofold(tmp_path, "user", "reset-2fa", nomail, "--reason", "x", "--yes")
    assert exit_code == 1
    assert "--print-link" in error_line(output)
    assert state(tmp_path, nomail)["two_factor"] is True


def test_reset_2fa_print_link_prints_a_working_reenroll_link(tmp_path: Path, nomail: str) -> None:
    output = ok(
        tmp_path, "user", "reset-2fa", nomail, "--reason", "at the desk", "--yes", "--print-link"
    )
    match = LINK.search(output)
    assert match, output
    assert "Link (single use, 24 hours):" in output
    assert state(tmp_path, nomail)["two_factor"] is False
    runtime = runtime_for(tmp_path)
    with runtime.db() as db:
        row = links.peek(db, runtime, purpose=REENROLL_PURPOSE, token=match.group(1))
        assert row.user_id == users.get_by_login(db, nomail).id
    runtime.engine.dispose()


def test_reset_2fa_print_link_sends_no_email(tmp_path: Path, dave: str) -> None:
    output = ok(tmp_path, "user", "reset-2fa", dave, "--reason", "desk", "--yes", "--print-link")
    assert LINK.search(output)
    assert state(tmp_path, dave)["reset_mails"] == 0


def test_reset_2fa_of_an_unknown_user_is_a_clear_error(tmp_path: Path) -> None:
    exit_code, output = twofold(tmp_path, "user", "reset-2fa", "ghost", "--reason", "x", "--yes")
    assert exit_code == 1
    assert error_line(output) == "Error: There is no user 'ghost'."


def test_reset_2fa_accepts_the_email_address(tmp_path: Path, dave: str) -> None:
    ok(tmp_path, "user", "reset-2fa", "dave@example.org", "--reason", "lost phone", "--yes")
    assert state(tmp_path, dave)["two_factor"] is False


@pytest.fixture
def erin(tmp_path: Path) -> str:
    """A user with a confirmed address and one session who never set up 2FA."""
    create_user(tmp_path, "erin", "--email", "erin@example.org")
    sign_in(tmp_path, "erin")
    return "erin"


def test_reset_2fa_of_someone_without_2fa_is_refused_and_changes_nothing(
    tmp_path: Path, erin: str
) -> None:
    before = state(tmp_path, erin)
    exit_code, output = twofold(tmp_path, "user", "reset-2fa", erin, "--reason", "x", "--yes")
    assert exit_code == 1
    assert error_line(output) == (
        "Error: erin has not set up two-factor authentication, so there is nothing to reset: "
        "they sign in with their password alone. Nothing was changed."
    )
    assert state(tmp_path, erin) == before
    assert before["reset_pending"] is False
    assert audit(tmp_path, "two_factor.reset_by_admin") == []


def test_reset_2fa_of_someone_without_2fa_asks_nothing_first(tmp_path: Path, erin: str) -> None:
    exit_code, output = twofold(tmp_path, "user", "reset-2fa", erin, "--reason", "x", stdin="y\n")
    assert exit_code == 1
    assert "Reset?" not in output
    assert "nothing to reset" in error_line(output)
    assert state(tmp_path, erin)["reset_pending"] is False


def test_reset_2fa_print_link_of_someone_without_2fa_prints_no_link(
    tmp_path: Path, erin: str
) -> None:
    exit_code, output = twofold(
        tmp_path, "user", "reset-2fa", erin, "--reason", "x", "--yes", "--print-link"
    )
    assert exit_code == 1
    assert not LINK.search(output)
    assert state(tmp_path, erin)["reset_pending"] is False


def test_a_waiting_reset_can_be_sent_again(tmp_path: Path, dave: str) -> None:
    """The first link may have expired: a new reset is the way to a new link."""
    ok(tmp_path, "user", "reset-2fa", dave, "--reason", "lost phone", "--yes")
    ok(tmp_path, "user", "reset-2fa", dave, "--reason", "link expired", "--yes")
    assert state(tmp_path, dave)["reset_mails"] == 2


def test_user_show_agrees_with_the_console_about_a_reset(tmp_path: Path, dave: str) -> None:
    assert re.search(r"Two-factor:\s+on\n", ok(tmp_path, "user", "show", dave))
    ok(tmp_path, "user", "reset-2fa", dave, "--reason", "lost phone", "--yes")
    shown = ok(tmp_path, "user", "show", dave)
    assert re.search(r"Two-factor:\s+off — reset, waiting for the member to set it up again", shown)


def test_user_show_of_someone_without_2fa_says_off(tmp_path: Path, erin: str) -> None:
    twofold(tmp_path, "user", "reset-2fa", erin, "--reason", "x", "--yes")
    assert re.search(r"Two-factor:\s+off\n", ok(tmp_path, "user", "show", erin))


# --- deactivate ----------------------------------------------------------------------------


def test_deactivate_ends_the_sessions_and_says_so(tmp_path: Path, dave: str) -> None:
    sign_in(tmp_path, dave)
    output = ok(tmp_path, "user", "deactivate", dave)
    assert "Deactivated 'dave'; their sessions have ended." in output
    current = state(tmp_path, dave)
    assert (current["active"], current["sessions"]) == (False, 0)
    [event] = audit(tmp_path, "user.deactivated")
    assert event.actor_id is None
    assert json.loads(event.detail) == {"sessions_ended": 2}


def test_a_deactivated_user_cannot_sign_in(tmp_path: Path, dave: str) -> None:
    ok(tmp_path, "user", "deactivate", dave)
    runtime = runtime_for(tmp_path)
    with runtime.db() as db, pytest.raises(InvalidCredentials):
        signin.sign_in_with_password(
            db, runtime, login=dave, password=STRONG_PASSWORD, client=ClientInfo()
        )
    runtime.engine.dispose()


def test_deactivate_shows_in_user_show(tmp_path: Path, dave: str) -> None:
    ok(tmp_path, "user", "deactivate", dave)
    assert re.search(r"Active:\s+no", ok(tmp_path, "user", "show", dave))


def test_deactivate_of_an_unknown_user_is_a_clear_error(tmp_path: Path) -> None:
    exit_code, output = twofold(tmp_path, "user", "deactivate", "ghost")
    assert exit_code == 1
    assert error_line(output) == "Error: There is no user 'ghost'."


# --- unlock --------------------------------------------------------------------------------


def test_unlock_is_recorded(tmp_path: Path, dave: str) -> None:
    runtime = runtime_for(tmp_path)
    with runtime.db() as db:
        user = db.scalar(select(User).where(User.login == dave))
        assert user is not None
        user.failed_code_count = 100
        db.commit()
    runtime.engine.dispose()
    ok(tmp_path, "user", "unlock", dave)
    [event] = audit(tmp_path, "second_factor.unlocked")
    assert event.actor_id is None


def test_user_show_and_list_name_each_method_and_never_a_secret(tmp_path: Path, dave: str) -> None:
    shown = ok(tmp_path, "user", "show", dave)
    assert re.search(r"Methods:\s+1\n  - Authenticator app \(authenticator app\), added ", shown)
    assert "last used never" in shown
    with runtime_for(tmp_path).db() as db:
        (row,) = db.scalars(select(Authenticator)).all()
        sealed = row.secret_sealed.hex()
    assert sealed not in shown
    listed = ok(tmp_path, "user", "list")
    assert re.search(r"^LOGIN\s+2FA\s+METHODS\s+CODES", listed, re.M)
    assert re.search(r"^dave\s+on\s+1\s+10\s", listed, re.M)


def test_user_show_after_a_reset_lists_no_methods(tmp_path: Path, dave: str) -> None:
    ok(tmp_path, "user", "reset-2fa", dave, "--reason", "lost phone", "--yes")
    assert re.search(r"Methods:\s+none\n", ok(tmp_path, "user", "show", dave))
