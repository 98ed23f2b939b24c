"""Every security notification, queued with its change and delivered through a real SMTP
server; only a verified address receives them, and none carries a secret."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smtp_server import SmtpServer, running_smtp_server
from support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, Person, make_person
from twofold.core.errors import InvalidCode, SecondFactorLocked, WrongPassword
from twofold.otp.clock import FixedClock, unix_time
from twofold.otp.secret import encode_secret, group_for_display
from twofold.services import account, email_addresses, users
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import OutgoingEmail, User

ALICE = "alice@example.org"
CLIENT = ClientInfo(ip="203.0.113.7", user_agent="Mozilla/5.0 (pytest browser)")
IF_NOT_YOU = "If this wasn't you"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def alice(runtime: Runtime, clock: FixedClock, smtp: SmtpServer) -> Person:
    """Alice with a verified address and 2FA on; the 'turned on' notice already delivered."""
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


def queued(runtime: Runtime) -> int:
    with runtime.db() as db:
        return int(db.scalar(select(func.count(OutgoingEmail.id))) or 0)


def fail_codes(steps, person: Person, token: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(InvalidCode):
            steps.totp(token, steps.wrong_code(person))


def test_turning_2fa_on_is_notified_with_what_to_do_if_it_was_not_you(
    runtime: Runtime, smtp: SmtpServer
) -> None:
    make_person(runtime, "alice", email=ALICE, with_totp=True)
    smtp.deliver(runtime)
    notice = smtp.only("two-factor authentication turned on", ALICE)
    assert "Two-factor authentication was turned on for your account alice" in notice.text
    assert IF_NOT_YOU in notice.text
    assert "If this wasn&#x27;t you" in notice.html or IF_NOT_YOU in notice.html


def test_turning_2fa_off_is_notified(runtime: Runtime, smtp: SmtpServer, alice: Person) -> None:
    with as_user(runtime, alice) as (db, user):
        account.disable_two_factor(db, runtime, user, alice.password, CLIENT)
    smtp.deliver(runtime)
    notice = smtp.only("two-factor authentication turned off", ALICE)
    assert "Your password alone now signs you in." in notice.text
    assert IF_NOT_YOU in notice.text


def test_regenerating_recovery_codes_is_notified(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    with as_user(runtime, alice) as (db, user):
        account.regenerate_recovery_codes(db, runtime, user, alice.password, CLIENT)
    smtp.deliver(runtime)
    notice = smtp.only("new recovery codes", ALICE)
    assert "The old codes no longer work." in notice.text
    assert IF_NOT_YOU in notice.text


def test_using_a_recovery_code_is_notified_with_how_many_are_left(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps
) -> None:
    assert alice.recovery_codes is not None
    steps.recovery(steps.password_step(alice), alice.recovery_codes[0])
    steps.recovery(steps.password_step(alice), alice.recovery_codes[1])
    smtp.deliver(runtime)
    notices = smtp.about("a recovery code was used", ALICE)
    assert len(notices) == 2
    assert "You have 9 recovery codes left." in notices[0].text
    assert "You have 8 recovery codes left." in notices[1].text
    assert IF_NOT_YOU in notices[0].text


def test_ten_wrong_codes_lock_the_second_factor_and_the_lock_is_notified_once(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps, clock: FixedClock
) -> None:
    token = steps.password_step(alice)
    fail_codes(steps, alice, token, 9)
    with pytest.raises(SecondFactorLocked):
        steps.totp(token, steps.wrong_code(alice))
    with pytest.raises(SecondFactorLocked):  # while locked, more tries are not counted
        steps.totp(token, steps.wrong_code(alice))
    smtp.deliver(runtime)
    notice = smtp.only("sign-in locked after wrong codes", ALICE)
    until = clock.now() + timedelta(minutes=15)
    assert f"locked until {until:%Y-%m-%d %H:%M} UTC" in notice.text
    assert "contact your administrator" in notice.text


def test_nine_wrong_codes_send_no_lock_notice(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps
) -> None:
    fail_codes(steps, alice, steps.password_step(alice), 9)
    smtp.deliver(runtime)
    assert smtp.received == []


def test_changing_the_password_is_notified(
    runtime: Runtime, smtp: SmtpServer, alice: Person
) -> None:
    with as_user(runtime, alice) as (db, user):
        account.change_password(
            db,
            runtime,
            user,
            current_password=alice.password,
            new_password=OTHER_STRONG_PASSWORD,
            confirm_password=OTHER_STRONG_PASSWORD,
            keep_session_id=None,
            client=CLIENT,
        )
    smtp.deliver(runtime)
    notice = smtp.only("password changed", ALICE)
    assert "your other sessions were signed out" in notice.text
    assert IF_NOT_YOU in notice.text


def test_an_email_change_request_is_notified_to_the_old_address_and_the_change_too(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps, clock: FixedClock
) -> None:
    with as_user(runtime, alice) as (db, user):
        email_addresses.request_change(
            db,
            runtime,
            user,
            new_address="alice.new@example.org",
            password=alice.password,
            code=alice.totp(clock),
            client=CLIENT,
        )
    smtp.deliver(runtime)
    requested = smtp.only("email address change requested", ALICE)
    assert "to alice.new@example.org" in requested.text
    link = smtp.only("confirm your email address", "alice.new@example.org")
    assert smtp.about("email address change requested", "alice.new@example.org") == []
    smtp.clear()

    token = link.link.rsplit("/", 1)[1]
    with runtime.db() as db:
        email_addresses.confirm(db, runtime, token, CLIENT)
    smtp.deliver(runtime)
    changed = smtp.only("email address changed", ALICE)
    assert "is now alice.new@example.org" in changed.text
    assert len(smtp.received) == 1


def test_a_sign_in_after_three_wrong_codes_is_notified(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps, clock: FixedClock
) -> None:
    token = steps.password_step(alice)
    fail_codes(steps, alice, token, 3)
    steps.totp(token, alice.totp(clock))
    smtp.deliver(runtime)
    notice = smtp.only("sign-in after wrong codes", ALICE)
    assert "after 3 wrong authentication codes in a row" in notice.text
    assert IF_NOT_YOU in notice.text


def test_a_sign_in_after_two_wrong_codes_is_not_notified(
    runtime: Runtime, smtp: SmtpServer, alice: Person, steps, clock: FixedClock
) -> None:
    token = steps.password_step(alice)
    fail_codes(steps, alice, token, 2)
    steps.totp(token, alice.totp(clock))
    smtp.deliver(runtime)
    assert smtp.received == []


def test_a_refused_change_queues_no_notice(runtime: Runtime, alice: Person) -> None:
    before = queued(runtime)
    with as_user(runtime, alice) as (db, user), pytest.raises(WrongPassword):
        account.disable_two_factor(db, runtime, user, "not the password", CLIENT)
    assert queued(runtime) == before


def everything_happens_to(
    runtime: Runtime, person: Person, steps, clock: FixedClock
) -> tuple[list[str], list[str]]:
    """Every notified event, in order; returns the recovery codes and passwords involved."""
    assert person.recovery_codes is not None
    codes = list(person.recovery_codes)
    token = steps.password_step(person)
    fail_codes(steps, person, token, 3)
    steps.totp(token, person.totp(clock))  # a sign-in after wrong codes
    clock.advance(30)
    steps.recovery(steps.password_step(person), codes[0])  # a recovery code used
    with as_user(runtime, person) as (db, user):
        codes += account.regenerate_recovery_codes(db, runtime, user, person.password, CLIENT)
    with as_user(runtime, person) as (db, user):
        account.change_password(
            db,
            runtime,
            user,
            current_password=person.password,
            new_password=OTHER_STRONG_PASSWORD,
            confirm_password=OTHER_STRONG_PASSWORD,
            keep_session_id=None,
            client=CLIENT,
        )
    token = steps.sign_in(person, OTHER_STRONG_PASSWORD).token
    clock.advance(30)
    for _ in range(9):
        with pytest.raises(InvalidCode):
            steps.totp(token, steps.wrong_code(person))
    with pytest.raises(SecondFactorLocked):
        steps.totp(token, steps.wrong_code(person))
    with as_user(runtime, person) as (db, user):
        users.unlock(db, runtime, user)
        db.commit()
    with as_user(runtime, person) as (db, user):
        account.disable_two_factor(db, runtime, user, OTHER_STRONG_PASSWORD, CLIENT)
    return codes, [STRONG_PASSWORD, OTHER_STRONG_PASSWORD]


def test_no_notice_contains_the_totp_secret_a_recovery_code_or_a_password(
    runtime: Runtime, smtp: SmtpServer, steps, clock: FixedClock
) -> None:
    person = make_person(runtime, "alice", email=ALICE, with_totp=True)
    clock.advance(30)
    codes, passwords = everything_happens_to(runtime, person, steps, clock)
    smtp.deliver(runtime)
    assert len(smtp.received) == 7
    assert person.secret is not None
    secret = encode_secret(person.secret)
    forbidden = [secret, group_for_display(secret), secret.lower(), *passwords]
    forbidden += [spelling for code in codes for spelling in (code, code.replace("-", ""))]
    for received in smtp.received:
        whole = received.raw.decode("utf-8", errors="replace")
        for words in (whole, received.text, received.html):
            assert not [f for f in forbidden if f in words], received.subject


def test_a_person_without_an_email_address_gets_no_notice(
    runtime: Runtime, smtp: SmtpServer, steps, clock: FixedClock
) -> None:
    person = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    everything_happens_to(runtime, person, steps, clock)
    smtp.deliver(runtime)
    assert smtp.received == []
    assert queued(runtime) == 0


def test_a_person_whose_address_is_not_verified_gets_no_notice(
    runtime: Runtime, smtp: SmtpServer, steps, clock: FixedClock
) -> None:
    with runtime.db() as db:
        users.create_user(
            db, runtime, login="alice", password=STRONG_PASSWORD, email=ALICE, email_verified=False
        )
        db.commit()
    with runtime.db() as db:
        user = db.scalar(select(User).where(User.login == "alice"))
        assert user is not None
        pending = account.begin_totp_enrollment(db, runtime, user)
    totp = pyotp.TOTP(pending.secret_b32)
    with runtime.db() as db:
        user = db.scalar(select(User).where(User.login == "alice"))
        assert user is not None
        codes = account.confirm_totp_enrollment(
            db, runtime, user, totp.at(unix_time(clock.now())), CLIENT
        )
    person = Person(
        id=user.id,
        login="alice",
        password=STRONG_PASSWORD,
        secret=totp.byte_secret(),
        recovery_codes=codes,
    )
    clock.advance(30)
    # An unconfirmed address is a sign-up that cannot sign in yet: what happens to the
    # account is what needs no sign-in (it would be notified to a confirmed address).
    with as_user(runtime, person) as (db, user):
        account.regenerate_recovery_codes(db, runtime, user, person.password, CLIENT)
    with as_user(runtime, person) as (db, user):
        account.change_password(
            db,
            runtime,
            user,
            current_password=person.password,
            new_password=OTHER_STRONG_PASSWORD,
            confirm_password=OTHER_STRONG_PASSWORD,
            keep_session_id=None,
            client=CLIENT,
        )
    with as_user(runtime, person) as (db, user):
        account.disable_two_factor(db, runtime, user, OTHER_STRONG_PASSWORD, CLIENT)
    smtp.deliver(runtime)
    assert smtp.to(ALICE) == []
    assert queued(runtime) == 0
