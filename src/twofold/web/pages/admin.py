"""/admin: the console for organization admins (their organizations) and super-admins (all).
Every handler calls a service; refusals are 403 pages and audit events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from twofold.core.audit_events import AuditEventType
from twofold.core.errors import Forbidden, InvalidInput, NotFound, TwofoldError
from twofold.core.policy import parse_policy
from twofold.services import admin, invitations, organizations, users
from twofold.services.admin import AdminScope, AuditFilter
from twofold.services.runtime import Runtime
from twofold.store.models import Organization, User
from twofold.web.deps import (
    AuthenticatedSession,
    ClientDep,
    CurrentUser,
    DbDep,
    RuntimeDep,
    get_client,
)
from twofold.web.errors import field_of, message_for, status_for
from twofold.web.labels import EVENT_LABELS, browser_summary, event_label
from twofold.web.rendering import redirect, render

router = APIRouter(prefix="/admin")

NOTICES = {
    "reset": (
        "Two-factor authentication was reset. The member got an email with a link to set it "
        "up again."
    ),
    "unlocked": "The member's second factor is unlocked.",
    "removed": "The member was removed from the organization and signed out.",
    "deactivated": "The account was deactivated and signed out everywhere.",
    "policy": "The 2FA policy was applied.",
    "invited": "The invitation was sent.",
}


def get_scope(request: Request, db: DbDep, runtime: RuntimeDep, user: CurrentUser) -> AdminScope:
    scope = admin.scope_of(db, user)
    if scope is None:
        admin.refuse(
            db,
            runtime,
            AdminScope(admin=user, superadmin=False, organization_ids=frozenset()),
            "open_console",
            target_id=None,
            client=get_client(request),
            message="The admin console is for organization administrators.",
        )
    return scope


ScopeDep = Annotated[AdminScope, Depends(get_scope)]


def get_organization(
    request: Request, db: DbDep, runtime: RuntimeDep, scope: ScopeDep, org: str = ""
) -> Organization:
    """The organization the page is about (?org=slug), which the admin must administer."""
    administered = admin.administered_organizations(db, scope)
    if not administered:
        raise Forbidden("You administer no organization.")
    if not org:
        current = getattr(request.state, "standing", None)
        slug = current.current.slug if current and current.current else ""
        return next((o for o in administered if o.slug == slug), administered[0])
    chosen_or_none = next((o for o in administered if o.slug == org[:64]), None)
    if chosen_or_none is None:
        admin.refuse(
            db,
            runtime,
            scope,
            "open_organization",
            target_id=None,
            client=get_client(request),
            message="You don't administer that organization.",
        )
    return chosen_or_none


OrgDep = Annotated[Organization, Depends(get_organization)]


def _page(
    request: Request,
    template: str,
    db: Session,
    scope: AdminScope,
    organization: Organization,
    **context: Any,
) -> Response:
    return render(
        request,
        template,
        scope=scope,
        organization=organization,
        administered=admin.administered_organizations(db, scope),
        **context,
    )


@router.get("")
def console_home(organization: OrgDep) -> Response:
    return redirect(f"/admin/members?org={organization.slug}")


@router.get("/members")
def members_page(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
    q: str = "",
    status: str = "",
    sort: str = "login",
    desc: bool = False,
    page: int = 1,
    notice: str = "",
) -> Response:
    status = status if status in admin.STATUSES else ""
    sort = sort if sort in admin.SORTS else "login"
    result = admin.list_members(
        db, runtime, organization, search=q, status=status, sort=sort, descending=desc, page=page
    )
    return _page(
        request,
        "admin/members.html",
        db,
        scope,
        organization,
        result=result,
        q=q[:100],
        status=status,
        sort=sort,
        desc=desc,
        adoption=admin.adoption(db, organization),
        grace_ends_at=organizations.organization_grace_end(organization),
        notice=NOTICES.get(notice),
    )


def _member(
    request: Request, db: Session, runtime: Runtime, scope: AdminScope, member_id: int, action: str
) -> User:
    return admin.managed_member(db, runtime, scope, member_id, action, get_client(request))


@router.get("/members/{member_id}")
def member_page(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
    notice: str = "",
) -> Response:
    target = db.get(User, member_id)
    in_org = target is not None and any(
        m.organization_id == organization.id for m in target.memberships
    )
    if target is None or not in_org:
        raise NotFound("There is no such member in this organization.")
    events, _total = admin.audit_page(
        db, scope, organization, AuditFilter(member=target.login), per_page=50
    )
    return _page(
        request,
        "admin/member.html",
        db,
        scope,
        organization,
        member=target,
        status=users.describe(db, runtime, target),
        refused=admin.refusal(db, scope, target),
        resettable=admin.reset_refusal(db, target) is None,
        events=events,
        event_label=event_label,
        browser_summary=browser_summary,
        notice=NOTICES.get(notice),
    )


@router.get("/members/{member_id}/reset")
def reset_page(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
    session: AuthenticatedSession,
) -> Response:
    target = _member(request, db, runtime, scope, member_id, "reset_2fa")
    return _page(
        request,
        "admin/reset.html",
        db,
        scope,
        organization,
        member=target,
        ask_code=not admin.second_factor_is_fresh(session, runtime.now()),
        reason="",
        error=admin.reset_refusal(db, target),
    )


@router.post("/members/{member_id}/reset")
def reset_submit(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
    session: AuthenticatedSession,
    reason: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    target = _member(request, db, runtime, scope, member_id, "reset_2fa")
    ask_code = not admin.second_factor_is_fresh(session, runtime.now())
    try:
        admin.reset_two_factor_as_admin(
            db, runtime, scope, session, target, reason=reason, code=code, client=client
        )
    except Forbidden:
        raise
    except TwofoldError as exc:
        field = field_of(exc) or "code"
        message = message_for(exc, runtime.now())
        in_form = field in {"reason", "code"}
        return _page(
            request,
            "admin/reset.html",
            db,
            scope,
            organization,
            member=target,
            ask_code=ask_code,
            reason=reason[:500],
            field_errors={field: message} if in_form else {},
            error=None if in_form else message,
            status_code=status_for(exc),
        )
    return redirect(f"/admin/members/{target.id}?org={organization.slug}&notice=reset")


@router.post("/members/{member_id}/unlock")
def unlock_submit(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    target = _member(request, db, runtime, scope, member_id, "unlock")
    admin.unlock(db, runtime, scope, target, get_client(request))
    return redirect(f"/admin/members/{target.id}?org={organization.slug}&notice=unlocked")


@router.get("/members/{member_id}/remove")
def remove_page(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    target = _member(request, db, runtime, scope, member_id, "remove")
    return _page(request, "admin/remove.html", db, scope, organization, member=target)


@router.post("/members/{member_id}/remove")
def remove_submit(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    target = _member(request, db, runtime, scope, member_id, "remove")
    admin.remove_from_organization(db, runtime, scope, target, organization, get_client(request))
    return redirect(f"/admin/members?org={organization.slug}&notice=removed")


@router.post("/members/{member_id}/deactivate")
def deactivate_submit(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    target = _member(request, db, runtime, scope, member_id, "deactivate")
    admin.deactivate(db, runtime, scope, target, client)
    return redirect(f"/admin/members?org={organization.slug}&notice=deactivated")


@router.get("/policy")
def policy_page(
    request: Request, db: DbDep, runtime: RuntimeDep, scope: ScopeDep, organization: OrgDep
) -> Response:
    return _page(
        request,
        "admin/policy.html",
        db,
        scope,
        organization,
        chosen=organization.two_factor_policy,
        grace_days=organization.grace_days,
        sign_out=False,
        effect=None,
    )


@router.post("/policy")
def policy_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
    session: AuthenticatedSession,
    two_factor: Annotated[str, Form()] = "",
    grace_days: Annotated[str, Form()] = "0",
    sign_out_everyone: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    try:
        policy = parse_policy(two_factor)
        if not grace_days.strip().isdigit():
            raise InvalidInput("grace_days", "The grace period is a whole number of days.")
        days = int(grace_days.strip())
        effect = organizations.preview_policy(
            db, runtime, organization, two_factor=policy, grace_days=days
        )
    except TwofoldError as exc:
        return _page(
            request,
            "admin/policy.html",
            db,
            scope,
            organization,
            chosen=two_factor[:16],
            grace_days=grace_days[:6],
            sign_out=bool(sign_out_everyone),
            effect=None,
            error=message_for(exc, runtime.now()),
            status_code=400,
        )
    if confirm != "yes":
        return _page(
            request,
            "admin/policy.html",
            db,
            scope,
            organization,
            chosen=policy.value,
            grace_days=days,
            sign_out=bool(sign_out_everyone),
            effect=effect,
        )
    organizations.set_policy(
        db,
        runtime,
        organization,
        two_factor=policy,
        grace_days=days,
        sign_out_everyone=bool(sign_out_everyone),
        actor_id=scope.actor_id,
        client=client,
        keep_session_id=session.id,
    )
    return redirect(f"/admin/members?org={organization.slug}&notice=policy")


def _filters(member: str, event: str, since: str, until: str) -> AuditFilter:
    def day(value: str, field: str) -> datetime | None:
        if not value:
            return None
        try:
            return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise InvalidInput(field, "Dates are written YYYY-MM-DD.") from None

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
    rows, total = admin.audit_page(db, scope, organization, filters, page=page)
    logins = admin.logins_of(db, rows)
    return _page(
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
        admin.audit_export(db, runtime, scope, organization, filters),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="twofold-audit-{organization.slug}.csv"'
        },
    )


@router.get("/invite")
def invite_page(request: Request, db: DbDep, scope: ScopeDep, organization: OrgDep) -> Response:
    return _page(request, "admin/invite.html", db, scope, organization, email="", role="member")


@router.post("/invite")
def invite_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: OrgDep,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "member",
) -> Response:
    try:
        invitations.invite(
            db,
            runtime,
            scope,
            organization,
            email=email,
            role=role,
            client=client,
        )
    except TwofoldError as exc:
        return _page(
            request,
            "admin/invite.html",
            db,
            scope,
            organization,
            email=email[:254],
            role=role[:16],
            field_errors={field_of(exc) or "email": message_for(exc, runtime.now())},
            status_code=status_for(exc),
        )
    return redirect(f"/admin/members?org={organization.slug}&notice=invited")
