"""Recovery codes at sign-in: each works once, in any reasonable spelling, for its owner only."""

from __future__ import annotations

import pytest

from support import STRONG_PASSWORD, Person, make_person
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import InvalidRecoveryCode, MalformedRecoveryCode
from twofold.core.sessions import SessionState
from twofold.services import account, users
from twofold.services.runtime import Runtime


def codes_left(runtime: Runtime, person: Person) -> int:
    with runtime.db() as db:
        return users.recovery_codes_left(db, person.id)


def test_a_recovery_code_authenticates_the_session(steps, alice_with_totp: Person) -> None:
    assert alice_with_totp.recovery_codes is not None
    token = steps.password_step(alice_with_totp)
    new_token = steps.recovery(token, alice_with_totp.recovery_codes[0])
    session = steps.find(new_token)
    assert session is not None
    assert session.state == SessionState.AUTHENTICATED
    assert session.amr == "pwd rcv"
    assert steps.find(token) is None


def test_a_recovery_code_is_refused_the_second_time(steps, alice_with_totp: Person) -> None:
    assert alice_with_totp.recovery_codes is not None
    code = alice_with_totp.recovery_codes[0]
    steps.recovery(steps.password_step(alice_with_totp), code)
    with pytest.raises(InvalidRecoveryCode):
        steps.recovery(steps.password_step(alice_with_totp), code)


def test_a_used_recovery_code_counts_as_a_failure(steps, alice_with_totp: Person) -> None:
    assert alice_with_totp.recovery_codes is not None
    code = alice_with_totp.recovery_codes[0]
    steps.recovery(steps.password_step(alice_with_totp), code)
    with pytest.raises(InvalidRecoveryCode):
        steps.recovery(steps.password_step(alice_with_totp), code)
    assert steps.user(alice_with_totp).failed_code_count == 1
    assert len(steps.events(AuditEventType.SECOND_FACTOR_CODE_REUSED)) == 1


def test_an_unknown_recovery_code_counts_as_a_failure(steps, alice_with_totp: Person) -> None:
    with pytest.raises(InvalidRecoveryCode):
        steps.recovery(steps.password_step(alice_with_totp), "abcd-efgh-jkmn-pqrs")
    assert steps.user(alice_with_totp).failed_code_count == 1
    assert len(steps.events(AuditEventType.SECOND_FACTOR_FAILED)) == 1


@pytest.mark.parametrize(
    "spelling",
    [
        lambda code: code.upper(),
        lambda code: code.replace("-", " "),
        lambda code: code.replace("-", ""),
        lambda code: f"  {code.upper().replace('-', '')}  ",
    ],
    ids=["upper-case", "spaces", "no-dashes", "upper-case-padded"],
)
def test_a_recovery_code_is_accepted_however_it_is_spelled(
    steps, alice_with_totp: Person, spelling
) -> None:
    assert alice_with_totp.recovery_codes is not None
    steps.recovery(
        steps.password_step(alice_with_totp), spelling(alice_with_totp.recovery_codes[0])
    )


@pytest.mark.parametrize("code", ["abcd", "abcd-efgh-jkmn-pqrs-tvwx", "abcd-efgh-jkmn-pqr!", ""])
def test_a_malformed_recovery_code_is_refused_and_not_counted(
    steps, alice_with_totp: Person, code: str
) -> None:
    with pytest.raises(MalformedRecoveryCode):
        steps.recovery(steps.password_step(alice_with_totp), code)
    assert steps.user(alice_with_totp).failed_code_count == 0


def test_another_persons_recovery_code_does_not_work(
    steps, runtime: Runtime, alice_with_totp: Person
) -> None:
    bob = make_person(runtime, "bob", with_totp=True)
    assert bob.recovery_codes is not None
    with pytest.raises(InvalidRecoveryCode):
        steps.recovery(steps.password_step(alice_with_totp), bob.recovery_codes[0])
    assert codes_left(runtime, bob) == 10


def test_regenerating_recovery_codes_retires_the_old_set(
    steps, runtime: Runtime, alice_with_totp: Person
) -> None:
    assert alice_with_totp.recovery_codes is not None
    with runtime.db() as db:
        user = users.get_by_login(db, alice_with_totp.login)
        new_codes = account.regenerate_recovery_codes(
            db, runtime, user, STRONG_PASSWORD, steps.client
        )
    for old in alice_with_totp.recovery_codes[:3]:
        with pytest.raises(InvalidRecoveryCode):
            steps.recovery(steps.password_step(alice_with_totp), old)
    steps.recovery(steps.password_step(alice_with_totp), new_codes[0])
    steps.recovery(steps.password_step(alice_with_totp), new_codes[9])


def test_recovery_codes_left_goes_down_by_one_with_each_use(
    steps, runtime: Runtime, alice_with_totp: Person
) -> None:
    assert alice_with_totp.recovery_codes is not None
    assert codes_left(runtime, alice_with_totp) == 10
    steps.recovery(steps.password_step(alice_with_totp), alice_with_totp.recovery_codes[0])
    assert codes_left(runtime, alice_with_totp) == 9
    steps.recovery(steps.password_step(alice_with_totp), alice_with_totp.recovery_codes[1])
    assert codes_left(runtime, alice_with_totp) == 8


def test_a_refused_recovery_code_leaves_the_count_of_codes_alone(
    steps, runtime: Runtime, alice_with_totp: Person
) -> None:
    with pytest.raises(InvalidRecoveryCode):
        steps.recovery(steps.password_step(alice_with_totp), "abcd-efgh-jkmn-pqrs")
    assert codes_left(runtime, alice_with_totp) == 10
