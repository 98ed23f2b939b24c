"""The admin console's members table and 2FA adoption, filtered, sorted and counted in the
database so that it stays fast with 100,000 members (see docs/benchmarks.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Exists, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from twofold.core import words
from twofold.core.errors import InvalidInput
from twofold.core.policy import MembershipView, PhishingResistantPolicy, Role, TwoFactorPolicy
from twofold.services import users
from twofold.services.runtime import Runtime
from twofold.store.models import (
    Authenticator,
    Membership,
    Organization,
    RecoveryCode,
    User,
    WebAuthnCredential,
)

PER_PAGE = 50
SORTS = {"login", "email", "role", "last_sign_in", "two_factor"}
STATUSES = {"", "enabled", "not_enabled", "locked", "security_key", "no_security_key"}


@dataclass(frozen=True)
class MemberRow:
    user_id: int
    login: str
    email: str | None
    role: str
    active: bool
    two_factor: bool
    reset_pending: bool
    recovery_codes_left: int
    locked: bool
    last_sign_in_at: datetime | None
    grace_ends_at: datetime | None = None  # may still put off setting up 2FA until then
    # A security key or passkey registered: meets a phishing-resistant requirement.
    has_security_key: bool = False
    security_key_required: bool = False  # the organization requires one of this member
    key_grace_ends_at: datetime | None = None  # may still put off adding one until then


@dataclass(frozen=True)
class MemberPage:
    rows: list[MemberRow]
    total: int
    page: int
    pages: int


def _has_2fa(user_id: InstrumentedAttribute[int] = Membership.user_id) -> Exists:
    """A confirmed authenticator exists for the member (correlated on memberships.user_id,
    which equals users.id wherever both are joined, so counts can skip the users table)."""
    return users.users_with_two_factor().where(Authenticator.user_id == user_id).exists()


def _has_security_key(user_id: InstrumentedAttribute[int] = Membership.user_id) -> Exists:
    """A WebAuthn credential exists for the member (correlated as `_has_2fa`)."""
    return users.users_with_security_key().where(WebAuthnCredential.user_id == user_id).exists()


def _member_conditions(*, search: str, status: str, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    needle = search.strip().lower()[:100]
    if needle:
        pattern = f"%{needle.replace('%', '').replace('_', '')}%"
        conditions.append(or_(User.login.like(pattern), User.email.like(pattern)))
    if status == "enabled":
        conditions.append(_has_2fa())
    elif status == "not_enabled":
        conditions.append(~_has_2fa())
    elif status == "locked":
        conditions.append(users.code_locked_sql(now))
    elif status == "security_key":
        conditions.append(_has_security_key())
    elif status == "no_security_key":
        conditions.append(~_has_security_key())
    return conditions


def list_members(
    db: Session,
    runtime: Runtime,
    organization: Organization,
    *,
    search: str = "",
    status: str = "",
    sort: str = "login",
    descending: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> MemberPage:
    """One page of the members table, filtered, sorted and counted in the database, so it
    stays fast with 100,000 members (see docs/benchmarks.md)."""
    if status not in STATUSES:
        raise InvalidInput("status", words.UNKNOWN_STATUS_FILTER)
    if sort not in SORTS:
        raise InvalidInput("sort", words.UNKNOWN_SORT_COLUMN)
    now = runtime.now()
    conditions = [
        Membership.organization_id == organization.id,
        *_member_conditions(search=search, status=status, now=now),
    ]
    # The count reads the users table only when a condition is on it (search, locked).
    counted = select(func.count()).select_from(Membership)
    if search.strip() or status == "locked":
        counted = counted.join(User, User.id == Membership.user_id)
    total = int(db.scalar(counted.where(*conditions)) or 0)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    column = {
        "login": User.login,
        "email": User.email,
        "role": Membership.role,
        "last_sign_in": User.last_sign_in_at,
        "two_factor": _has_2fa(),
    }[sort]
    # The ORDER BY is a total order (login is unique), so a page in the second half is the
    # same rows read from the other end: the database then skips fewer rows.
    offset = (page - 1) * per_page
    on_page = max(0, min(per_page, total - offset))
    from_end = total - offset - on_page
    backwards = from_end < offset
    first_desc = descending != backwards
    order: list[ColumnElement[Any]] = [
        column.desc() if first_desc else column.asc(),
        User.login.desc() if backwards else User.login.asc(),
    ]
    # Sort and skip only the ids (a small sort), then load the page's rows.
    ids = list(
        db.scalars(
            select(User.id)
            .join(Membership, Membership.user_id == User.id)
            .where(*conditions)
            .order_by(*order)
            .offset(from_end if backwards else offset)
            .limit(on_page if backwards else per_page)
        )
    )
    if backwards:
        ids.reverse()
    loaded = {
        user.id: (user, role, joined_at)
        for user, role, joined_at in db.execute(
            select(User, Membership.role, Membership.created_at)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organization_id == organization.id, User.id.in_(ids))
        )
    }
    rows = [loaded[user_id] for user_id in ids if user_id in loaded]
    with_2fa = set(db.scalars(users.users_with_two_factor().where(Authenticator.user_id.in_(ids))))
    with_key = set(
        db.scalars(users.users_with_security_key().where(WebAuthnCredential.user_id.in_(ids)))
    )
    codes_left = dict(
        db.execute(
            select(RecoveryCode.user_id, func.count(RecoveryCode.id))
            .where(RecoveryCode.user_id.in_(ids), RecoveryCode.used_at.is_(None))
            .group_by(RecoveryCode.user_id)
        ).all()
    )
    return MemberPage(
        rows=[
            MemberRow(
                user_id=user.id,
                login=user.login,
                email=user.email,
                role=role,
                active=user.is_active,
                two_factor=user.id in with_2fa,
                reset_pending=user.two_factor_reset_at is not None,
                recovery_codes_left=int(codes_left.get(user.id, 0)),
                locked=users.is_code_locked(user, now),
                last_sign_in_at=user.last_sign_in_at,
                grace_ends_at=_grace_end(organization, role, joined_at, now),
                has_security_key=user.id in with_key,
                **_key_requirement(organization, role, joined_at, now),
            )
            for user, role, joined_at in rows
        ],
        total=total,
        page=page,
        pages=pages,
    )


def _grace_end(
    organization: Organization, role: str, joined_at: datetime, now: datetime
) -> datetime | None:
    """The member's own grace end while it lies ahead (people who joined after enforcement
    began have none), by the same rule that decides their access."""
    end = MembershipView(
        organization_id=organization.id,
        slug=organization.slug,
        name=organization.name,
        role=Role(role),
        joined_at=joined_at,
        policy=TwoFactorPolicy(organization.two_factor_policy),
        required_since=organization.required_since,
        grace_days=organization.grace_days,
    ).grace_ends_at()
    return end if end is not None and end > now else None


def _view(organization: Organization, role: str, joined_at: datetime) -> MembershipView:
    return MembershipView(
        organization_id=organization.id,
        slug=organization.slug,
        name=organization.name,
        role=Role(role),
        joined_at=joined_at,
        policy=TwoFactorPolicy(organization.two_factor_policy),
        required_since=organization.required_since,
        grace_days=organization.grace_days,
        phishing_resistant=PhishingResistantPolicy(organization.phishing_resistant),
        phishing_resistant_since=organization.phishing_resistant_since,
    )


def _key_requirement(
    organization: Organization, role: str, joined_at: datetime, now: datetime
) -> dict[str, Any]:
    """Whether the organization requires a security key of the member, and their grace end
    while it lies ahead, by the rule that decides their access (core.policy)."""
    view = _view(organization, role, joined_at)
    end = view.key_grace_ends_at()
    return {
        "security_key_required": view.requires_security_key,
        "key_grace_ends_at": end if end is not None and end > now else None,
    }


@dataclass(frozen=True)
class KeyStanding:
    """One member's security key as the organization's phishing-resistant rule sees it."""

    has_security_key: bool
    required: bool
    grace_ends_at: datetime | None


def key_standing(
    db: Session, runtime: Runtime, organization: Organization, user: User
) -> KeyStanding:
    membership = db.scalar(
        select(Membership).where(
            Membership.organization_id == organization.id, Membership.user_id == user.id
        )
    )
    if membership is None:
        return KeyStanding(users.has_security_key(db, user.id), False, None)
    found = _key_requirement(organization, membership.role, membership.created_at, runtime.now())
    return KeyStanding(
        has_security_key=users.has_security_key(db, user.id),
        required=found["security_key_required"],
        grace_ends_at=found["key_grace_ends_at"],
    )


@dataclass(frozen=True)
class Adoption:
    members: int
    with_two_factor: int

    @property
    def percent(self) -> int:
        return round(100 * self.with_two_factor / self.members) if self.members else 0


def adoption(db: Session, organization: Organization) -> Adoption:
    members = (
        select(func.count())
        .select_from(Membership)
        .where(Membership.organization_id == organization.id)
    )
    total = int(db.scalar(members) or 0)
    enabled = int(db.scalar(members.where(_has_2fa())) or 0)
    return Adoption(members=total, with_two_factor=enabled)
