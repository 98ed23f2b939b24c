"""/admin/members: the members table, one member, and the actions on them (reset 2FA,
unlock, remove, deactivate). Every handler calls a service; refusals are 403 pages and
audit events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core import words
from twofold.core.errors import Forbidden, NotFound
from twofold.services import (
    admin_scope,
    audit_log,
    member_actions,
    members,
    organizations,
    remembered_browsers,
    users,
)
from twofold.services.audit_log import AuditFilter
from twofold.store.models import User
from twofold.web.deps import (
    AuthenticatedSession,
    ClientDep,
    DbDep,
    RuntimeDep,
    get_client,
)
from twofold.web.forms import Refused, submit
from twofold.web.labels import browser_summary, event_label
from twofold.web.pages.admin.console import NOTICES, OrgDep, ScopeDep, console_page, target_member
from twofold.web.rendering import redirect

router = APIRouter(prefix="/admin")


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
    status = status if status in members.STATUSES else ""
    sort = sort if sort in members.SORTS else "login"
    result = members.list_members(
        db, runtime, organization, search=q, status=status, sort=sort, descending=desc, page=page
    )
    return console_page(
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
        adoption=members.adoption(db, organization),
        grace_ends_at=organizations.organization_grace_end(organization),
        notice=NOTICES.get(notice),
    )


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
        raise NotFound(words.NO_SUCH_MEMBER_HERE)
    events, _total = audit_log.audit_page(
        db, scope, organization, AuditFilter(member=target.login), per_page=50
    )
    return console_page(
        request,
        "admin/member.html",
        db,
        scope,
        organization,
        member=target,
        status=users.describe(db, runtime, target),
        key=members.key_standing(db, runtime, organization, target),
        refused=admin_scope.refusal(db, scope, target),
        resettable=member_actions.reset_refusal(db, target) is None,
        remembered=remembered_browsers.remembered_of(db, runtime, target.id),
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
    target = target_member(request, db, runtime, scope, member_id, "reset_2fa")
    return console_page(
        request,
        "admin/reset.html",
        db,
        scope,
        organization,
        member=target,
        ask_code=not member_actions.second_factor_is_fresh(session, runtime.now()),
        reason="",
        error=member_actions.reset_refusal(db, target),
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
    target = target_member(request, db, runtime, scope, member_id, "reset_2fa")
    ask_code = not member_actions.second_factor_is_fresh(session, runtime.now())
    done = submit(
        runtime,
        lambda: member_actions.reset_two_factor_as_admin(
            db, runtime, scope, session, target, reason=reason, code=code, client=client
        ),
        passing=(Forbidden,),
    )
    if isinstance(done, Refused):
        in_form = (done.field or "code") in {"reason", "code"}
        return console_page(
            request,
            "admin/reset.html",
            db,
            scope,
            organization,
            member=target,
            ask_code=ask_code,
            reason=reason[:500],
            field_errors=done.field_errors("code") if in_form else {},
            error=None if in_form else done.message,
            status_code=done.status,
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
    target = target_member(request, db, runtime, scope, member_id, "unlock")
    member_actions.unlock(db, runtime, scope, target, get_client(request))
    return redirect(f"/admin/members/{target.id}?org={organization.slug}&notice=unlocked")


@router.post("/members/{member_id}/forget-browsers")
def forget_browsers_submit(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    """Forget every browser the member had remembered: each asks for the code again."""
    target = target_member(request, db, runtime, scope, member_id, "forget_browsers")
    member_actions.forget_remembered_browsers(db, runtime, scope, target, get_client(request))
    return redirect(f"/admin/members/{target.id}?org={organization.slug}&notice=browsers_forgotten")


@router.get("/members/{member_id}/remove")
def remove_page(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    target = target_member(request, db, runtime, scope, member_id, "remove")
    return console_page(request, "admin/remove.html", db, scope, organization, member=target)


@router.post("/members/{member_id}/remove")
def remove_submit(
    request: Request,
    member_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    scope: ScopeDep,
    organization: OrgDep,
) -> Response:
    target = target_member(request, db, runtime, scope, member_id, "remove")
    member_actions.remove_from_organization(
        db, runtime, scope, target, organization, get_client(request)
    )
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
    target = target_member(request, db, runtime, scope, member_id, "deactivate")
    member_actions.deactivate(db, runtime, scope, target, client)
    return redirect(f"/admin/members?org={organization.slug}&notice=deactivated")
