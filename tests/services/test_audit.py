"""Every security event is written, with who was on the other end, and never a secret."""

from __future__ import annotations

import pyotp
import pytest

from support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, Person
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    CodeReused,
    InvalidCode,
    InvalidCredentials,
    InvalidRecoveryCode,
    SecondFactorLocked,
    WrongPassword,
)
from twofold.otp.clock import FixedClock, unix_time
from twofold.otp.recovery import normalize_recovery_code
from twofold.services import account, users
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent


def only(steps, event: AuditEventType) -> AuditEvent:
    [found] = steps.events(event)
    assert found.ip == steps.client.ip
    assert found.user_agent == steps.client.user_agent
    return found


def test_sign_in_with_the_password_alone_records_success_with_its_amr(steps, alice: Person) -> None:
    steps.sign_in(alice)
    event = only(steps, AuditEventType.SIGN_IN_SUCCEEDED)
    assert event.user_id == alice.id
    assert steps.detail(event) == {"amr": "pwd"}


def test_sign_in_with_a_code_records_success_with_its_amr(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(clock))
    event = only(steps, AuditEventType.SIGN_IN_SUCCEEDED)
    assert event.user_id == alice_with_totp.id
    assert steps.detail(event) == {"amr": "pwd otp"}


def test_a_wrong_password_records_a_failure(steps, alice: Person) -> None:
    with pytest.raises(InvalidCredentials):
        steps.sign_in(alice, password=OTHER_STRONG_PASSWORD)
    assert only(steps, AuditEventType.SIGN_IN_PASSWORD_FAILED).user_id == alice.id


def test_a_wrong_code_records_a_second_factor_failure(steps, alice_with_totp: Person) -> None:
    with pytest.raises(InvalidCode):
        steps.totp(steps.password_step(alice_with_totp), steps.wrong_code(alice_with_totp))
    event = only(steps, AuditEventType.SECOND_FACTOR_FAILED)
    assert event.user_id == alice_with_totp.id
    assert steps.detail(event) == {"consecutive_failures": 1}


def test_a_reused_code_records_a_reuse(steps, alice_with_totp: Person, clock: FixedClock) -> None:
    code = alice_with_totp.totp(clock)
    steps.totp(steps.password_step(alice_with_totp), code)
    with pytest.raises(CodeReused):
        steps.totp(steps.password_step(alice_with_totp), code)
    event = only(steps, AuditEventType.SECOND_FACTOR_CODE_REUSED)
    assert event.user_id == alice_with_totp.id


def test_the_tenth_wrong_code_records_a_lock_with_its_end(
    steps, alice_with_totp: Person, clock: FixedClock
) -> None:
    for _ in range(9):
        with pytest.raises(InvalidCode):
            steps.totp(steps.password_step(alice_with_totp), steps.wrong_code(alice_with_totp))
    with pytest.raises(SecondFactorLocked) as caught:
        steps.totp(steps.password_step(alice_with_totp), steps.wrong_code(alice_with_totp))
    event = only(steps, AuditEventType.SECOND_FACTOR_LOCKED)
    assert caught.value.until is not None
    assert steps.detail(event) == {
        "consecutive_failures": 10,
        "locked_until": caught.value.until.isoformat(),
    }


def test_a_recovery_code_records_its_use_and_the_codes_left(steps, alice_with_totp: Person) -> None:
    assert alice_with_totp.recovery_codes is not None
    steps.recovery(steps.password_step(alice_with_totp), alice_with_totp.recovery_codes[0])
    event = only(steps, AuditEventType.RECOVERY_CODE_USED)
    assert steps.detail(event) == {"codes_left": 9}
    success = only(steps, AuditEventType.SIGN_IN_SUCCEEDED)
    assert steps.detail(success) == {"amr": "pwd rcv"}


def test_turning_two_factor_on_and_off_is_recorded(
    steps, runtime: Runtime, alice: Person, clock: FixedClock
) -> None:
    with runtime.db() as db:
        user = users.get_by_login(db, alice.login)
        pending = account.begin_totp_enrollment(db, runtime, user)
        code = pyotp.TOTP(pending.secret_b32).at(unix_time(clock.now()))
        account.confirm_totp_enrollment(db, runtime, user, code, steps.client)
    assert only(steps, AuditEventType.TWO_FACTOR_ENABLED).user_id == alice.id
    with runtime.db() as db:
        user = users.get_by_login(db, alice.login)
        account.disable_two_factor(db, runtime, user, STRONG_PASSWORD, steps.client)
    assert only(steps, AuditEventType.TWO_FACTOR_DISABLED).user_id == alice.id


def test_new_recovery_codes_are_recorded(steps, runtime: Runtime, alice_with_totp: Person) -> None:
    with runtime.db() as db:
        user = users.get_by_login(db, alice_with_totp.login)
        account.regenerate_recovery_codes(db, runtime, user, STRONG_PASSWORD, steps.client)
    assert only(steps, AuditEventType.RECOVERY_CODES_REGENERATED).user_id == alice_with_totp.id


def test_a_wrong_current_password_on_the_security_page_is_recorded(
    steps, runtime: Runtime, alice_with_totp: Person
) -> None:
    with runtime.db() as db:
        user = users.get_by_login(db, alice_with_totp.login)
        with pytest.raises(WrongPassword):
            account.regenerate_recovery_codes(
                db, runtime, user, OTHER_STRONG_PASSWORD, steps.client
            )
    assert only(steps, AuditEventType.PASSWORD_CHECK_FAILED).user_id == alice_with_totp.id
    assert steps.events(AuditEventType.RECOVERY_CODES_REGENERATED) == []


def test_a_password_change_is_recorded_with_the_sessions_it_ended(
    steps, runtime: Runtime, alice: Person
) -> None:
    steps.sign_in(alice)
    with runtime.db() as db:
        user = users.get_by_login(db, alice.login)
        account.change_password(
            db,
            runtime,
            user,
            current_password=STRONG_PASSWORD,
            new_password=OTHER_STRONG_PASSWORD,
            confirm_password=OTHER_STRONG_PASSWORD,
            keep_session_id=None,
            client=steps.client,
        )
    event = only(steps, AuditEventType.PASSWORD_CHANGED)
    assert steps.detail(event) == {"other_sessions_ended": 1}


def test_no_audit_detail_holds_a_code_or_a_password(
    steps, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    assert alice_with_totp.recovery_codes is not None
    person = alice_with_totp
    typed = []
    with pytest.raises(InvalidCredentials):
        steps.sign_in(person, password=OTHER_STRONG_PASSWORD)
    for _ in range(2):
        wrong = steps.wrong_code(person)
        typed.append(wrong)
        with pytest.raises(InvalidCode):
            steps.totp(steps.password_step(person), wrong)
    code = person.totp(clock)
    typed.append(code)
    steps.totp(steps.password_step(person), code)
    with pytest.raises(CodeReused):
        steps.totp(steps.password_step(person), code)
    steps.recovery(steps.password_step(person), person.recovery_codes[0])
    with pytest.raises(InvalidRecoveryCode):
        steps.recovery(steps.password_step(person), person.recovery_codes[0])
    with runtime.db() as db:
        user = users.get_by_login(db, person.login)
        new_codes = account.regenerate_recovery_codes(
            db, runtime, user, person.password, steps.client
        )

    secrets = [STRONG_PASSWORD, OTHER_STRONG_PASSWORD, *typed]
    for recovery_code in person.recovery_codes + new_codes:
        secrets += [recovery_code, normalize_recovery_code(recovery_code)]
    events = steps.events()
    assert len(events) >= 10
    for event in events:
        text = f"{event.detail} {event.ip} {event.user_agent}".lower()
        assert not [s for s in secrets if s.lower() in text], event.event
