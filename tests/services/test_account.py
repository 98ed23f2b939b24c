"""The security page: set up, confirm and turn off 2FA, new recovery codes, a new password."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyotp
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, Person
from twofold.core.errors import (
    EnrollmentNotStarted,
    InvalidCode,
    InvalidCredentials,
    InvalidInput,
    MalformedCode,
    PasswordAttemptsThrottled,
    TwoFactorAlreadyEnabled,
    TwoFactorNotEnabled,
    WeakPassword,
    WrongPassword,
)
from twofold.otp.clock import FixedClock, unix_time
from twofold.otp.recovery import RECOVERY_CODE_COUNT, is_well_formed_recovery_code
from twofold.services import account, users
from twofold.services.runtime import Runtime
from twofold.store.models import Authenticator, RecoveryCode, User


@contextmanager
def as_user(runtime: Runtime, person: Person) -> Iterator[tuple[Session, User]]:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        yield db, user


def enroll(runtime: Runtime, person: Person) -> account.PendingEnrollment:
    with as_user(runtime, person) as (db, user):
        return account.begin_totp_enrollment(db, runtime, user)


def code_now(pending: account.PendingEnrollment, clock: FixedClock) -> str:
    return pyotp.TOTP(pending.secret_b32).at(unix_time(clock.now()))


def wrong_code_for(pending: account.PendingEnrollment, clock: FixedClock) -> str:
    totp = pyotp.TOTP(pending.secret_b32)
    near = {totp.at(unix_time(clock.now()) + 30 * offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222") if c not in near)


def confirm(runtime: Runtime, person: Person, code: str, steps) -> list[str]:
    with as_user(runtime, person) as (db, user):
        return account.confirm_totp_enrollment(db, runtime, user, code, steps.client)


def stored_digests(runtime: Runtime, person: Person) -> list[bytes]:
    with runtime.db() as db:
        return sorted(
            db.scalars(select(RecoveryCode.code_digest).where(RecoveryCode.user_id == person.id))
        )


def authenticators(runtime: Runtime, person: Person) -> int:
    with runtime.db() as db:
        return int(
            db.scalar(
                select(func.count(Authenticator.id)).where(Authenticator.user_id == person.id)
            )
            or 0
        )


# --- enrollment -----------------------------------------------------------------------------


def test_enrollment_shows_a_key_an_app_can_scan(runtime: Runtime, alice: Person) -> None:
    pending = enroll(runtime, alice)
    assert pending.uri.startswith("otpauth://totp/Twofold:alice?")
    assert f"secret={pending.secret_b32}" in pending.uri
    assert pending.secret_grouped.replace(" ", "") == pending.secret_b32
    assert len(pyotp.TOTP(pending.secret_b32).byte_secret()) >= 20


def test_a_right_first_code_turns_two_factor_on(
    runtime: Runtime, alice: Person, clock: FixedClock, steps
) -> None:
    pending = enroll(runtime, alice)
    confirm(runtime, alice, code_now(pending, clock), steps)
    with runtime.db() as db:
        assert users.has_two_factor(db, alice.id)
    assert steps.sign_in(alice).needs_second_factor


def test_confirming_returns_ten_distinct_well_formed_recovery_codes(
    runtime: Runtime, alice: Person, clock: FixedClock, steps
) -> None:
    pending = enroll(runtime, alice)
    codes = confirm(runtime, alice, code_now(pending, clock), steps)
    assert len(codes) == RECOVERY_CODE_COUNT == 10
    assert len(set(codes)) == 10
    assert all(is_well_formed_recovery_code(code.replace("-", "")) for code in codes)
    assert len(stored_digests(runtime, alice)) == 10


def test_a_wrong_first_code_is_refused_and_not_counted_toward_a_lock(
    runtime: Runtime, alice: Person, clock: FixedClock, steps
) -> None:
    pending = enroll(runtime, alice)
    for _ in range(12):
        with pytest.raises(InvalidCode):
            confirm(runtime, alice, wrong_code_for(pending, clock), steps)
    assert steps.user(alice).failed_code_count == 0
    assert steps.user(alice).code_locked_until is None
    with runtime.db() as db:
        assert not users.has_two_factor(db, alice.id)
    confirm(runtime, alice, code_now(pending, clock), steps)


def test_a_malformed_first_code_is_refused(
    runtime: Runtime, alice: Person, clock: FixedClock, steps
) -> None:
    enroll(runtime, alice)
    with pytest.raises(MalformedCode):
        confirm(runtime, alice, "12ab56", steps)


def test_the_pending_key_is_shown_again_within_thirty_minutes(
    runtime: Runtime, alice: Person, clock: FixedClock
) -> None:
    first = enroll(runtime, alice)
    clock.advance(29 * 60)
    assert enroll(runtime, alice).secret_b32 == first.secret_b32
    assert authenticators(runtime, alice) == 1


def test_a_new_key_is_made_after_thirty_minutes(
    runtime: Runtime, alice: Person, clock: FixedClock
) -> None:
    first = enroll(runtime, alice)
    clock.advance(31 * 60)
    assert enroll(runtime, alice).secret_b32 != first.secret_b32
    assert authenticators(runtime, alice) == 1


def test_a_pending_key_older_than_thirty_minutes_cannot_be_confirmed(
    runtime: Runtime, alice: Person, clock: FixedClock, steps
) -> None:
    pending = enroll(runtime, alice)
    clock.advance(31 * 60)
    with pytest.raises(EnrollmentNotStarted):
        confirm(runtime, alice, code_now(pending, clock), steps)


def test_confirming_without_starting_is_refused(runtime: Runtime, alice: Person, steps) -> None:
    with pytest.raises(EnrollmentNotStarted):
        confirm(runtime, alice, "123456", steps)


def test_enrollment_cannot_start_again_while_two_factor_is_on(
    runtime: Runtime, alice_with_totp: Person
) -> None:
    with pytest.raises(TwoFactorAlreadyEnabled):
        enroll(runtime, alice_with_totp)


# --- recovery codes and turning 2FA off -----------------------------------------------------


def test_regenerating_recovery_codes_needs_the_right_password(
    runtime: Runtime, alice_with_totp: Person, steps
) -> None:
    before = stored_digests(runtime, alice_with_totp)
    with as_user(runtime, alice_with_totp) as (db, user), pytest.raises(WrongPassword):
        account.regenerate_recovery_codes(db, runtime, user, OTHER_STRONG_PASSWORD, steps.client)
    assert stored_digests(runtime, alice_with_totp) == before


def test_regenerating_recovery_codes_gives_ten_new_ones(
    runtime: Runtime, alice_with_totp: Person, steps
) -> None:
    assert alice_with_totp.recovery_codes is not None
    before = stored_digests(runtime, alice_with_totp)
    with as_user(runtime, alice_with_totp) as (db, user):
        codes = account.regenerate_recovery_codes(db, runtime, user, STRONG_PASSWORD, steps.client)
    assert len(set(codes)) == 10
    assert not set(codes) & set(alice_with_totp.recovery_codes)
    after = stored_digests(runtime, alice_with_totp)
    assert len(after) == 10
    assert not set(after) & set(before)


def test_regenerating_recovery_codes_without_two_factor_is_refused(
    runtime: Runtime, alice: Person, steps
) -> None:
    with as_user(runtime, alice) as (db, user), pytest.raises(TwoFactorNotEnabled):
        account.regenerate_recovery_codes(db, runtime, user, STRONG_PASSWORD, steps.client)


def test_turning_two_factor_off_needs_the_right_password(
    runtime: Runtime, alice_with_totp: Person, steps
) -> None:
    before = stored_digests(runtime, alice_with_totp)
    with as_user(runtime, alice_with_totp) as (db, user), pytest.raises(WrongPassword):
        account.disable_two_factor(db, runtime, user, OTHER_STRONG_PASSWORD, steps.client)
    assert authenticators(runtime, alice_with_totp) == 1
    assert stored_digests(runtime, alice_with_totp) == before
    assert steps.sign_in(alice_with_totp).needs_second_factor


def test_turning_two_factor_off_deletes_the_key_and_the_recovery_codes(
    runtime: Runtime, alice_with_totp: Person, steps
) -> None:
    with as_user(runtime, alice_with_totp) as (db, user):
        account.disable_two_factor(db, runtime, user, STRONG_PASSWORD, steps.client)
    assert authenticators(runtime, alice_with_totp) == 0
    assert stored_digests(runtime, alice_with_totp) == []


def test_after_turning_two_factor_off_the_password_alone_signs_in(
    runtime: Runtime, alice_with_totp: Person, steps
) -> None:
    with as_user(runtime, alice_with_totp) as (db, user):
        account.disable_two_factor(db, runtime, user, STRONG_PASSWORD, steps.client)
    assert not steps.sign_in(alice_with_totp).needs_second_factor


def test_turning_two_factor_off_when_it_is_off_is_refused(
    runtime: Runtime, alice: Person, steps
) -> None:
    with as_user(runtime, alice) as (db, user), pytest.raises(TwoFactorNotEnabled):
        account.disable_two_factor(db, runtime, user, STRONG_PASSWORD, steps.client)


def test_wrong_passwords_on_the_security_page_are_throttled_like_sign_in(
    runtime: Runtime, alice_with_totp: Person, steps
) -> None:
    for _ in range(4):
        with as_user(runtime, alice_with_totp) as (db, user), pytest.raises(WrongPassword):
            account.disable_two_factor(db, runtime, user, OTHER_STRONG_PASSWORD, steps.client)
    with as_user(runtime, alice_with_totp) as (db, user), pytest.raises(PasswordAttemptsThrottled):
        account.disable_two_factor(db, runtime, user, STRONG_PASSWORD, steps.client)
    assert authenticators(runtime, alice_with_totp) == 1


# --- changing the password ------------------------------------------------------------------


def change(
    runtime: Runtime,
    person: Person,
    steps,
    *,
    current: str = STRONG_PASSWORD,
    new: str = OTHER_STRONG_PASSWORD,
    confirm_as: str | None = None,
    keep_session_id: int | None = None,
) -> int:
    with as_user(runtime, person) as (db, user):
        return account.change_password(
            db,
            runtime,
            user,
            current_password=current,
            new_password=new,
            confirm_password=new if confirm_as is None else confirm_as,
            keep_session_id=keep_session_id,
            client=steps.client,
        )


def test_a_new_password_replaces_the_old_one(runtime: Runtime, alice: Person, steps) -> None:
    change(runtime, alice, steps)
    with pytest.raises(InvalidCredentials):
        steps.sign_in(alice)
    assert not steps.sign_in(alice, password=OTHER_STRONG_PASSWORD).needs_second_factor


def test_changing_the_password_ends_every_other_session(
    runtime: Runtime, alice: Person, steps
) -> None:
    current = steps.sign_in(alice)
    others = [steps.sign_in(alice).token for _ in range(2)]
    ended = change(runtime, alice, steps, keep_session_id=current.session.id)
    assert ended == 2
    assert all(steps.find(token) is None for token in others)
    assert steps.find(current.token) is not None


def test_changing_the_password_needs_the_current_one(
    runtime: Runtime, alice: Person, steps
) -> None:
    with pytest.raises(WrongPassword):
        change(runtime, alice, steps, current="not my password at all")
    assert not steps.sign_in(alice).needs_second_factor


def test_a_weak_new_password_is_refused_with_a_reason(
    runtime: Runtime, alice: Person, steps
) -> None:
    with pytest.raises(WeakPassword) as caught:
        change(runtime, alice, steps, new="password1234")
    assert caught.value.field == "new_password"
    assert len(caught.value.detail) > 20
    assert not steps.sign_in(alice).needs_second_factor


def test_a_new_password_built_from_the_login_name_is_refused(
    runtime: Runtime, alice: Person, steps
) -> None:
    with pytest.raises(WeakPassword):
        change(runtime, alice, steps, new="alice" * 3)


def test_a_too_short_new_password_is_refused(runtime: Runtime, alice: Person, steps) -> None:
    with pytest.raises(InvalidInput) as caught:
        change(runtime, alice, steps, new="Zq8#")
    assert caught.value.field == "new_password"


def test_a_mismatched_confirmation_is_refused(runtime: Runtime, alice: Person, steps) -> None:
    with pytest.raises(InvalidInput) as caught:
        change(runtime, alice, steps, confirm_as=OTHER_STRONG_PASSWORD + "!")
    assert caught.value.field == "confirm_password"
    assert not steps.sign_in(alice).needs_second_factor


def test_the_same_password_again_is_refused(runtime: Runtime, alice: Person, steps) -> None:
    with pytest.raises(InvalidInput) as caught:
        change(runtime, alice, steps, new=STRONG_PASSWORD)
    assert caught.value.field == "new_password"
    assert "same" in caught.value.detail
