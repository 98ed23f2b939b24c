"""Several named authenticators per person (issue #12, decision 0020): adding one takes the
password and a current second factor, any of them signs in with its own replay state, at most
ten, rename, remove, and moving phones under a required policy without an admin."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.conftest import BROWSER, Steps
from support import (
    STRONG_PASSWORD,
    Person,
    add_authenticator,
    code_of,
    make_member,
    make_org,
    snapshot,
    user_row,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import (
    CodeReused,
    InvalidCode,
    InvalidInput,
    InvalidRecoveryCode,
    LastMethodRequired,
    NotFound,
    TooManyAuthenticators,
    TwoFactorNotEnabled,
    WrongPassword,
)
from twofold.core.methods import MAX_AUTHENTICATORS
from twofold.core.policy import TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.services import authenticators, users
from twofold.services.runtime import Runtime
from twofold.store.models import Authenticator, OutgoingEmail, RecoveryCode


def methods(runtime: Runtime, person: Person) -> list[users.MethodView]:
    with runtime.db() as db:
        return users.methods_of(db, person.id)


def test_a_second_authenticator_signs_in_as_does_the_first(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    steps = Steps(runtime, clock)
    second = add_authenticator(runtime, alice_with_totp, clock)
    listed = methods(runtime, alice_with_totp)
    assert [(m.name, m.kind) for m in listed] == [
        ("Authenticator app", "totp"),
        ("Work phone", "totp"),
    ]

    steps.totp(steps.password_step(alice_with_totp), code_of(second, clock))
    clock.advance(30)
    steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(clock))
    used = {m.name: m.last_used_at for m in methods(runtime, alice_with_totp)}
    assert used["Work phone"] is not None
    assert used["Authenticator app"] is not None


def test_each_authenticator_keeps_its_own_replay_state(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    steps = Steps(runtime, clock)
    second = add_authenticator(runtime, alice_with_totp, clock)
    # Both apps' codes of the same step sign in once each: their steps are theirs alone.
    steps.totp(steps.password_step(alice_with_totp), code_of(second, clock))
    steps.totp(steps.password_step(alice_with_totp), alice_with_totp.totp(clock))
    with pytest.raises(CodeReused):
        steps.totp(steps.password_step(alice_with_totp), code_of(second, clock))
    events = steps.events(AuditEventType.SECOND_FACTOR_CODE_REUSED)
    assert len(events) == 1


def test_a_code_no_authenticator_knows_is_counted_as_wrong(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    steps = Steps(runtime, clock)
    add_authenticator(runtime, alice_with_totp, clock)
    with pytest.raises(InvalidCode):
        steps.totp(steps.password_step(alice_with_totp), steps.wrong_code(alice_with_totp))
    assert steps.user(alice_with_totp).failed_code_count == 1


def test_adding_takes_the_password_and_a_current_second_factor(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    user = user_row(runtime, alice_with_totp)
    before = snapshot(runtime, skip=("audit_events", "throttles", "users"))
    with runtime.db() as db, pytest.raises(WrongPassword):
        authenticators.begin_adding(
            db,
            runtime,
            user,
            name="New phone",
            password="not the password",
            code=alice_with_totp.totp(clock),
            client=BROWSER,
        )
    with runtime.db() as db, pytest.raises(InvalidCode):
        authenticators.begin_adding(
            db,
            runtime,
            user,
            name="New phone",
            password=STRONG_PASSWORD,
            code=Steps(runtime, clock).wrong_code(alice_with_totp),
            client=BROWSER,
        )
    assert snapshot(runtime, skip=("audit_events", "throttles", "users")) == before
    # The wrong code counts toward the same lock as at sign-in.
    assert Steps(runtime, clock).user(alice_with_totp).failed_code_count == 1


def test_a_recovery_code_confirms_adding_a_new_phone_and_is_used_up(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    """Lost the phone: sign in with a recovery code, add the new phone with another."""
    assert alice_with_totp.recovery_codes
    user = user_row(runtime, alice_with_totp)
    code = alice_with_totp.recovery_codes[0]
    with runtime.db() as db:
        authenticators.begin_adding(
            db, runtime, user, name="New phone", password=STRONG_PASSWORD, code=code, client=BROWSER
        )
    with runtime.db() as db, pytest.raises(InvalidRecoveryCode):
        authenticators.begin_adding(
            db, runtime, user, name="New phone", password=STRONG_PASSWORD, code=code, client=BROWSER
        )
    with runtime.db() as db:
        used = db.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
    assert len(used) == 1


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there", "line\nbreak"])
def test_a_bad_name_is_refused_before_anything_is_checked(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person, name: str
) -> None:
    user = user_row(runtime, alice_with_totp)
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(InvalidInput) as refused:
        authenticators.begin_adding(
            db,
            runtime,
            user,
            name=name,
            password=STRONG_PASSWORD,
            code=alice_with_totp.totp(clock),
            client=BROWSER,
        )
    assert refused.value.field == "name"
    assert snapshot(runtime) == before


def test_the_first_authenticator_is_set_up_on_the_setup_page_not_here(
    runtime: Runtime, clock: FixedClock, alice: Person
) -> None:
    with runtime.db() as db, pytest.raises(TwoFactorNotEnabled):
        authenticators.begin_adding(
            db,
            runtime,
            user_row(runtime, alice),
            name="Phone",
            password=STRONG_PASSWORD,
            code="123456",
            client=BROWSER,
        )


def test_at_most_ten_authenticators(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    for number in range(2, MAX_AUTHENTICATORS + 1):
        add_authenticator(runtime, alice_with_totp, clock, name=f"Phone {number}")
    assert len(methods(runtime, alice_with_totp)) == MAX_AUTHENTICATORS
    with runtime.db() as db, pytest.raises(TooManyAuthenticators) as refused:
        authenticators.begin_adding(
            db,
            runtime,
            user_row(runtime, alice_with_totp),
            name="One too many",
            password=STRONG_PASSWORD,
            code=alice_with_totp.totp(clock),
            client=BROWSER,
        )
    assert "10" in refused.value.detail


def test_adding_and_removing_are_audited_and_told_by_email(
    runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "acme", with_totp=True, email="bob@example.org")
    clock.advance(30)
    add_authenticator(runtime, bob, clock, name="  Work   phone ")
    new = next(m for m in methods(runtime, bob) if m.name == "Work phone")
    with runtime.db() as db:
        authenticators.remove(db, runtime, user_row(runtime, bob), new.id, STRONG_PASSWORD, BROWSER)
    steps = Steps(runtime, clock)
    added = steps.events(AuditEventType.AUTHENTICATOR_ADDED)
    removed = steps.events(AuditEventType.AUTHENTICATOR_REMOVED)
    assert len(added) == 1
    assert len(removed) == 1
    assert '"name": "Work phone"' in added[0].detail
    with runtime.db() as db:
        kinds = list(db.scalars(select(OutgoingEmail.kind).order_by(OutgoingEmail.id)))
    assert kinds[-2:] == ["authenticator_added", "authenticator_removed"]


def test_rename(runtime: Runtime, clock: FixedClock, alice_with_totp: Person) -> None:
    (only,) = methods(runtime, alice_with_totp)
    user = user_row(runtime, alice_with_totp)
    with runtime.db() as db:
        authenticators.rename(db, runtime, user, only.id, " 1Password ", BROWSER)
    assert [m.name for m in methods(runtime, alice_with_totp)] == ["1Password"]
    with runtime.db() as db, pytest.raises(InvalidInput):
        authenticators.rename(db, runtime, user, only.id, "", BROWSER)
    assert [m.name for m in methods(runtime, alice_with_totp)] == ["1Password"]


def test_nobody_renames_or_removes_another_persons_authenticator(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    make_org(runtime, "acme")
    mallory = make_member(runtime, "mallory", "acme", with_totp=True)
    (alices,) = methods(runtime, alice_with_totp)
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(NotFound):
        authenticators.rename(db, runtime, user_row(runtime, mallory), alices.id, "mine", BROWSER)
    with runtime.db() as db, pytest.raises(NotFound):
        authenticators.remove(
            db, runtime, user_row(runtime, mallory), alices.id, STRONG_PASSWORD, BROWSER
        )
    assert snapshot(runtime) == before


def test_the_last_authenticator_stays_where_the_policy_requires_2fa(
    runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED, name="Bank")
    carol = make_member(runtime, "carol", "bank", with_totp=True)
    (only,) = methods(runtime, carol)
    before = snapshot(runtime)
    with runtime.db() as db, pytest.raises(LastMethodRequired) as refused:
        authenticators.remove(
            db, runtime, user_row(runtime, carol), only.id, STRONG_PASSWORD, BROWSER
        )
    assert "Add your new phone or app first" in refused.value.detail
    assert "Bank" in refused.value.detail
    assert snapshot(runtime) == before


def test_moving_phones_under_a_required_policy_needs_no_admin(
    runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED, name="Bank")
    carol = make_member(runtime, "carol", "bank", with_totp=True)
    clock.advance(30)
    (old,) = methods(runtime, carol)
    new_phone = add_authenticator(runtime, carol, clock, name="New phone")
    with runtime.db() as db:
        still_on = authenticators.remove(
            db, runtime, user_row(runtime, carol), old.id, STRONG_PASSWORD, BROWSER
        )
    assert still_on
    steps = Steps(runtime, clock)
    with pytest.raises(InvalidCode):  # the old phone's codes stop working
        steps.totp(steps.password_step(carol), carol.totp(clock))
    clock.advance(30)
    steps.totp(steps.password_step(carol), code_of(new_phone, clock))


def test_removing_the_last_where_allowed_turns_2fa_off(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    (only,) = methods(runtime, alice_with_totp)
    with runtime.db() as db:
        still_on = authenticators.remove(
            db, runtime, user_row(runtime, alice_with_totp), only.id, STRONG_PASSWORD, BROWSER
        )
    assert not still_on
    with runtime.db() as db:
        assert db.scalar(select(Authenticator.id)) is None
        assert db.scalar(select(RecoveryCode.id)) is None
    assert Steps(runtime, clock).events(AuditEventType.TWO_FACTOR_DISABLED)


def test_removing_needs_the_password(
    runtime: Runtime, clock: FixedClock, alice_with_totp: Person
) -> None:
    add_authenticator(runtime, alice_with_totp, clock)
    first = methods(runtime, alice_with_totp)[0]
    with runtime.db() as db, pytest.raises(WrongPassword):
        authenticators.remove(
            db, runtime, user_row(runtime, alice_with_totp), first.id, "wrong password!", BROWSER
        )
    assert len(methods(runtime, alice_with_totp)) == 2
