"""Security notifications: queued in the same transaction as the change they report."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core.policy import Role
from twofold.notify.messages import Message
from twofold.services import mail
from twofold.services.runtime import Runtime
from twofold.store.models import Membership, User

# A sign-in that follows this many wrong codes in a row is worth telling the owner about.
FAILED_CODES_WORTH_NOTICE = 3


def notify(db: Session, runtime: Runtime, user: User, kind: str, message: Message) -> bool:
    """Queue `message` to the person's verified address; False when they have none."""
    if not user.email or user.email_verified_at is None:
        return False
    send_to(db, runtime, user.email, kind, message, user_id=user.id)
    return True


def send_to(
    db: Session,
    runtime: Runtime,
    address: str,
    kind: str,
    message: Message,
    *,
    user_id: int | None,
    once_per: timedelta | None = None,
) -> None:
    mail.enqueue(
        db,
        runtime,
        kind=kind,
        recipient=address,
        composed=message.compose(runtime.settings.issuer),
        user_id=user_id,
        once_per=once_per,
    )


def notify_admins(
    db: Session, runtime: Runtime, organization_id: int, kind: str, message: Message
) -> None:
    """Queue `message` to every active admin of the organization with a verified address."""
    admins = db.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.organization_id == organization_id,
            Membership.role == Role.ADMIN.value,
            User.is_active.is_(True),
        )
        .order_by(User.id)
    )
    for admin in admins:
        notify(db, runtime, admin, kind, message)
