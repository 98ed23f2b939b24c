"""One-time links (email verification, password reset): random tokens, stored only as
SHA-256, used up by one conditional UPDATE."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from twofold.core.errors import InvalidToken
from twofold.crypto.tokens import new_token, token_digest
from twofold.services.runtime import Runtime
from twofold.store.db import rows_affected
from twofold.store.models import OneTimeToken

MAX_TOKEN_LENGTH = 128


def issue(
    db: Session,
    runtime: Runtime,
    *,
    purpose: str,
    user_id: int,
    lifetime: timedelta,
    payload: str | None = None,
) -> str:
    """A new link token; earlier unused ones for the same purpose and person stop working."""
    now = runtime.now()
    db.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.purpose == purpose,
            OneTimeToken.user_id == user_id,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token = new_token()
    db.add(
        OneTimeToken(
            purpose=purpose,
            token_digest=token_digest(token),
            user_id=user_id,
            payload=payload,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    db.flush()
    return token


def issue_unbound(
    db: Session,
    runtime: Runtime,
    *,
    purpose: str,
    lifetime: timedelta,
    payload: str,
    organization_id: int | None = None,
    role: str | None = None,
    created_by_id: int | None = None,
) -> str:
    """A link for someone who has no account yet (an invitation)."""
    now = runtime.now()
    token = new_token()
    db.add(
        OneTimeToken(
            purpose=purpose,
            token_digest=token_digest(token),
            payload=payload,
            organization_id=organization_id,
            role=role,
            created_by_id=created_by_id,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    db.flush()
    return token


def peek(db: Session, runtime: Runtime, *, purpose: str, token: str) -> OneTimeToken:
    """The live link for a token (unknown, used, expired or forged: InvalidToken)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken()
    row = db.scalar(
        select(OneTimeToken).where(
            OneTimeToken.purpose == purpose, OneTimeToken.token_digest == token_digest(token)
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= runtime.now():
        raise InvalidToken()
    return row


def consume(db: Session, runtime: Runtime, *, purpose: str, token: str) -> OneTimeToken:
    """Use a link up; exactly one request can, however many arrive at once."""
    row = peek(db, runtime, purpose=purpose, token=token)
    now = runtime.now()
    used = rows_affected(
        db,
        update(OneTimeToken)
        .where(
            OneTimeToken.id == row.id,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False),
    )
    if used != 1:
        raise InvalidToken()
    row.used_at = now
    return row
