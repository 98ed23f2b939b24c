"""Request dependencies: database session, client info, the signed-in person, CSRF."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Form, Request
from sqlalchemy.orm import Session

from twofold.core.sessions import SessionState
from twofold.otp.clock import unix_time
from twofold.services import sessions
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import AuthSession, User
from twofold.web import csrf
from twofold.web.rendering import SESSION_COOKIE, runtime_of

log = logging.getLogger("twofold.web")


class Redirect(Exception):
    """Raised by a dependency to send the browser elsewhere (handled in app.py)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class CsrfRejected(Exception):
    """A POST without a valid token for this browser."""


def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


def get_db(request: Request) -> Iterator[Session]:
    db = runtime_of(request).db()
    try:
        yield db
    finally:
        db.rollback()
        db.close()


def get_client(request: Request) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host[:64] if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
DbDep = Annotated[Session, Depends(get_db)]
ClientDep = Annotated[ClientInfo, Depends(get_client)]


def get_optional_session(request: Request, db: DbDep, runtime: RuntimeDep) -> AuthSession | None:
    session = sessions.find_session(db, runtime, request.cookies.get(SESSION_COOKIE))
    request.state.auth_session = session
    return session


OptionalSession = Annotated[AuthSession | None, Depends(get_optional_session)]


def get_pending_session(request: Request, session: OptionalSession) -> AuthSession:
    """A password-verified session, on its way to the code prompt."""
    if session is None:
        raise Redirect("/login?notice=expired" if request.cookies.get(SESSION_COOKIE) else "/login")
    if session.state == SessionState.AUTHENTICATED:
        raise Redirect("/account/security")
    return session


PendingSession = Annotated[AuthSession, Depends(get_pending_session)]


def get_authenticated_session(request: Request, session: OptionalSession) -> AuthSession:
    if session is None:
        raise Redirect("/login")
    if session.state != SessionState.AUTHENTICATED:
        raise Redirect("/login/code")
    return session


AuthenticatedSession = Annotated[AuthSession, Depends(get_authenticated_session)]


def get_current_user(request: Request, db: DbDep, session: AuthenticatedSession) -> User:
    user = db.get(User, session.user_id)
    if user is None:  # pragma: no cover - find_session already checked
        raise Redirect("/login")
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_csrf(
    request: Request, runtime: RuntimeDep, csrf_token: Annotated[str, Form()] = ""
) -> None:
    cookie_value = request.cookies.get(csrf.COOKIE_NAME)
    if not csrf.token_is_valid(
        runtime.keys.csrf_key(), cookie_value, csrf_token, unix_time(runtime.now())
    ):
        log.warning("CSRF token refused for %s %s", request.method, request.url.path)
        raise CsrfRejected()


CsrfChecked = Annotated[None, Depends(require_csrf)]
