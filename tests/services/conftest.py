"""Service-level steps, each in its own database session as one web request would be."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from support import Person
from twofold.core.audit_events import AuditEventType
from twofold.otp.clock import FixedClock
from twofold.services import second_factor, sessions, signin
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import AuditEvent, AuthSession, User

BROWSER = ClientInfo(ip="203.0.113.7", user_agent="Mozilla/5.0 (pytest browser)")


class Steps:
    """What a browser does, one request (one db session) per call."""

    client = BROWSER

    def __init__(self, runtime: Runtime, clock: FixedClock) -> None:
        self.runtime = runtime
        self.clock = clock

    def sign_in(self, person: Person, password: str | None = None) -> signin.SignInStarted:
        with self.runtime.db() as db:
            return signin.sign_in_with_password(
                db,
                self.runtime,
                login=person.login,
                password=person.password if password is None else password,
                client=self.client,
            )

    def password_step(self, person: Person) -> str:
        """A fresh password-verified session's token."""
        started = self.sign_in(person)
        assert started.needs_second_factor
        return started.token

    def find(self, token: str) -> AuthSession | None:
        with self.runtime.db() as db:
            return sessions.find_session(db, self.runtime, token)

    def totp(self, token: str, code: str) -> str:
        with self.runtime.db() as db:
            session = sessions.find_session(db, self.runtime, token)
            assert session is not None, "the password-verified session is gone"
            return second_factor.verify_totp(db, self.runtime, session, code, self.client)

    def recovery(self, token: str, code: str) -> str:
        with self.runtime.db() as db:
            session = sessions.find_session(db, self.runtime, token)
            assert session is not None, "the password-verified session is gone"
            return second_factor.verify_recovery_code(db, self.runtime, session, code, self.client)

    def user(self, person: Person) -> User:
        with self.runtime.db() as db:
            user = db.get(User, person.id)
            assert user is not None
            return user

    def wrong_code(self, person: Person) -> str:
        """Six digits that match no step inside the window around now."""
        near = {person.totp(self.clock, offset) for offset in (-1, 0, 1)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)

    def events(self, event: AuditEventType | None = None) -> list[AuditEvent]:
        with self.runtime.db() as db:
            query = select(AuditEvent).order_by(AuditEvent.id)
            if event is not None:
                query = query.where(AuditEvent.event == event.value)
            return list(db.scalars(query))

    @staticmethod
    def detail(event: AuditEvent) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(event.detail)
        return loaded


@pytest.fixture
def steps(runtime: Runtime, clock: FixedClock) -> Steps:
    return Steps(runtime, clock)
