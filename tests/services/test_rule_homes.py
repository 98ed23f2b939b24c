"""The single homes of rules that several surfaces share: the lock check in Python and in
SQL agree, a reset's reason, and a use case's transaction (decisions 0001, 0012)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from support import Person
from twofold.core.errors import InvalidInput
from twofold.core.lockout import FAILURES_PER_LOCK, PERMANENT_LOCK_AT
from twofold.otp.clock import FixedClock
from twofold.services import member_actions, users
from twofold.services.runtime import Runtime
from twofold.services.transactions import use_case
from twofold.store.models import User


@pytest.mark.parametrize(
    ("failures", "locked_for", "locked"),
    [
        (0, None, False),
        (FAILURES_PER_LOCK, timedelta(minutes=15), True),
        (FAILURES_PER_LOCK, timedelta(minutes=-1), False),  # the lock has run out
        (PERMANENT_LOCK_AT - 1, None, False),
        (PERMANENT_LOCK_AT, None, True),
    ],
)
def test_the_lock_rule_in_python_and_in_sql_agree(
    runtime: Runtime,
    clock: FixedClock,
    alice: Person,
    failures: int,
    locked_for: timedelta | None,
    locked: bool,
) -> None:
    now = runtime.now()
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        user.failed_code_count = failures
        user.code_locked_until = now + locked_for if locked_for is not None else None
        db.commit()
        assert users.is_code_locked(user, now) is locked
        found = db.scalar(select(User.id).where(User.id == alice.id, users.code_locked_sql(now)))
        assert (found is not None) is locked


def test_clearing_code_failures_lifts_the_lock(runtime: Runtime, alice: Person) -> None:
    now = runtime.now()
    with runtime.db() as db:
        user = db.get(User, alice.id)
        assert user is not None
        user.failed_code_count = PERMANENT_LOCK_AT
        user.code_locked_until = now + timedelta(hours=1)
        users.clear_code_failures(user)
        assert (user.failed_code_count, user.code_locked_until) == (0, None)
        assert not users.is_code_locked(user, now)


@pytest.mark.parametrize("reason", ["", "   ", "x" * (member_actions.REASON_MAX + 1)])
def test_a_reset_needs_a_short_reason(reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        member_actions.check_reason(reason)
    assert refused.value.field == "reason"


def test_a_reason_is_kept_stripped() -> None:
    assert member_actions.check_reason("  lost phone ") == "lost phone"


@use_case
def _rename(db: Session, user_id: int, login: str, *, fail: bool = False) -> None:
    user = db.get(User, user_id)
    assert user is not None
    user.login = login
    if fail:
        raise InvalidInput("login", "refused after writing")


@use_case
def _rename_twice(db: Session, user_id: int) -> None:
    _rename(db, user_id, "first")
    _rename(db, user_id, "second", fail=True)


def login_of(runtime: Runtime, user_id: int) -> str | None:
    with runtime.db() as db:
        return db.scalar(select(User.login).where(User.id == user_id))


def test_a_use_case_commits_when_it_returns(runtime: Runtime, alice: Person) -> None:
    with runtime.db() as db:
        _rename(db, alice.id, "renamed")
        assert not db.in_transaction()
    assert login_of(runtime, alice.id) == "renamed"


def test_a_use_case_undoes_its_writes_on_a_domain_error(runtime: Runtime, alice: Person) -> None:
    with runtime.db() as db:
        with pytest.raises(InvalidInput):
            _rename(db, alice.id, "renamed", fail=True)
        assert not db.in_transaction()
    assert login_of(runtime, alice.id) == alice.login


def test_a_nested_use_case_joins_the_outer_transaction(runtime: Runtime, alice: Person) -> None:
    with runtime.db() as db, pytest.raises(InvalidInput):
        _rename_twice(db, alice.id)
    assert login_of(runtime, alice.id) == alice.login  # "first" was not committed alone
