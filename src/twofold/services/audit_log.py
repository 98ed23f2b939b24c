"""The audit log as an admin reads it: which events their scope shows, a page of them, and
the CSV export streamed in batches."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from twofold.core import words
from twofold.core.errors import Forbidden
from twofold.services.admin_scope import AdminScope
from twofold.services.runtime import Runtime
from twofold.store.models import (
    AuditEvent,
    Membership,
    Organization,
    User,
)


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
        raise Forbidden(words.NOT_YOUR_ADMINISTERED_ORGANIZATION)
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
