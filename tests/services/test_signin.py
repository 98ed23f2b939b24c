"""The password step of sign-in: one error for unknown and wrong, delays, no lockout."""

from __future__ import annotations

import pytest

from support import OTHER_STRONG_PASSWORD, Person
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import InvalidCredentials, PasswordAttemptsThrottled
from twofold.core.sessions import SessionState
from twofold.core.throttle import MAX_DELAY_SECONDS
from twofold.otp.clock import FixedClock


def test_unknown_login_is_refused_with_invalid_credentials_and_audited(
    steps, alice: Person
) -> None:
    nobody = Person(id=0, login="mallory", password=alice.password)
    with pytest.raises(InvalidCredentials):
        steps.sign_in(nobody)
    [event] = steps.events(AuditEventType.SIGN_IN_PASSWORD_FAILED)
    assert event.user_id is None
    assert steps.detail(event) == {"reason": "unknown_login"}


def test_wrong_password_is_refused_with_invalid_credentials_and_audited(
    steps, alice: Person
) -> None:
    with pytest.raises(InvalidCredentials):
        steps.sign_in(alice, password=OTHER_STRONG_PASSWORD)
    [event] = steps.events(AuditEventType.SIGN_IN_PASSWORD_FAILED)
    assert event.user_id == alice.id
    assert steps.detail(event) == {"reason": "wrong_password"}


def test_unknown_login_and_wrong_password_raise_the_same_message(steps, alice: Person) -> None:
    with pytest.raises(InvalidCredentials) as unknown:
        steps.sign_in(Person(id=0, login="mallory", password=alice.password))
    with pytest.raises(InvalidCredentials) as wrong:
        steps.sign_in(alice, password=OTHER_STRONG_PASSWORD)
    assert str(unknown.value) == str(wrong.value)


def test_a_fifth_quick_attempt_is_throttled_with_the_seconds_to_wait(steps, alice: Person) -> None:
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            steps.sign_in(alice, password=OTHER_STRONG_PASSWORD)
    with pytest.raises(PasswordAttemptsThrottled) as caught:
        steps.sign_in(alice)
    assert caught.value.retry_after_seconds == 1


def test_a_throttled_account_is_let_through_once_the_clock_has_moved_on(
    steps, alice: Person, clock: FixedClock
) -> None:
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            steps.sign_in(alice, password=OTHER_STRONG_PASSWORD)
    with pytest.raises(PasswordAttemptsThrottled) as caught:
        steps.sign_in(alice)
    clock.advance(caught.value.retry_after_seconds)
    assert not steps.sign_in(alice).needs_second_factor


def test_the_throttle_does_not_count_a_login_name_and_its_capitalisation_apart(
    steps, alice: Person
) -> None:
    for login in ("alice", "ALICE", " Alice", "alice "):
        with pytest.raises(InvalidCredentials):
            steps.sign_in(Person(id=alice.id, login=login, password=OTHER_STRONG_PASSWORD))
    with pytest.raises(PasswordAttemptsThrottled):
        steps.sign_in(alice)


def test_a_password_only_account_is_signed_in_at_once(steps, alice: Person) -> None:
    started = steps.sign_in(alice)
    assert not started.needs_second_factor
    assert started.session.state == SessionState.AUTHENTICATED
    assert started.session.amr == "pwd"
    [event] = steps.events(AuditEventType.SIGN_IN_SUCCEEDED)
    assert steps.detail(event) == {"amr": "pwd"}


def test_a_right_password_for_a_two_factor_account_only_verifies_the_password(
    steps, alice_with_totp: Person
) -> None:
    started = steps.sign_in(alice_with_totp)
    assert started.needs_second_factor
    assert started.session.state == SessionState.PASSWORD_VERIFIED
    found = steps.find(started.token)
    assert found is not None
    assert found.state == SessionState.PASSWORD_VERIFIED
    assert steps.events(AuditEventType.SIGN_IN_SUCCEEDED) == []
    assert steps.user(alice_with_totp).last_sign_in_at is None


def test_password_failures_never_lock_the_account(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    for _ in range(40):
        try:
            steps.sign_in(alice_with_totp, password=OTHER_STRONG_PASSWORD)
        except PasswordAttemptsThrottled as throttled:
            clock.advance(throttled.retry_after_seconds)
        except InvalidCredentials:
            pass
    clock.advance(MAX_DELAY_SECONDS)
    assert steps.sign_in(alice_with_totp).needs_second_factor
    user = steps.user(alice_with_totp)
    assert user.failed_code_count == 0
    assert user.code_locked_until is None


def test_a_right_password_clears_the_account_throttle(
    steps, alice: Person, clock: FixedClock
) -> None:
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            steps.sign_in(alice, password=OTHER_STRONG_PASSWORD)
    clock.advance(1)
    steps.sign_in(alice)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            steps.sign_in(alice, password=OTHER_STRONG_PASSWORD)
    assert not steps.sign_in(alice).needs_second_factor


def test_password_failures_are_forgotten_after_an_hour(
    steps, alice: Person, clock: FixedClock
) -> None:
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            steps.sign_in(alice, password=OTHER_STRONG_PASSWORD)
    clock.advance(3601)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            steps.sign_in(alice, password=OTHER_STRONG_PASSWORD)
    assert not steps.sign_in(alice).needs_second_factor
