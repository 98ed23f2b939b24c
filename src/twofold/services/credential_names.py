"""The name of an organization's application (OIDC client) or API key: admins and, for
applications, the people signing in tell them apart by it, so an organization has one active
credential of a name, whatever the case. One home for the rule both kinds follow: the
name's shape, the friendly check before the insert, and the unique index (migration 0011)
that holds when two admins pick the same name at the same moment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twofold.core.errors import InvalidInput
from twofold.core.words import Words

NAME_MAX = 200


def checked_name(name: str, required: Words) -> str:
    """The name without surrounding spaces; InvalidInput(`required`) when it is empty, too
    long or holds a control character."""
    name = name.strip()
    if not name or len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        raise InvalidInput("name", required)
    return name


def ensure_free(db: Session, model: Any, organization_id: int, name: str, taken: Words) -> None:
    """InvalidInput(`taken`) when the organization has an active `model` of this name (any
    case). Also what makes a reload of the console's "created" page (the browser posts the
    form again) harmless instead of making a second one."""
    existing = db.scalar(
        select(model.id).where(
            model.organization_id == organization_id,
            model.revoked_at.is_(None),
            func.lower(model.name) == name.lower(),
        )
    )
    if existing is not None:
        raise InvalidInput("name", taken)


def insert_named(db: Session, row: Any, taken: Words) -> None:
    """Add and flush `row`; InvalidInput(`taken`) when the unique index finds its name was
    taken a moment ago by another admin (the use case is rolled back)."""
    db.add(row)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise InvalidInput("name", taken) from None
