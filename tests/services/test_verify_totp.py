"""The code step of sign-in: a TOTP code is accepted once, inside the window, and wrong codes
lock the second factor at every tenth failure in a row."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support import Person
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    CodeReused,
    InvalidCode,
    MalformedCode,
    NotPasswordVerified,
    SecondFactorLocked,
)
from twofold.core.sessions import SessionState
from twofold.otp.clock import FixedClock
from twofold.services import second_factor, sessions, users
from twofold.services.runtime import Runtime
from twofold.store.models import User


def fail_until_locked(steps, person: Person, failures: int) -> SecondFactorLocked | None:
    """Submit `failures` wrong codes in a row, each from a fresh password step; returns the
    lock the last one ran into, if it did."""
    locked = None
    for _ in range(failures):
        token = steps.password_step(person)
        try:
            steps.totp(token, steps.wrong_code(person))
        except InvalidCode:
            locked = None
        except SecondFactorLocked as error:
            locked = error
    return locked


def assert_authenticated(steps, token: str) -> None:
    """The code was accepted: the new token names a signed-in session."""
    session = steps.find(token)
    assert session is not None
    assert session.state == SessionState.AUTHENTICATED


def test_the_right_code_authenticates_the_session(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    token = steps.password_step(alice_with_totp)
    new_token = steps.totp(token, alice_with_totp.totp(clock))
    session = steps.find(new_token)
    assert session is not None
    assert session.state == SessionState.AUTHENTICATED
    assert session.amr == "pwd otp"
    assert steps.user(alice_with_totp).last_sign_in_at == clock.now()


def test_the_right_code_rotates_the_session_token(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    token = steps.password_step(alice_with_totp)
    new_token = steps.totp(token, alice_with_totp.totp(clock))
    assert new_token != token
    assert steps.find(token) is None


@pytest.mark.parametrize("offset_steps", [-1, 1])
def test_a_code_one_step_off_is_accepted(
    steps, alice_with_totp: Person, clock: FixedClock, offset_steps: int
) -> None:
    clock.advance(30)  # the step before the fixture's is the enrollment code's, used already
    token = steps.password_step(alice_with_totp)
    new_token = steps.totp(token, alice_with_totp.totp(clock, offset_steps))
    assert_authenticated(steps, new_token)


def test_a_code_with_spaces_is_accepted(steps, alice_with_totp: Person, clock: FixedClock) -> None:
    code = alice_with_totp.totp(clock)
    token = steps.password_step(alice_with_totp)
    new_token = steps.totp(token, f" {code[:3]} {code[3:]} ")
    assert_authenticated(steps, new_token)


def test_the_same_code_is_refused_at_the_next_sign_in(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    code = alice_with_totp.totp(clock)
    steps.totp(steps.password_step(alice_with_totp), code)
    with pytest.raises(CodeReused):
        steps.totp(steps.password_step(alice_with_totp), code)
    assert steps.user(alice_with_totp).failed_code_count == 1


def test_an_earlier_step_than_the_last_one_used_is_refused(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(clock, 1))
    with pytest.raises(CodeReused):
        steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(clock))


def test_a_code_from_two_steps_ago_is_invalid(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    old = alice_with_totp.totp(clock, -2)
    near = {alice_with_totp.totp(clock, offset) for offset in (-1, 0, 1)}
    if old in near:
        pytest.skip("the old code happens to equal a current one")
    with pytest.raises(InvalidCode):
        steps.totp(steps.password_step(alice_with_totp), old)
    assert steps.user(alice_with_totp).failed_code_count == 1


@pytest.mark.parametrize("code", ["12345a", "abcdef", "1234567", "12345", "", "1" * 100, "١٢٣٤٥٦"])
def test_a_malformed_code_is_refused_and_not_counted(
    steps, alice_with_totp: Person, code: str
) -> None:
    token = steps.password_step(alice_with_totp)
    with pytest.raises(MalformedCode):
        steps.totp(token, code)
    assert steps.user(alice_with_totp).failed_code_count == 0
    assert steps.events(AuditEventType.SECOND_FACTOR_FAILED) == []


def test_nine_wrong_codes_do_not_lock(steps, alice_with_totp: Person, clock: FixedClock) -> None:
    assert fail_until_locked(steps, alice_with_totp, 9) is None
    assert steps.user(alice_with_totp).failed_code_count == 9
    steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(clock))


def test_ten_wrong_codes_lock_for_fifteen_minutes(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    locked = fail_until_locked(steps, alice_with_totp, 10)
    assert locked is not None
    assert locked.until == clock.now() + timedelta(minutes=15)
    assert steps.user(alice_with_totp).code_locked_until == locked.until


def test_a_lock_holds_even_for_the_right_code(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    fail_until_locked(steps, alice_with_totp, 10)
    clock.advance(14 * 60)
    token = steps.password_step(alice_with_totp)
    with pytest.raises(SecondFactorLocked) as caught:
        steps.totp(token, alice_with_totp.totp(clock))
    assert caught.value.until == clock.now() + timedelta(minutes=1)
    assert steps.user(alice_with_totp).failed_code_count == 10


def test_after_the_lock_the_right_code_works_and_resets_the_count(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    fail_until_locked(steps, alice_with_totp, 10)
    clock.advance(15 * 60)
    steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(clock))
    user = steps.user(alice_with_totp)
    assert user.failed_code_count == 0
    assert user.code_locked_until is None


def test_waiting_does_not_reset_the_count(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    fail_until_locked(steps, alice_with_totp, 9)
    clock.advance(24 * 3600)
    locked = fail_until_locked(steps, alice_with_totp, 1)
    assert locked is not None
    assert locked.until == clock.now() + timedelta(minutes=15)


def test_twenty_wrong_codes_lock_for_thirty_minutes(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    fail_until_locked(steps, alice_with_totp, 10)
    clock.advance(15 * 60)
    locked = fail_until_locked(steps, alice_with_totp, 10)
    assert locked is not None
    assert locked.until == clock.now() + timedelta(minutes=30)


def test_a_hundred_wrong_codes_lock_until_an_operator_unlocks(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    for _ in range(10):
        locked = fail_until_locked(steps, alice_with_totp, 10)
        assert locked is not None
        if locked.until is not None:
            clock.set(locked.until)
    assert locked.until is None
    assert steps.user(alice_with_totp).failed_code_count == 100

    clock.advance(365 * 24 * 3600)
    token = steps.password_step(alice_with_totp)
    with pytest.raises(SecondFactorLocked) as caught:
        steps.totp(token, alice_with_totp.totp(clock))
    assert caught.value.until is None

    with runtime.db() as db:
        user = users.get_by_login(db, alice_with_totp.login)
        users.unlock(db, runtime, user)
        db.commit()
    steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(clock))
    assert steps.user(alice_with_totp).failed_code_count == 0


def test_a_password_verified_session_expires_after_ten_minutes(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    started = steps.sign_in(alice_with_totp)
    clock.advance(10 * 60)
    with runtime.db() as db, pytest.raises(NotPasswordVerified):
        second_factor.verify_totp(
            db, runtime, started.session, alice_with_totp.totp(clock), steps.client
        )
    assert steps.find(started.token) is None


def test_a_password_verified_session_still_works_just_before_ten_minutes(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    token = steps.password_step(alice_with_totp)
    clock.advance(10 * 60 - 1)
    new_token = steps.totp(token, alice_with_totp.totp(clock))
    assert_authenticated(steps, new_token)


def test_an_authenticated_session_cannot_submit_another_code(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    new_token = steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(clock))
    clock.advance(30)
    with runtime.db() as db:
        session = sessions.find_session(db, runtime, new_token)
        assert session is not None
        with pytest.raises(NotPasswordVerified):
            second_factor.verify_totp(
                db, runtime, session, alice_with_totp.totp(clock), steps.client
            )


def held_db_submit(steps, db, person: Person, code: str) -> str:
    """Submit a code through a db session the caller keeps open across requests."""
    token = steps.password_step(person)
    session = sessions.find_session(db, steps.runtime, token)
    assert session is not None
    try:
        return second_factor.verify_totp(db, steps.runtime, session, code, steps.client)
    finally:
        db.commit()  # end the transaction (SQLite has one writer) without expiring objects


def test_the_lock_is_checked_against_the_database_not_a_stale_copy(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    """A db session that loaded the user before another request locked it still sees the lock."""
    with runtime.db() as db:
        held = db.get(User, alice_with_totp.id)
        db.commit()
        fail_until_locked(steps, alice_with_totp, 10)
        with pytest.raises(SecondFactorLocked):
            held_db_submit(steps, db, alice_with_totp, alice_with_totp.totp(clock))
        assert held is not None


def test_success_resets_a_count_another_request_raised_after_the_user_was_loaded(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    with runtime.db() as db:
        held = db.get(User, alice_with_totp.id)
        db.commit()
        fail_until_locked(steps, alice_with_totp, 3)
        held_db_submit(steps, db, alice_with_totp, alice_with_totp.totp(clock))
        assert held is not None
    assert steps.user(alice_with_totp).failed_code_count == 0
