"""Requests that must not tell who has an account do the same work either way: the same
SQL statements for a first and a repeated reset request, and the same password hashing for
a new and a taken sign-up address. Statements are counted with SQLAlchemy's
before_cursor_execute event on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from support import STRONG_PASSWORD, make_org, make_person
from twofold.otp.clock import FixedClock
from twofold.services import password_reset, signup
from twofold.services.password_reset import RESEND_AFTER
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import OutgoingEmail, User

CLIENT = ClientInfo(ip="203.0.113.7", user_agent="pytest")


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """Every SQL statement sent to the database while the block runs (first word kept)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql.split(None, 1)[0].upper())

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)


@contextmanager
def hashes(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    calls: list[str] = []
    real = runtime.hasher.hash

    def counting(password: str) -> str:
        calls.append("hash")
        return real(password)

    monkeypatch.setattr(runtime.hasher, "hash", counting)
    yield calls
    monkeypatch.undo()


def ask_reset(runtime: Runtime, address: str) -> list[str]:
    with statements(runtime) as seen, runtime.db() as db:
        password_reset.request_reset(db, runtime, address=address, client=CLIENT)
    return seen


def test_a_repeated_reset_request_does_the_same_statements_as_the_first(
    runtime: Runtime, clock: FixedClock
) -> None:
    make_person(runtime, "alice", email="alice@example.org")
    first = ask_reset(runtime, "alice@example.org")
    clock.advance(RESEND_AFTER.total_seconds() - 1)
    repeated = ask_reset(runtime, "alice@example.org")
    clock.advance(RESEND_AFTER.total_seconds())
    later = ask_reset(runtime, "alice@example.org")
    assert "INSERT" in first
    assert repeated == first
    assert later == first


def test_a_repeated_reset_request_within_a_minute_still_sends_one_message_a_minute(
    runtime: Runtime, clock: FixedClock
) -> None:
    make_person(runtime, "alice", email="alice@example.org")
    ask_reset(runtime, "alice@example.org")
    ask_reset(runtime, "alice@example.org")
    with runtime.db() as db:
        rows = list(db.scalars(select(OutgoingEmail).order_by(OutgoingEmail.id)))
    assert [row.failed_at is None for row in rows] == [False, True]  # the first superseded
    assert rows[1].next_attempt_at == clock.now()  # nothing was sent yet: it may go at once


def sign_up(runtime: Runtime, login: str, email: str) -> list[str]:
    with statements(runtime) as seen, runtime.db() as db:
        signup.sign_up(
            db,
            runtime,
            slug="acme",
            login=login,
            email=email,
            password=STRONG_PASSWORD,
            client=CLIENT,
        )
    return seen


def test_a_taken_sign_up_address_costs_the_same_hashing_and_creates_nothing(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_org(runtime, "acme", signup_open=True)
    with hashes(runtime, monkeypatch) as new_hashes:
        new = sign_up(runtime, "sam", "sam@example.org")
    with hashes(runtime, monkeypatch) as taken_hashes:
        taken = sign_up(runtime, "samuel", "sam@example.org")
    assert new_hashes == taken_hashes == ["hash"]
    with runtime.db() as db:
        assert db.scalar(select(func.count(User.id)).where(User.email == "sam@example.org")) == 1
    # Not statement for statement: the new address writes the account (user, membership,
    # audit event, link, message: 5 INSERTs, 1 UPDATE) where the taken one reads the owner
    # and the last notice and writes an audit event and a message (docs/security.md).
    assert abs(len(new) - len(taken)) <= 2, (new, taken)
