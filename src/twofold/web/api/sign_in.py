"""/api/v1/sign-in: password, then (for a person with 2FA) a short-lived single-use
challenge answered with a code, giving a bearer token; /api/v1/sign-out revokes it. The
same services as the sign-in pages: the same throttle, lockout, replay rule and audit."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.sessions import SessionKind, SessionState
from twofold.services import organizations, second_factor, sessions, signin
from twofold.services.runtime import Runtime
from twofold.store.db import end_reading
from twofold.store.models import AuthSession, User
from twofold.web.api.deps import TokenSession, unauthenticated
from twofold.web.api.errors import documented
from twofold.web.api.schemas import (
    RecoveryCodeRequest,
    SecondFactorRequest,
    SignInAnswer,
    SignInRequest,
)
from twofold.web.deps import ClientDep, DbDep, RuntimeDep

router = APIRouter(prefix="/v1", tags=["sign-in"])


def signed_in(db: Session, runtime: Runtime, session: AuthSession, token: str) -> SignInAnswer:
    """The token, and what the organization's policy still asks of this sign-in."""
    user = db.get(User, session.user_id)
    access = organizations.standing(db, runtime, user, session).access if user else None
    return SignInAnswer(
        status="signed_in",
        token=token,
        token_type="Bearer",  # noqa: S106 - the scheme's name
        expires_at=session.expires_at,
        demand=access.demand.value if access else None,
        grace_ends_at=access.grace_ends_at if access else None,
    )


@router.post(
    "/sign-in",
    summary="Sign in with a password",
    responses=documented(400, 429),
)
def sign_in(body: SignInRequest, db: DbDep, runtime: RuntimeDep, client: ClientDep) -> SignInAnswer:
    """Wrong login or password: 400 `invalid_credentials` (one error: neither is revealed).
    A person with 2FA gets `mfa_required` and a challenge for /sign-in/code or
    /sign-in/recovery-code; anyone else a token at once."""
    started = signin.sign_in_with_password(
        db,
        runtime,
        login=body.login,
        password=body.password,
        client=client,
        kind=SessionKind.API,
    )
    if started.needs_second_factor:
        return SignInAnswer(
            status="mfa_required",
            challenge=started.token,
            expires_at=started.session.expires_at,
        )
    return signed_in(db, runtime, started.session, started.token)


def _challenge(db: Session, runtime: Runtime, challenge: str) -> AuthSession:
    session = sessions.find_session(db, runtime, challenge, SessionKind.API)
    end_reading(db)
    if session is None or session.state != SessionState.PASSWORD_VERIFIED:
        raise unauthenticated(words.API_CHALLENGE_INVALID, "invalid_challenge")
    return session


@router.post(
    "/sign-in/code",
    summary="Answer the sign-in challenge with an authenticator code",
    responses=documented(400, 401, 429),
)
def sign_in_code(
    body: SecondFactorRequest, db: DbDep, runtime: RuntimeDep, client: ClientDep
) -> SignInAnswer:
    """A wrong or reused code is 400 and counts toward the lock (429 once locked); the
    challenge stops working once a code is accepted."""
    session = _challenge(db, runtime, body.challenge)
    token = second_factor.verify_totp(db, runtime, session, body.code, client)
    return signed_in(db, runtime, session, token)


@router.post(
    "/sign-in/recovery-code",
    summary="Answer the sign-in challenge with a recovery code",
    responses=documented(400, 401, 429),
)
def sign_in_recovery_code(
    body: RecoveryCodeRequest, db: DbDep, runtime: RuntimeDep, client: ClientDep
) -> SignInAnswer:
    """The recovery code is used up by this sign-in."""
    session = _challenge(db, runtime, body.challenge)
    token = second_factor.verify_recovery_code(db, runtime, session, body.code, client)
    return signed_in(db, runtime, session, token)


@router.post(
    "/sign-out",
    summary="Revoke this token",
    status_code=204,
    response_class=Response,
    responses=documented(401),
)
def sign_out(db: DbDep, runtime: RuntimeDep, client: ClientDep, session: TokenSession) -> Response:
    signin.sign_out(db, runtime, session, client)
    return Response(status_code=204)
