"""The admin console's use cases: who may act on whom, the members table, resets, unlocks,
offboarding and the audit log. Admins never see a secret or a code, and cannot turn 2FA on
for anyone — they can only take it away (reset), which the member undoes by email link."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import ColumnElement, Exists, Select, and_, delete, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from twofold.core.audit_events import AuditEventType
from twofold.core.errors import Forbidden, InvalidInput
from twofold.core.policy import MembershipView, Role, TwoFactorPolicy
from twofold.notify.messages import Message
from twofold.services import audit, links, organizations, sessions, users
from twofold.services.crash_points import crash_point
from twofold.services.notifications import send_to
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.second_factor import confirm_code_for_change
from twofold.services.transactions import use_case
from twofold.store.models import (
    AuditEvent,
    Authenticator,
    AuthSession,
    Membership,
    Organization,
    RecoveryCode,
    User,
)

REENROLL_PURPOSE = "reenroll"
REENROLL_LIFETIME = timedelta(hours=24)
REASON_MAX = 500
FRESH_SECOND_FACTOR = timedelta(minutes=10)
PER_PAGE = 50
SORTS = {"login", "email", "role", "last_sign_in", "two_factor"}
STATUSES = {"", "enabled", "not_enabled", "locked"}


@dataclass(frozen=True)
class AdminScope:
    """What one admin may administer: every organization (super-admin) or some."""

    admin: User | None  # None: the operator, through the CLI
    superadmin: bool
    organization_ids: frozenset[int]

    @property
    def actor_id(self) -> int | None:
        return self.admin.id if self.admin is not None else None

    def administers(self, organization_id: int) -> bool:
        return self.superadmin or organization_id in self.organization_ids


OPERATOR = AdminScope(admin=None, superadmin=True, organization_ids=frozenset())


def scope_of(db: Session, user: User) -> AdminScope | None:
    ids = frozenset(
        db.scalars(
            select(Membership.organization_id).where(
                Membership.user_id == user.id, Membership.role == Role.ADMIN.value
            )
        )
    )
    if not user.is_superadmin and not ids:
        return None
    return AdminScope(admin=user, superadmin=user.is_superadmin, organization_ids=ids)


def administered_organizations(db: Session, scope: AdminScope) -> list[Organization]:
    query = select(Organization).order_by(Organization.name)
    if not scope.superadmin:
        query = query.where(Organization.id.in_(scope.organization_ids))
    return list(db.scalars(query))


def refuse(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    action: str,
    *,
    target_id: int | None,
    client: ClientInfo | None,
    message: str,
) -> NoReturn:
    """Refuse an admin action: record the refusal (a security matter), commit it, and raise
    Forbidden with `message`."""
    audit.record(
        db,
        runtime.now(),
        AuditEventType.ADMIN_ACTION_REFUSED,
        user_id=target_id,
        actor_id=scope.actor_id,
        client=client,
        action=action,
    )
    db.commit()
    raise Forbidden(message)


ASK_A_SUPERADMIN = "Ask a super-admin."


def refusal(db: Session, scope: AdminScope, target: User) -> str | None:
    """THE scope rule — who may act on whom — for pages, CLI and every later API: None if
    `scope` may reset, unlock or remove `target`, else why not, in words for the admin.

    An organization admin may act only on plain members whose memberships all lie in
    organizations they administer. Administrators (of any organization) and super-admins
    need a super-admin; nobody acts on themselves."""
    if target.id == scope.actor_id:
        # not on oneself: that would be a way around one's own second factor
        return f"You can't do this to your own account. {ASK_A_SUPERADMIN}"
    if scope.superadmin:
        return None
    if target.is_superadmin:
        return f"Only a super-admin can change a super-admin's account. {ASK_A_SUPERADMIN}"
    memberships = db.execute(
        select(Membership.organization_id, Membership.role).where(Membership.user_id == target.id)
    ).all()
    target_orgs = {organization_id for organization_id, _role in memberships}
    if not target_orgs or not target_orgs <= scope.organization_ids:
        return (
            "You can't do that for this person: they belong to an organization you don't "
            f"administer. {ASK_A_SUPERADMIN}"
        )
    if any(role == Role.ADMIN.value for _org, role in memberships):
        return (
            "This person is an administrator: only a super-admin can reset, unlock or remove "
            f"an administrator. {ASK_A_SUPERADMIN}"
        )
    return None


def may_manage(db: Session, scope: AdminScope, target: User) -> bool:
    return refusal(db, scope, target) is None


def require_manageable(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    target: User,
    action: str,
    client: ClientInfo | None,
) -> None:
    """Refuse (recorded in the audit log, nothing else changed) unless `refusal` allows."""
    why_not = refusal(db, scope, target)
    if why_not is not None:
        refuse(
            db, runtime, scope, action, target_id=target.id, client=client, message=why_not
        )


def managed_member(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    member_id: int,
    action: str,
    client: ClientInfo | None,
) -> User:
    target = db.get(User, member_id)
    if target is None:
        refuse(
            db,
            runtime,
            scope,
            action,
            target_id=None,
            client=client,
            message="There is no such member.",
        )
    require_manageable(db, runtime, scope, target, action, client)
    return target


# --- members table ------------------------------------------------------------------------


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
        raise InvalidInput("status", "Unknown status filter.")
    if sort not in SORTS:
        raise InvalidInput("sort", "Unknown sort column.")
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


# --- actions ------------------------------------------------------------------------------


def check_reason(reason: str) -> str:
    """THE rule that a reset says why (it goes into the audit log), for console, CLI and
    API alike: the reason, stripped, or InvalidInput on the "reason" field."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("reason", "Say why you are resetting (it goes into the audit log).")
    if len(reason) > REASON_MAX:
        raise InvalidInput("reason", f"Keep the reason under {REASON_MAX} characters.")
    return reason


def second_factor_is_fresh(session: AuthSession, now: datetime) -> bool:
    """Whether the admin passed their second factor in this session within the last ten
    minutes; otherwise a reset asks their code again."""
    return session.second_factor_at is not None and now - session.second_factor_at <= (
        FRESH_SECOND_FACTOR
    )


@use_case
def reset_two_factor_as_admin(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    session: AuthSession,
    target: User,
    *,
    reason: str,
    code: str,
    client: ClientInfo,
) -> str:
    """The console's reset, by a signed-in admin: the reason first; then, unless their
    second factor is fresh in `session`, their own code (counted like any code), which makes
    it fresh again; then `reset_two_factor`. All in one transaction. Returns the link."""
    check_reason(reason)
    now = runtime.now()
    if not second_factor_is_fresh(session, now):
        if scope.admin is None or not code.strip():
            raise InvalidInput("code", "Enter the code from your authenticator app.")
        confirm_code_for_change(db, runtime, scope.admin, code, client)
        session.second_factor_at = now
    return reset_two_factor(db, runtime, scope, target, reason=reason, client=client)


@use_case
def reset_two_factor(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    target: User,
    *,
    reason: str,
    client: ClientInfo | None,
    send_email: bool = True,
) -> str:
    """The lost-phone case: delete the secret and codes, end the member's sessions, and mail
    them a single-use link (24 h) — the only way to set up 2FA again. Returns the link.

    Refused, with nothing changed, when the scope rule forbids it (recorded as a refused
    action) or when the member has no 2FA to reset (`reset_refusal`)."""
    require_manageable(db, runtime, scope, target, "reset_2fa", client)
    nothing_to_reset = reset_refusal(db, target)
    if nothing_to_reset is not None:
        raise InvalidInput("member", nothing_to_reset)
    reason = check_reason(reason)
    has_address = bool(target.email) and target.email_verified_at is not None
    if send_email and not has_address:
        raise InvalidInput(
            "reason",
            f"{target.login} has no confirmed email address, so the link to set up 2FA again "
            "cannot reach them. An operator can run `twofold user reset-2fa LOGIN --reason … "
            "--print-link` and hand the link over in person.",
        )
    now = runtime.now()
    db.execute(delete(Authenticator).where(Authenticator.user_id == target.id))
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == target.id))
    crash_point("reset.after_delete", db)
    users.clear_code_failures(target)
    target.two_factor_reset_at = now
    ended = sessions.end_other_sessions(db, target.id, None)
    token = links.issue(
        db, runtime, purpose=REENROLL_PURPOSE, user_id=target.id, lifetime=REENROLL_LIFETIME
    )
    crash_point("reset.after_link", db)
    link = f"{runtime.public_url()}/reenroll/{token}"
    if send_email and target.email:
        send_to(
            db,
            runtime,
            target.email,
            "two_factor_reset",
            reset_message(target.login, link),
            user_id=target.id,
        )
    audit.record(
        db,
        now,
        AuditEventType.TWO_FACTOR_RESET_BY_ADMIN,
        user_id=target.id,
        actor_id=scope.actor_id,
        client=client,
        reason=reason,
        sessions_ended=ended,
    )
    crash_point("reset.before_commit", db)
    db.commit()
    crash_point("reset.after_commit")
    return link


def reset_refusal(db: Session, target: User) -> str | None:
    """None if `target` has something to reset: 2FA on, or a reset still waiting for them
    (a new reset sends a new link, e.g. when the first one expired). Resetting someone
    without 2FA would lock them out of everything until they used the link, for nothing."""
    if users.has_two_factor(db, target.id) or target.two_factor_reset_at is not None:
        return None
    return (
        f"{target.login} has not set up two-factor authentication, so there is nothing to "
        "reset: they sign in with their password alone. Nothing was changed."
    )


def reset_message(login: str, link: str) -> Message:
    return Message(
        "set up two-factor authentication again",
        (
            f"An administrator reset two-factor authentication for your account {login}, "
            "for example because you lost your phone. Your old authenticator entry and "
            "recovery codes no longer work, and you were signed out everywhere.",
            "To use your account again, sign in and set up two-factor authentication with "
            "this link. It works once, for 24 hours. If you didn't ask for this, contact your "
            "administrator.",
        ),
        action=("Set up two-factor authentication", link),
    )


def end_all_sessions(db: Session, user_id: int) -> int:
    return sessions.end_sessions_where(db, AuthSession.user_id == user_id)


@use_case
def unlock(
    db: Session, runtime: Runtime, scope: AdminScope, target: User, client: ClientInfo | None
) -> None:
    """Clear a second-factor lock, if the scope rule allows."""
    require_manageable(db, runtime, scope, target, "unlock", client)
    users.unlock(db, runtime, target, actor_id=scope.actor_id)
    db.commit()


@use_case
def remove_from_organization(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    target: User,
    organization: Organization,
    client: ClientInfo | None,
) -> None:
    """Take away the membership and end the person's sessions at once (the account stays),
    if the scope rule allows and the organization is one the admin administers."""
    require_manageable(db, runtime, scope, target, "remove", client)
    if not scope.administers(organization.id):
        refuse(
            db,
            runtime,
            scope,
            "remove",
            target_id=target.id,
            client=client,
            message="You don't administer that organization.",
        )
    organizations.remove_member(db, runtime, target, organization, actor_id=scope.actor_id)
    end_all_sessions(db, target.id)
    db.commit()


@use_case
def deactivate(
    db: Session, runtime: Runtime, scope: AdminScope, target: User, client: ClientInfo | None
) -> None:
    if not scope.superadmin:
        refuse(
            db,
            runtime,
            scope,
            "deactivate",
            target_id=target.id,
            client=client,
            message="Only a super-admin can deactivate an account.",
        )
    target.is_active = False
    ended = end_all_sessions(db, target.id)
    audit.record(
        db,
        runtime.now(),
        AuditEventType.USER_DEACTIVATED,
        user_id=target.id,
        actor_id=scope.actor_id,
        client=client,
        sessions_ended=ended,
    )
    db.commit()


# --- audit log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    member: str = ""
    event: str = ""
    since: datetime | None = None
    until: datetime | None = None


def audit_visible(scope: AdminScope, organization: Organization) -> ColumnElement[bool]:
    """Which events of `organization`'s log `scope` may read — the audit side of the scope
    rule. An event recorded for an organization (membership added or removed, policy
    changed, invitation…) belongs to that organization alone. An event of no organization
    (a person's own sign-ins, 2FA changes, resets, unlocks…) belongs to every organization the
    person is a member of. So an admin reads their organization's events and their members'
    own events, never another organization's events about a member they share; a super-admin
    administers every organization and reads all of a member's events."""
    members = select(Membership.user_id).where(Membership.organization_id == organization.id)
    about_a_member: ColumnElement[bool] = AuditEvent.user_id.in_(members)
    if not scope.superadmin:
        about_a_member = and_(
            about_a_member,
            or_(
                AuditEvent.organization_id.is_(None),
                AuditEvent.organization_id.in_(sorted(scope.organization_ids)),
            ),
        )
    return or_(AuditEvent.organization_id == organization.id, about_a_member)


def _audit_conditions(
    db: Session, scope: AdminScope, organization: Organization, filters: AuditFilter
) -> list[ColumnElement[bool]]:
    if not scope.administers(organization.id):
        raise Forbidden("You don't administer that organization.")
    conditions = [audit_visible(scope, organization)]
    if filters.member:
        user_id = db.scalar(select(User.id).where(User.login == filters.member.strip().lower()))
        conditions.append(AuditEvent.user_id == (user_id or -1))
    if filters.event:
        conditions.append(AuditEvent.event == filters.event)
    if filters.since:
        conditions.append(AuditEvent.occurred_at >= filters.since)
    if filters.until:
        conditions.append(AuditEvent.occurred_at < filters.until)
    return conditions


NEWEST_FIRST = (AuditEvent.occurred_at.desc(), AuditEvent.id.desc())


def audit_query(
    scope: AdminScope, organization: Organization, filters: AuditFilter, db: Session
) -> Select[AuditEvent]:
    conditions = _audit_conditions(db, scope, organization, filters)
    return select(AuditEvent).where(*conditions).order_by(*NEWEST_FIRST)


def audit_page(
    db: Session,
    scope: AdminScope,
    organization: Organization,
    filters: AuditFilter,
    *,
    page: int = 1,
    per_page: int = 100,
) -> tuple[list[AuditEvent], int]:
    query = audit_query(scope, organization, filters, db)
    total = int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = list(db.scalars(query.offset((max(1, page) - 1) * per_page).limit(per_page)))
    return rows, total


def logins_of(db: Session, events: list[AuditEvent]) -> dict[int, str]:
    """The logins of the members and actors of these events only (a page, not everyone)."""
    ids = {i for event in events for i in (event.user_id, event.actor_id) if i is not None}
    if not ids:
        return {}
    return dict(db.execute(select(User.id, User.login).where(User.id.in_(ids))).all())


CSV_HEADER = ("time_utc", "event", "member", "actor", "ip", "user_agent", "detail")
CSV_BATCH = 5_000


def audit_export(
    db: Session,
    runtime: Runtime,
    scope: AdminScope,
    organization: Organization,
    filters: AuditFilter,
    *,
    batch_size: int = CSV_BATCH,
) -> Iterator[str]:
    """The filtered log as CSV text (time, event, member, actor, IP, user agent, detail),
    newest first, for a streamed download: the header, then one chunk per `batch_size` rows.

    The scope is checked and the filters resolved now, in `db`, whose read transaction is
    then ended. The chunks are read later, each batch in a short transaction of its own that
    continues after the last row sent (keyset on time and id), with the member's and actor's
    logins joined in: memory stays flat however long the log is, no transaction stays open
    while the client downloads (no lock held on SQLite, no long snapshot on PostgreSQL), and
    events added meanwhile never shift the batches."""
    conditions = _audit_conditions(db, scope, organization, filters)
    db.commit()
    return _csv_chunks(runtime, conditions, batch_size)


def _csv_chunks(
    runtime: Runtime, conditions: list[ColumnElement[bool]], batch_size: int
) -> Iterator[str]:
    member, actor = aliased(User), aliased(User)
    query = (
        select(
            AuditEvent.occurred_at,
            AuditEvent.id,
            AuditEvent.event,
            member.login,
            actor.login,
            AuditEvent.ip,
            AuditEvent.user_agent,
            AuditEvent.detail,
        )
        .outerjoin(member, member.id == AuditEvent.user_id)
        .outerjoin(actor, actor.id == AuditEvent.actor_id)
        .where(*conditions)
        .order_by(*NEWEST_FIRST)
        .limit(batch_size)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    yield out.getvalue()
    batch_query = query
    while True:
        with runtime.read_db() as db:  # reads only: never waits for a writer
            batch = db.execute(batch_query).all()
        if not batch:
            return
        out.seek(0)
        out.truncate()
        for occurred_at, _id, event, login, actor_login, ip, user_agent, detail in batch:
            writer.writerow(
                [
                    occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                    event,
                    _safe_cell(login or ""),
                    _safe_cell(actor_login or ""),
                    ip or "",
                    _safe_cell(user_agent or ""),
                    _safe_cell(detail),
                ]
            )
        yield out.getvalue()
        if len(batch) < batch_size:
            return
        last_at, last_id = batch[-1][0], batch[-1][1]
        batch_query = query.where(
            AuditEvent.occurred_at <= last_at,  # a bound the time index starts from
            or_(AuditEvent.occurred_at < last_at, AuditEvent.id < last_id),
        )


def _safe_cell(value: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; quote them (CSV injection)."""
    return "'" + value if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value
