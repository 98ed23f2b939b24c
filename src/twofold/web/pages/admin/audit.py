"""/admin/audit: the audit log as a page and as a CSV download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import InvalidInput
from twofold.services import audit_log
from twofold.services.audit_log import AuditFilter
from twofold.web.deps import (
    DbDep,
    RuntimeDep,
)
from twofold.web.labels import EVENT_LABELS, browser_summary, event_label
from twofold.web.pages.admin.console import OrgDep, ScopeDep, console_page

router = APIRouter(prefix="/admin")


def _filters(member: str, event: str, since: str, until: str) -> AuditFilter:
    def day(value: str, field: str) -> datetime | None:
        if not value:
            return None
        try:
            return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise InvalidInput(field, words.DATE_SHAPE) from None

    until_day = day(until, "to")
    return AuditFilter(
        member=member[:64],
        event=event if event in EVENT_LABELS or event in {e.value for e in AuditEventType} else "",
        since=day(since, "from"),
        until=until_day + timedelta(days=1) if until_day else None,
    )


@router.get("/audit")
def audit_log_page(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
    member: str = "",
    event: str = "",
    since: str = "",
    until: str = "",
    page: int = 1,
) -> Response:
    error = None
    try:
        filters = _filters(member, event, since, until)
    except InvalidInput as exc:
        filters, error = AuditFilter(), exc.detail
    rows, total = audit_log.audit_page(db, scope, organization, filters, page=page)
    logins = audit_log.logins_of(db, rows)
    return console_page(
        request,
        "admin/audit.html",
        db,
        scope,
        organization,
        rows=rows,
        total=total,
        page=max(1, page),
        logins=logins,
        member=member[:64],
        event=filters.event,
        since=since[:10],
        until=until[:10],
        event_types=sorted(e.value for e in AuditEventType),
        event_label=event_label,
        browser_summary=browser_summary,
        error=error,
    )


@router.get("/audit.csv")
def audit_export(
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
    member: str = "",
    event: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    filters = _filters(member, event, since, until)
    return StreamingResponse(
        audit_log.audit_export(db, runtime, scope, organization, filters),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="twofold-audit-{organization.slug}.csv"'
        },
    )
