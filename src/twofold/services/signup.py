"""Self-service sign-up, for organizations that allow it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import AlreadyExists, Forbidden, InvalidInput
from twofold.core.validation import normalize_email
from twofold.notify import messages
from twofold.services import audit, email_addresses
from twofold.services.notifications import send_to
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.services.users import create_user
from twofold.store.models import Organization, User


def open_organizations(db: Session) -> list[Organization]:
    return list(
        db.scalars(select(Organization).where(Organization.signup_open).order_by(Organization.name))
    )


def organization_open_for_signup(db: Session, slug: str) -> Organization:
    organization = db.scalar(select(Organization).where(Organization.slug == slug[:64]))
    if organization is None or not organization.signup_open:
        raise Forbidden(words.SIGNUP_CLOSED)
    return organization


# How often the owner of a taken address is told that someone typed it into sign-up.
NOTICE_ONCE_PER = timedelta(minutes=1)


@use_case
def sign_up(
    db: Session,
    runtime: Runtime,
    *,
    slug: str,
    login: str,
    email: str,
    password: str,
    client: ClientInfo,
) -> None:
    """Create a member of an open organization with an address still to confirm, and mail
    the confirmation link; or, when the address has an account already, mail its owner
    instead and create nothing. The caller shows the same answer either way and signs
    nobody in, so sign-up does not tell who has an account (docs/security.md)."""
    try:
        organization = organization_open_for_signup(db, slug)
    except Forbidden:
        known = db.scalar(select(Organization.id).where(Organization.slug == slug[:64]))
        audit.record(
            db,
            runtime.now(),
            AuditEventType.SIGNUP_REFUSED,
            organization_id=known,
            client=client,
            reason="closed" if known else "unknown_organization",
        )
        db.commit()
        raise
    if not email.strip():
        raise InvalidInput("email", words.ENTER_EMAIL)
    try:
        # Checks the password, hashes it, then checks the login name (a taken one is
        # reported: see docs/decisions/0007) and then the address, in that order.
        user = create_user(
            db,
            runtime,
            login=login,
            password=password,
            email=email,
            organization_slug=organization.slug,
            client=client,
        )
    except AlreadyExists as exc:
        if exc.field != "email":
            raise
        address = normalize_email(email)
        _tell_the_owner(db, runtime, organization, address, client)
        return
    email_addresses.send_verification(db, runtime, user, user.email or "")
    db.commit()


def _tell_the_owner(
    db: Session,
    runtime: Runtime,
    organization: Organization,
    address: str,
    client: ClientInfo,
) -> None:
    """The path for a taken address costs what a new account does: the same password hash
    (create_user hashes before it looks at the address; the hash is thrown away) and a
    queued message."""
    owner = db.scalar(select(User).where(User.email == address))
    if owner is None:  # pragma: no cover - create_user just found it
        raise InvalidInput("email", words.ENTER_EMAIL)
    send_to(
        db,
        runtime,
        address,
        "signup_address_taken",
        messages.signup_with_taken_address(
            owner.login, organization.name, f"{runtime.public_url()}/login"
        ),
        user_id=owner.id,
        once_per=NOTICE_ONCE_PER,
    )
    audit.record(
        db,
        runtime.now(),
        AuditEventType.SIGNUP_REFUSED,
        user_id=owner.id,
        organization_id=organization.id,
        client=client,
        reason="address_taken",
    )
    db.commit()
