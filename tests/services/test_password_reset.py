"""Password reset by email: only a verified address gets a link; the link works once, for 30
minutes, is stored hashed, and never signs anyone in or turns 2FA off."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from smtp_server import SmtpServer, running_smtp_server
from support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, Person, make_person, snapshot
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    PasswordAttemptsThrottled,
    WeakPassword,
)
from twofold.core.sessions import SessionState
from twofold.otp.clock import FixedClock
from twofold.services import email_addresses, password_reset, users
from twofold.services.password_reset import LIFETIME, RESEND_AFTER
from twofold.services.runtime import ClientInfo, Runtime
from twofold.settings import Settings
from twofold.store.models import AuthSession, OneTimeToken, OutgoingEmail, User

ALICE = "alice@example.org"
BOB = "bob@example.org"
BASE = "https://id.example.org/"
CLIENT = ClientInfo(ip="203.0.113.7", user_agent="Mozilla/5.0 (pytest browser)")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Links in emails start with the configured public URL."""
    return settings.model_copy(update={"base_url": BASE})


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def alice(runtime: Runtime) -> Person:
    return make_person(runtime, "alice", email=ALICE)


def request(runtime: Runtime, address: str) -> None:
    with runtime.db() as db:
        password_reset.request_reset(db, runtime, address=address, client=CLIENT)


def link_for(runtime: Runtime, smtp: SmtpServer, address: str) -> str:
    """Ask for a reset of `address` and read the token from the message that arrives."""
    smtp.clear()
    request(runtime, address)
    smtp.deliver(runtime)
    message = smtp.only("reset your password", address)
    assert message.link.startswith("https://id.example.org/password/reset/")
    return message.link.rsplit("/", 1)[1]


def complete(
    runtime: Runtime, token: str, new: str = OTHER_STRONG_PASSWORD, confirm: str | None = None
) -> password_reset.ResetDone:
    with runtime.db() as db:
        return password_reset.complete_reset(
            db,
            runtime,
            token=token,
            new_password=new,
            confirm_password=new if confirm is None else confirm,
            client=CLIENT,
        )


def password_works(runtime: Runtime, login: str, password: str) -> bool:
    with runtime.db() as db:
        user = db.scalar(select(User).where(User.login == login))
        assert user is not None
        return runtime.hasher.verify(user.password_hash, password)


def outgoing(runtime: Runtime) -> list[OutgoingEmail]:
    with runtime.db() as db:
        return list(db.scalars(select(OutgoingEmail).order_by(OutgoingEmail.id)))


def tokens(runtime: Runtime) -> list[OneTimeToken]:
    with runtime.db() as db:
        return list(db.scalars(select(OneTimeToken).order_by(OneTimeToken.id)))


def test_a_verified_address_gets_a_reset_link(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    request(runtime, ALICE)
    smtp.deliver(runtime)
    message = smtp.only("reset your password", ALICE)
    assert "works once, for 30 minutes" in message.text
    assert "does not turn off two-factor authentication" in message.text
    assert message.link.startswith("https://id.example.org/password/reset/")
    assert message.link in message.html


def test_the_address_is_matched_whatever_its_case_and_spaces(
    runtime: Runtime, alice: Person
) -> None:
    request(runtime, "  Alice@Example.ORG ")
    [message] = outgoing(runtime)
    assert message.recipient == ALICE
    assert message.kind == "password_reset"


def test_an_unknown_address_gets_nothing_and_is_recorded_without_the_address(
    runtime: Runtime, steps, alice: Person
) -> None:
    request(runtime, "nobody@example.org")
    assert outgoing(runtime) == []
    assert tokens(runtime) == []
    [event] = steps.events(AuditEventType.PASSWORD_RESET_REQUESTED)
    assert event.user_id is None
    assert steps.detail(event) == {"outcome": "no_verified_account"}
    assert "nobody" not in event.detail


def test_an_unverified_address_gets_no_link(runtime: Runtime, steps) -> None:
    with runtime.db() as db:
        users.create_user(db, runtime, login="carol", password=STRONG_PASSWORD, email=ALICE)
        db.commit()
    request(runtime, ALICE)
    assert outgoing(runtime) == []
    assert tokens(runtime) == []
    [event] = steps.events(AuditEventType.PASSWORD_RESET_REQUESTED)
    assert event.user_id is None


def test_a_deactivated_account_gets_no_link(runtime: Runtime, alice: Person) -> None:
    with runtime.db() as db:
        db.execute(update(User).where(User.id == alice.id).values(is_active=False))
        db.commit()
    request(runtime, ALICE)
    assert outgoing(runtime) == []


def test_a_login_name_is_not_an_address(runtime: Runtime, alice: Person) -> None:
    request(runtime, "alice")
    assert outgoing(runtime) == []


def test_asking_again_within_a_minute_sends_the_new_link_only_once_the_minute_passed(
    runtime: Runtime, alice: Person, clock: FixedClock, smtp: SmtpServer
) -> None:
    request(runtime, ALICE)
    smtp.deliver(runtime)
    clock.advance(RESEND_AFTER.total_seconds() - 1)
    request(runtime, ALICE)
    smtp.deliver(runtime)
    assert len(smtp.about("reset your password", ALICE)) == 1
    clock.advance(1)
    smtp.deliver(runtime)
    first, second = smtp.about("reset your password", ALICE)
    with runtime.db() as db:
        assert password_reset.check_link(db, runtime, second.link.rsplit("/", 1)[1])
        with pytest.raises(InvalidToken):
            password_reset.check_link(db, runtime, first.link.rsplit("/", 1)[1])


def test_a_new_link_makes_the_earlier_one_stop_working(
    runtime: Runtime, smtp: SmtpServer, alice: Person, clock: FixedClock
) -> None:
    first = link_for(runtime, smtp, ALICE)
    clock.advance(RESEND_AFTER.total_seconds())
    second = link_for(runtime, smtp, ALICE)
    assert first != second
    with runtime.db() as db, pytest.raises(InvalidToken):
        password_reset.check_link(db, runtime, first)
    complete(runtime, second)
    assert password_works(runtime, "alice", OTHER_STRONG_PASSWORD)


def test_the_link_is_stored_only_as_its_sha256(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    token = link_for(runtime, smtp, ALICE)
    [row] = tokens(runtime)
    assert row.token_digest == hashlib.sha256(token.encode()).digest()
    assert row.purpose == "password_reset"
    everything = repr(snapshot(runtime))
    assert token not in everything
    assert token.encode() not in b"".join(
        value
        for rows in snapshot(runtime).values()
        for row_values in rows
        for value in row_values
        if isinstance(value, bytes)
    )


def test_opening_the_link_does_not_use_it_up(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    token = link_for(runtime, smtp, ALICE)
    for _ in range(3):
        with runtime.db() as db:
            assert password_reset.check_link(db, runtime, token).login == "alice"
    complete(runtime, token)
    assert password_works(runtime, "alice", OTHER_STRONG_PASSWORD)


def test_the_link_works_only_once(runtime: Runtime, smtp: SmtpServer, alice: Person) -> None:
    token = link_for(runtime, smtp, ALICE)
    complete(runtime, token)
    with pytest.raises(InvalidToken):
        complete(runtime, token, new="yet another fine passphrase")
    assert password_works(runtime, "alice", OTHER_STRONG_PASSWORD)


def test_the_link_still_works_just_before_30_minutes(
    runtime: Runtime, smtp: SmtpServer, alice: Person, clock: FixedClock
) -> None:
    token = link_for(runtime, smtp, ALICE)
    clock.advance(LIFETIME.total_seconds() - 1)
    complete(runtime, token)
    assert password_works(runtime, "alice", OTHER_STRONG_PASSWORD)


def test_the_link_expires_after_30_minutes_and_changes_nothing(
    runtime: Runtime, smtp: SmtpServer, alice: Person, clock: FixedClock
) -> None:
    token = link_for(runtime, smtp, ALICE)
    clock.advance(LIFETIME.total_seconds())
    before = snapshot(runtime)
    with pytest.raises(InvalidToken):
        complete(runtime, token)
    assert snapshot(runtime) == before


@pytest.mark.parametrize("forged", ["", "x", "A" * 43, "A" * 500, "../../etc/passwd"])
def test_a_forged_link_is_invalid(runtime: Runtime, alice: Person, forged: str) -> None:
    with runtime.db() as db, pytest.raises(InvalidToken):
        password_reset.check_link(db, runtime, forged)


def test_a_verification_link_is_not_a_reset_link(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        email_addresses.send_verification(db, runtime, user, "alice2@example.org")
        db.commit()
    smtp.deliver(runtime)
    token = smtp.only("confirm your email address").link.rsplit("/", 1)[1]
    before = snapshot(runtime)
    with pytest.raises(InvalidToken):
        complete(runtime, token)
    assert snapshot(runtime) == before


def test_a_weak_password_is_refused_and_the_link_still_works(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    token = link_for(runtime, smtp, ALICE)
    before = snapshot(runtime)
    with pytest.raises(WeakPassword):
        complete(runtime, token, new="password123")
    assert snapshot(runtime) == before
    complete(runtime, token)
    assert password_works(runtime, "alice", OTHER_STRONG_PASSWORD)


def test_two_different_passwords_are_refused_and_the_link_still_works(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    token = link_for(runtime, smtp, ALICE)
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as refused:
        complete(runtime, token, confirm="something else entirely")
    assert refused.value.field == "confirm_password"
    assert snapshot(runtime) == before
    assert password_works(runtime, "alice", STRONG_PASSWORD)


def test_without_2fa_a_reset_signs_no_one_in(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps
) -> None:
    done = complete(runtime, link_for(runtime, smtp, ALICE))
    assert done.pending_session is None
    assert done.token is None
    with runtime.db() as db:
        assert db.scalars(select(AuthSession)).all() == []
    assert not password_works(runtime, "alice", STRONG_PASSWORD)
    with pytest.raises(InvalidCredentials):
        steps.sign_in(alice)
    assert steps.sign_in(alice, OTHER_STRONG_PASSWORD).session.state == SessionState.AUTHENTICATED


def test_with_2fa_a_reset_ends_at_the_code_prompt_and_2fa_stays_on(
    runtime: Runtime, smtp: SmtpServer, steps, clock: FixedClock
) -> None:
    person = make_person(runtime, "alice", email=ALICE, with_totp=True)
    clock.advance(30)
    done = complete(runtime, link_for(runtime, smtp, ALICE))
    assert done.token is not None
    session = steps.find(done.token)
    assert session is not None
    assert session.state == SessionState.PASSWORD_VERIFIED
    assert session.amr == "pwd"
    with runtime.db() as db:
        assert users.has_two_factor(db, person.id)
        assert users.recovery_codes_left(db, person.id) == 10
    authenticated = steps.totp(done.token, person.totp(clock))
    found = steps.find(authenticated)
    assert found is not None
    assert found.state == SessionState.AUTHENTICATED


def test_a_reset_ends_every_session_of_the_account_and_no_other(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps
) -> None:
    bob = make_person(runtime, "bob", email=BOB)
    alices = [steps.sign_in(alice).token for _ in range(3)]
    bobs = steps.sign_in(bob).token
    complete(runtime, link_for(runtime, smtp, ALICE))
    assert all(steps.find(token) is None for token in alices)
    assert steps.find(bobs) is not None
    [event] = steps.events(AuditEventType.PASSWORD_RESET)
    assert event.user_id == alice.id
    assert steps.detail(event) == {"sessions_ended": 3}


def test_a_reset_link_changes_only_its_own_account(
    runtime: Runtime, smtp: SmtpServer, alice: Person, clock: FixedClock
) -> None:
    make_person(runtime, "bob", email=BOB)
    alices = link_for(runtime, smtp, ALICE)
    bobs = link_for(runtime, smtp, BOB)
    with runtime.db() as db:
        assert password_reset.check_link(db, runtime, alices).login == "alice"
        assert password_reset.check_link(db, runtime, bobs).login == "bob"
    complete(runtime, alices)
    assert password_works(runtime, "alice", OTHER_STRONG_PASSWORD)
    assert password_works(runtime, "bob", STRONG_PASSWORD)
    # bob's own link is untouched by alice's reset
    with runtime.db() as db:
        assert password_reset.check_link(db, runtime, bobs).login == "bob"


def test_a_reset_is_notified_as_a_password_change(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    complete(runtime, link_for(runtime, smtp, ALICE))
    smtp.clear()
    smtp.deliver(runtime)
    notice = smtp.only("password changed", ALICE)
    assert OTHER_STRONG_PASSWORD not in notice.text


def test_a_reset_clears_the_wait_after_wrong_passwords(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps
) -> None:
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            steps.sign_in(alice, "wrong password, sorry")
    with pytest.raises(PasswordAttemptsThrottled):
        steps.sign_in(alice)
    complete(runtime, link_for(runtime, smtp, ALICE))
    assert steps.sign_in(alice, OTHER_STRONG_PASSWORD).token
