"""The first administrator: on an empty database `twofold serve` prints a one-time link."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from twofold.core.errors import InvalidToken
from twofold.core.sessions import Method, SessionState
from twofold.crypto.tokens import new_token, token_digest
from twofold.services import sessions
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.services.users import create_user
from twofold.store.db import rows_affected
from twofold.store.models import AuthSession, OneTimeToken, User

SETUP_PURPOSE = "setup"
SETUP_TOKEN_LIFETIME = timedelta(hours=24)


def needs_setup(db: Session) -> bool:
    return not db.scalar(select(func.count(User.id)))


@use_case
def issue_setup_token(db: Session, runtime: Runtime) -> str:
    """A fresh link; earlier unused ones stop working, so only the last printed one counts."""
    now = runtime.now()
    db.execute(
        update(OneTimeToken)
        .where(OneTimeToken.purpose == SETUP_PURPOSE, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = new_token()
    db.add(
        OneTimeToken(
            purpose=SETUP_PURPOSE,
            token_digest=token_digest(token),
            created_at=now,
            expires_at=now + SETUP_TOKEN_LIFETIME,
        )
    )
    db.commit()
    return token


def check_setup_token(db: Session, runtime: Runtime, token: str) -> OneTimeToken:
    row = db.scalar(
        select(OneTimeToken).where(
            OneTimeToken.purpose == SETUP_PURPOSE,
            OneTimeToken.token_digest == token_digest(token),
        )
    )
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= runtime.now()
        or not needs_setup(db)
    ):
        raise InvalidToken()
    return row


@use_case
def complete_setup(
    db: Session,
    runtime: Runtime,
    *,
    token: str,
    login: str,
    email: str | None,
    password: str,
    client: ClientInfo,
) -> tuple[AuthSession, str]:
    """Create the first administrator and sign them in (they set up 2FA next)."""
    row = check_setup_token(db, runtime, token)
    user = create_user(
        db,
        runtime,
        login=login,
        password=password,
        email=email,
        superadmin=True,
        role="admin",
        client=client,
        email_verified=True,
    )
    used = rows_affected(
        db,
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=runtime.now())
        .execution_options(synchronize_session=False),
    )
    if used != 1:  # used by someone else meanwhile: the account above is rolled back
        raise InvalidToken()
    session, session_token = sessions.start_session(
        db, runtime, user, SessionState.AUTHENTICATED, [Method.PASSWORD], client
    )
    user.last_sign_in_at = runtime.now()
    db.commit()
    return session, session_token
