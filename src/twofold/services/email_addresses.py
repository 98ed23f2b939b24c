"""Email addresses are verified by a link before they count: only a verified address gets
security notifications and password-reset links."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import AlreadyExists, InvalidInput, InvalidToken
from twofold.core.validation import normalize_email
from twofold.notify import messages
from twofold.services import audit, links
from twofold.services.account import confirm_current_password
from twofold.services.notifications import notify, send_to
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.second_factor import confirm_code_for_change
from twofold.services.transactions import use_case
from twofold.services.users import has_two_factor
from twofold.store.models import User

PURPOSE = "verify_email"
LIFETIME = timedelta(hours=24)


def _taken_by_other(db: Session, address: str, user_id: int) -> bool:
    owner = db.scalar(select(User.id).where(User.email == address))
    return owner is not None and owner != user_id


def send_verification(db: Session, runtime: Runtime, user: User, address: str) -> None:
    """Mail a confirmation link to `address` (the account's address changes only when the
    link is used)."""
    token = links.issue(
        db, runtime, purpose=PURPOSE, user_id=user.id, lifetime=LIFETIME, payload=address
    )
    send_to(
        db,
        runtime,
        address,
        PURPOSE,
        messages.verify_email(user.login, f"{runtime.public_url()}/email/verify/{token}", 24),
        user_id=user.id,
    )


@use_case
def request_change(
    db: Session,
    runtime: Runtime,
    user: User,
    *,
    new_address: str,
    password: str,
    code: str,
    client: ClientInfo,
) -> str:
    """Ask for the password (and the code when 2FA is on), tell the old address, and send a
    confirmation link to the new one. Returns the normalised new address."""
    address = normalize_email(new_address)
    confirm_current_password(db, runtime, user, password, client)
    if has_two_factor(db, user.id):
        if not code.strip():
            raise InvalidInput("code", words.ENTER_CODE_FROM_APP)
        confirm_code_for_change(db, runtime, user, code, client)
    if address == user.email and user.email_verified_at is not None:
        raise InvalidInput("email", words.ALREADY_YOUR_EMAIL)
    if _taken_by_other(db, address, user.id):
        raise AlreadyExists("email", words.EMAIL_TAKEN_BY_OTHER)
    if user.email and user.email != address:
        notify(
            db,
            runtime,
            user,
            "email_change_requested",
            messages.email_change_requested(user.login, address),
        )
    send_verification(db, runtime, user, address)
    audit.record(
        db, runtime.now(), AuditEventType.EMAIL_CHANGE_REQUESTED, user_id=user.id, client=client
    )
    db.commit()
    return address


def pending_address(db: Session, runtime: Runtime, token: str) -> tuple[User, str]:
    """The account and address a live verification link is for (GET does not use it up)."""
    row = links.peek(db, runtime, purpose=PURPOSE, token=token)
    user = db.get(User, row.user_id) if row.user_id else None
    if user is None or not user.is_active or not row.payload:
        raise InvalidToken()
    return user, row.payload


@use_case
def confirm(db: Session, runtime: Runtime, token: str, client: ClientInfo) -> User:
    user, address = pending_address(db, runtime, token)
    if _taken_by_other(db, address, user.id):
        raise AlreadyExists("email", words.EMAIL_TAKEN_BY_OTHER_NOW)
    links.consume(db, runtime, purpose=PURPOSE, token=token)
    old_address = user.email if user.email_verified_at is not None else None
    user.email = address
    user.email_verified_at = runtime.now()
    if old_address and old_address != address:
        send_to(
            db,
            runtime,
            old_address,
            "email_changed",
            messages.email_changed(user.login, address),
            user_id=user.id,
        )
    audit.record(db, runtime.now(), AuditEventType.EMAIL_VERIFIED, user_id=user.id, client=client)
    db.commit()
    return user
