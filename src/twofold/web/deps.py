"""Request dependencies: database session, client info, the signed-in person, CSRF."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from twofold.core.oidc import is_phishing_resistant
from twofold.core.policy import Access, Demand
from twofold.core.sessions import SessionState, amr_methods
from twofold.otp.clock import unix_time
from twofold.services import organizations, sessions
from twofold.services.organizations import Standing
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.db import end_reading, hold_loaded
from twofold.store.models import AuthSession, User
from twofold.web import csrf
from twofold.web.rendering import SESSION_COOKIE, read_cookie, runtime_of

log = logging.getLogger("twofold.web")
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


class Redirect(Exception):
    """Raised by a dependency to send the browser elsewhere (handled in app.py)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class CsrfRejected(Exception):
    """An unsafe request (POST, PUT, PATCH, DELETE) without a valid token for this browser."""


# Dependencies that only read the request are `async def`: FastAPI runs a plain `def`
# dependency in a worker thread, a hand-off each (four per page view, for nothing).
async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


def writes_on_get(endpoint: _Endpoint) -> _Endpoint:
    """Marks a page whose GET writes (starting 2FA setup stores a pending key), so that it
    gets a session that may write instead of a read-only one."""
    endpoint.twofold_writes_on_get = True  # type: ignore[attr-defined]
    return endpoint


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One database session per request: read-only for page views (on SQLite they never wait
    for a writer), one that may write for forms. Async, so that closing it needs no worker
    thread: a request holding SQLite's write lock never waits for a free thread."""
    runtime = runtime_of(request)
    endpoint = request.scope.get("endpoint")
    reads_only = request.method in SAFE_METHODS and not getattr(
        endpoint, "twofold_writes_on_get", False
    )
    db = runtime.read_db() if reads_only else runtime.db()
    hold_loaded(db)
    try:
        yield db
    finally:
        # close() rolls back what was not committed without expiring the loaded objects, so
        # an error page rendered after this (FastAPI closes dependencies before exception
        # handlers run) can still show who is signed in.
        db.close()


def get_client(request: Request) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host[:64] if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
DbDep = Annotated[Session, Depends(get_db)]


async def _client_of_request(request: Request) -> ClientInfo:
    return get_client(request)


ClientDep = Annotated[ClientInfo, Depends(_client_of_request)]


def get_optional_session(request: Request, db: DbDep, runtime: RuntimeDep) -> AuthSession | None:
    session = sessions.find_session(db, runtime, read_cookie(request, SESSION_COOKIE))
    end_reading(db)  # the next step may run on another thread: hold no lock across it
    request.state.auth_session = session
    return session


OptionalSession = Annotated[AuthSession | None, Depends(get_optional_session)]


SETUP_PAGE = "/account/security/setup"
CODE_PAGE = "/login/code"
# Security keys and passkeys (decision 0027): the prompt, and adding one (decision 0029:
# where an organization's phishing-resistant requirement sends people).
PASSKEY_PAGE = "/login/passkey"
ADD_PASSKEY_PAGE = "/account/security/passkeys/new"


def verify_page(access: Access) -> str:
    """Where a VERIFY demand is answered: the passkey prompt when a code cannot answer it."""
    return PASSKEY_PAGE if access.security_key else CODE_PAGE


def enroll_page(access: Access) -> str:
    """Where an ENROLL (or GRACE) demand is met: adding a security key, or setting up 2FA."""
    return ADD_PASSKEY_PAGE if access.security_key else SETUP_PAGE


def _standing(
    request: Request, db: Session, runtime: Runtime, session: AuthSession
) -> tuple[User, Standing]:
    user = db.get(User, session.user_id)
    if user is None:  # pragma: no cover - find_session already checked
        raise Redirect("/login")
    standing = organizations.standing(db, runtime, user, session)
    end_reading(db)
    request.state.user = user
    request.state.standing = standing
    return user, standing


def _challenge_session(
    request: Request,
    db: Session,
    runtime: Runtime,
    session: AuthSession | None,
    *,
    codes_answer: bool,
) -> AuthSession:
    if session is None:
        expired = bool(read_cookie(request, SESSION_COOKIE))
        raise Redirect("/login?notice=expired" if expired else "/login")
    if session.state == SessionState.AUTHENTICATED:
        if not codes_answer and not is_phishing_resistant(amr_methods(session.amr)):
            # A key is a step up, whoever asks for it: the organization (decision 0029) or
            # an application (acr phr, forward-auth require=phr) a pending sign-in is for.
            return session
        _user, standing = _standing(request, db, runtime, session)
        if standing.access.demand is not Demand.VERIFY:
            raise Redirect("/account/security")
        if standing.access.security_key and codes_answer:  # a code does not answer it
            raise Redirect(PASSKEY_PAGE)
    return session


def get_challenge_session(
    request: Request, db: DbDep, runtime: RuntimeDep, session: OptionalSession
) -> AuthSession:
    """A session at a code prompt: after the password, or signed in and asked again
    because the current organization requires 2FA that this session has not passed there
    (sent to the key prompt where only a security key answers it)."""
    return _challenge_session(request, db, runtime, session, codes_answer=True)


def get_key_challenge_session(
    request: Request, db: DbDep, runtime: RuntimeDep, session: OptionalSession
) -> AuthSession:
    """A session at the security-key prompt: as at a code prompt, and also where the
    organization asks for the key itself (a code then does not answer it)."""
    return _challenge_session(request, db, runtime, session, codes_answer=False)


PendingSession = Annotated[AuthSession, Depends(get_challenge_session)]
KeyPromptSession = Annotated[AuthSession, Depends(get_key_challenge_session)]


async def get_authenticated_session(request: Request, session: OptionalSession) -> AuthSession:
    if session is None:
        raise Redirect("/login")
    if session.state != SessionState.AUTHENTICATED:
        raise Redirect(CODE_PAGE)
    return session


AuthenticatedSession = Annotated[AuthSession, Depends(get_authenticated_session)]


def get_enrolling_user(
    request: Request, db: DbDep, runtime: RuntimeDep, session: AuthenticatedSession
) -> User:
    """Signed in, perhaps obliged to set up 2FA first: may reach the setup pages."""
    user, standing = _standing(request, db, runtime, session)
    if standing.access.demand is Demand.VERIFY:
        raise Redirect(verify_page(standing.access))
    return user


EnrollingUser = Annotated[User, Depends(get_enrolling_user)]


def get_current_user(
    request: Request, db: DbDep, runtime: RuntimeDep, session: AuthenticatedSession
) -> User:
    """Signed in with everything the current organization demands."""
    user, standing = _standing(request, db, runtime, session)
    if standing.access.demand is Demand.VERIFY:
        raise Redirect(verify_page(standing.access))
    if standing.access.demand is Demand.ENROLL:
        raise Redirect(enroll_page(standing.access))
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_standing(request: Request) -> Standing:
    """The standing computed by EnrollingUser or CurrentUser earlier in the same request."""
    standing: Standing = request.state.standing
    return standing


StandingDep = Annotated[Standing, Depends(get_standing)]


# Methods that change nothing; every other method must carry a CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_FIELD = "csrf_token"
_EXEMPTION = "csrf_exempt_reason"


def csrf_exempt(reason: str) -> Callable[[_Endpoint], _Endpoint]:
    """Mark an endpoint that no cookie authenticates (an `Authorization` header, client
    credentials), so the app-wide CSRF check skips it. The reason is required and shown by
    the route audit test; a cookie-authenticated form must never use this."""
    if not reason.strip():
        raise ValueError("a CSRF exemption needs a reason")

    def mark(endpoint: _Endpoint) -> _Endpoint:
        setattr(endpoint, _EXEMPTION, reason)
        return endpoint

    return mark


def csrf_exemption(endpoint: object) -> str | None:
    """The documented reason an endpoint is exempt from the CSRF check, or None."""
    reason = getattr(endpoint, _EXEMPTION, None)
    return reason if isinstance(reason, str) else None


async def require_csrf(request: Request, runtime: RuntimeDep) -> None:
    """Set on the whole app (create_app): every unsafe request to a route not marked with
    csrf_exempt must carry a valid form token. The form is read through Starlette's cached
    request.form(), the same parse FastAPI uses for a route's Form() fields."""
    if request.method in SAFE_METHODS or csrf_exemption(request.scope.get("endpoint")):
        return
    form = await request.form()
    submitted = form.get(CSRF_FIELD)
    cookie_value = read_cookie(request, csrf.COOKIE_NAME)
    if not isinstance(submitted, str) or not csrf.token_is_valid(
        runtime.keys.csrf_key(), cookie_value, submitted, unix_time(runtime.now())
    ):
        log.warning("CSRF token refused for %s %s", request.method, request.url.path)
        raise CsrfRejected()
