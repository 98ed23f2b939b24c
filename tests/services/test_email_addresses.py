"""Email addresses count once confirmed by a link; changing one asks for the password (and
the code with 2FA on), tells the old address, and happens only when the link is used."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from smtp_server import SmtpServer, running_smtp_server
from support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, Person, make_person, snapshot
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    AlreadyExists,
    CodeReused,
    InvalidCode,
    InvalidInput,
    InvalidToken,
    SecondFactorLocked,
    WrongPassword,
)
from twofold.core.policy import TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.services import account, email_addresses, organizations, password_reset, signup
from twofold.services.email_addresses import LIFETIME
from twofold.services.runtime import ClientInfo, Runtime
from twofold.settings import Settings
from twofold.store.models import OneTimeToken, OutgoingEmail, User

ALICE = "alice@example.org"
NEW = "alice.new@example.org"
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


@pytest.fixture
def alice_2fa(runtime: Runtime, clock: FixedClock, smtp: SmtpServer) -> Person:
    person = make_person(runtime, "alice", email=ALICE, with_totp=True)
    clock.advance(30)
    smtp.deliver(runtime)
    smtp.clear()
    return person


@contextmanager
def as_user(runtime: Runtime, person: Person) -> Iterator[tuple[Session, User]]:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        yield db, user


def user_row(runtime: Runtime, login: str) -> User:
    with runtime.db() as db:
        user = db.scalar(select(User).where(User.login == login))
        assert user is not None
        return user


def change(
    runtime: Runtime,
    person: Person,
    new_address: str = NEW,
    *,
    password: str | None = None,
    code: str = "",
) -> str:
    with as_user(runtime, person) as (db, user):
        return email_addresses.request_change(
            db,
            runtime,
            user,
            new_address=new_address,
            password=person.password if password is None else password,
            code=code,
            client=CLIENT,
        )


def token_sent_to(smtp: SmtpServer, runtime: Runtime, address: str) -> str:
    smtp.deliver(runtime)
    message = smtp.only("confirm your email address", address)
    assert message.link.startswith("https://id.example.org/email/verify/")
    return message.link.rsplit("/", 1)[1]


def confirm(runtime: Runtime, token: str) -> User:
    with runtime.db() as db:
        return email_addresses.confirm(db, runtime, token, CLIENT)


def queued_count(runtime: Runtime) -> int:
    with runtime.db() as db:
        return len(db.scalars(select(OutgoingEmail.id)).all())


def sign_up_newbie(runtime: Runtime) -> None:
    with runtime.db() as db:
        organizations.create_organization(
            db,
            runtime,
            slug="club",
            name=None,
            two_factor=TwoFactorPolicy.OPTIONAL,
            signup_open=True,
        )
        db.commit()
    with runtime.db() as db:
        signup.sign_up(
            db,
            runtime,
            slug="club",
            login="newbie",
            email="Newbie@Example.org",
            password=STRONG_PASSWORD,
            client=CLIENT,
        )


def test_sign_up_sends_a_verification_link_and_the_address_is_unverified_until_used(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    sign_up_newbie(runtime)
    assert user_row(runtime, "newbie").email_verified_at is None
    token = token_sent_to(smtp, runtime, "newbie@example.org")
    message = smtp.only("confirm your email address")
    assert "The link works for 24 hours." in message.text
    assert user_row(runtime, "newbie").email_verified_at is None
    confirm(runtime, token)
    newbie = user_row(runtime, "newbie")
    assert newbie.email == "newbie@example.org"
    assert newbie.email_verified_at == runtime.now()


def test_no_notice_goes_to_an_address_before_it_is_confirmed(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    sign_up_newbie(runtime)
    newbie = Person(id=user_row(runtime, "newbie").id, login="newbie", password=STRONG_PASSWORD)
    token = token_sent_to(smtp, runtime, "newbie@example.org")
    smtp.clear()
    with as_user(runtime, newbie) as (db, user):
        account.change_password(
            db,
            runtime,
            user,
            current_password=STRONG_PASSWORD,
            new_password=OTHER_STRONG_PASSWORD,
            confirm_password=OTHER_STRONG_PASSWORD,
            keep_session_id=None,
            client=CLIENT,
        )
    smtp.deliver(runtime)
    assert smtp.received == []
    confirm(runtime, token)
    newbie.password = OTHER_STRONG_PASSWORD
    with as_user(runtime, newbie) as (db, user):
        account.change_password(
            db,
            runtime,
            user,
            current_password=OTHER_STRONG_PASSWORD,
            new_password=STRONG_PASSWORD,
            confirm_password=STRONG_PASSWORD,
            keep_session_id=None,
            client=CLIENT,
        )
    smtp.deliver(runtime)
    smtp.only("password changed", "newbie@example.org")


def test_opening_a_verification_link_does_not_use_it_up(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    change(runtime, alice)
    token = token_sent_to(smtp, runtime, NEW)
    for _ in range(3):
        with runtime.db() as db:
            user, address = email_addresses.pending_address(db, runtime, token)
            assert (user.login, address) == ("alice", NEW)
    assert user_row(runtime, "alice").email == ALICE
    confirm(runtime, token)
    assert user_row(runtime, "alice").email == NEW


def test_the_link_is_stored_hashed_with_the_address_it_confirms(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    change(runtime, alice)
    token = token_sent_to(smtp, runtime, NEW)
    with runtime.db() as db:
        [row] = db.scalars(select(OneTimeToken)).all()
    assert row.purpose == "verify_email"
    assert row.token_digest == hashlib.sha256(token.encode()).digest()
    assert row.payload == NEW
    assert token not in repr(snapshot(runtime))


def test_a_verification_link_works_once(runtime: Runtime, smtp: SmtpServer, alice: Person) -> None:
    change(runtime, alice)
    token = token_sent_to(smtp, runtime, NEW)
    confirm(runtime, token)
    before = snapshot(runtime)
    with pytest.raises(InvalidToken):
        confirm(runtime, token)
    assert snapshot(runtime) == before


def test_a_verification_link_expires_after_24_hours(
    runtime: Runtime, smtp: SmtpServer, alice: Person, clock: FixedClock
) -> None:
    change(runtime, alice)
    token = token_sent_to(smtp, runtime, NEW)
    clock.advance(LIFETIME.total_seconds())
    before = snapshot(runtime)
    with pytest.raises(InvalidToken):
        confirm(runtime, token)
    assert snapshot(runtime) == before
    assert user_row(runtime, "alice").email == ALICE


@pytest.mark.parametrize("forged", ["", "x", "B" * 43, "C" * 300])
def test_a_forged_verification_link_is_invalid(
    runtime: Runtime, alice: Person, forged: str
) -> None:
    before = snapshot(runtime)
    with pytest.raises(InvalidToken):
        confirm(runtime, forged)
    assert snapshot(runtime) == before


def test_a_reset_link_is_not_a_verification_link(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    with runtime.db() as db:
        password_reset.request_reset(db, runtime, address=ALICE, client=CLIENT)
    smtp.deliver(runtime)
    token = smtp.only("reset your password").link.rsplit("/", 1)[1]
    with pytest.raises(InvalidToken):
        confirm(runtime, token)


def test_a_change_needs_the_current_password(runtime: Runtime, alice: Person, steps) -> None:
    before = snapshot(runtime, skip=("audit_events", "throttles"))
    with pytest.raises(WrongPassword):
        change(runtime, alice, password="not my password at all")
    assert snapshot(runtime, skip=("audit_events", "throttles")) == before
    assert len(steps.events(AuditEventType.PASSWORD_CHECK_FAILED)) == 1


def test_with_2fa_a_change_needs_the_code(runtime: Runtime, alice_2fa: Person) -> None:
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as refused:
        change(runtime, alice_2fa)
    assert refused.value.field == "code"
    assert snapshot(runtime) == before


def test_a_wrong_code_for_a_change_counts_toward_the_lock(
    runtime: Runtime, alice_2fa: Person, steps
) -> None:
    before = queued_count(runtime)
    with pytest.raises(InvalidCode):
        change(runtime, alice_2fa, code=steps.wrong_code(alice_2fa))
    assert user_row(runtime, "alice").failed_code_count == 1
    assert user_row(runtime, "alice").email == ALICE
    assert queued_count(runtime) == before
    assert len(steps.events(AuditEventType.SECOND_FACTOR_FAILED)) == 1


def test_ten_wrong_codes_for_a_change_lock_the_second_factor(
    runtime: Runtime, smtp: SmtpServer, alice_2fa: Person, steps, clock: FixedClock
) -> None:
    for _ in range(9):
        with pytest.raises(InvalidCode):
            change(runtime, alice_2fa, code=steps.wrong_code(alice_2fa))
    with pytest.raises(SecondFactorLocked):
        change(runtime, alice_2fa, code=steps.wrong_code(alice_2fa))
    with pytest.raises(SecondFactorLocked):  # even the right code now
        change(runtime, alice_2fa, code=alice_2fa.totp(clock))
    smtp.deliver(runtime)
    smtp.only("sign-in locked after wrong codes", ALICE)
    assert smtp.about("confirm your email address") == []


def test_the_right_code_resets_the_count_of_wrong_ones(
    runtime: Runtime, alice_2fa: Person, steps, clock: FixedClock
) -> None:
    with pytest.raises(InvalidCode):
        change(runtime, alice_2fa, code=steps.wrong_code(alice_2fa))
    change(runtime, alice_2fa, code=alice_2fa.totp(clock))
    assert user_row(runtime, "alice").failed_code_count == 0


def test_a_code_cannot_be_used_twice_for_changes(
    runtime: Runtime, alice_2fa: Person, clock: FixedClock
) -> None:
    code = alice_2fa.totp(clock)
    change(runtime, alice_2fa, code=code)
    with pytest.raises(CodeReused):
        change(runtime, alice_2fa, "alice.other@example.org", code=code)


def test_a_change_tells_the_old_address_and_sends_the_link_to_the_new_one(
    runtime: Runtime, smtp: SmtpServer, alice_2fa: Person, clock: FixedClock
) -> None:
    assert change(runtime, alice_2fa, "  Alice.New@Example.org ", code=alice_2fa.totp(clock)) == NEW
    smtp.deliver(runtime)
    told = smtp.only("email address change requested", ALICE)
    assert NEW in told.text
    smtp.only("confirm your email address", NEW)
    assert len(smtp.received) == 2


def test_the_address_changes_only_when_the_link_is_used(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps
) -> None:
    change(runtime, alice)
    assert user_row(runtime, "alice").email == ALICE
    assert user_row(runtime, "alice").email_verified_at is not None
    token = token_sent_to(smtp, runtime, NEW)
    assert user_row(runtime, "alice").email == ALICE
    confirm(runtime, token)
    alice_now = user_row(runtime, "alice")
    assert alice_now.email == NEW
    assert alice_now.email_verified_at == runtime.now()
    assert len(steps.events(AuditEventType.EMAIL_CHANGE_REQUESTED)) == 1
    assert len(steps.events(AuditEventType.EMAIL_VERIFIED)) == 1


def test_the_old_address_is_told_when_the_change_happens(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    change(runtime, alice)
    token = token_sent_to(smtp, runtime, NEW)
    smtp.clear()
    confirm(runtime, token)
    smtp.deliver(runtime)
    changed = smtp.only("email address changed", ALICE)
    assert f"is now {NEW}" in changed.text
    assert smtp.to(NEW) == []


def test_an_address_another_account_uses_is_refused(runtime: Runtime, alice: Person) -> None:
    make_person(runtime, "bob", email="bob@example.org")
    before = snapshot(runtime)
    with pytest.raises(AlreadyExists):
        change(runtime, alice, "Bob@example.org")
    assert snapshot(runtime) == before


def test_the_current_address_is_refused_as_a_new_one(runtime: Runtime, alice: Person) -> None:
    with pytest.raises(InvalidInput) as refused:
        change(runtime, alice, ALICE)
    assert refused.value.field == "email"


@pytest.mark.parametrize("bad", ["not-an-address", "", "a@", "x" * 300 + "@example.org"])
def test_a_malformed_address_is_refused_and_nothing_is_sent(
    runtime: Runtime, alice: Person, bad: str
) -> None:
    before = snapshot(runtime)
    with pytest.raises(InvalidInput):
        change(runtime, alice, bad)
    assert snapshot(runtime) == before


def test_an_address_taken_before_the_link_is_used_is_refused_then(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    change(runtime, alice)
    token = token_sent_to(smtp, runtime, NEW)
    make_person(runtime, "bob", email=NEW)
    before = snapshot(runtime)
    with pytest.raises(AlreadyExists):
        confirm(runtime, token)
    assert snapshot(runtime) == before


def test_a_second_change_request_makes_the_first_link_stop_working(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    change(runtime, alice)
    first = token_sent_to(smtp, runtime, NEW)
    change(runtime, alice, "alice.other@example.org")
    second = token_sent_to(smtp, runtime, "alice.other@example.org")
    with pytest.raises(InvalidToken):
        confirm(runtime, first)
    confirm(runtime, second)
    assert user_row(runtime, "alice").email == "alice.other@example.org"


def test_a_verification_link_of_a_deactivated_account_is_invalid(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    change(runtime, alice)
    token = token_sent_to(smtp, runtime, NEW)
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        user.is_active = False
        db.commit()
    with pytest.raises(InvalidToken):
        confirm(runtime, token)
