"""/api/v1/admin: what the admin console does, for an admin's token: the members table with
2FA status, reset 2FA, unlock, the organization's 2FA policy and its audit events. The same
scope rule (services.admin_scope), refusals recorded the same way, the same fresh second
factor asked before a reset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from twofold.core.audit_events import AuditEventType
from twofold.services import admin_scope, audit_log, member_actions, members, organizations
from twofold.services.audit_log import AuditFilter
from twofold.store.models import Organization
from twofold.web.api.deps import AdministeredOrganization, ScopeDep, TokenSession
from twofold.web.api.errors import documented
from twofold.web.api.schemas import (
    AuditEventInfo,
    AuditPage,
    MemberInfo,
    MemberPage,
    PolicyApplied,
    PolicyInfo,
    PolicyRequest,
    ResetRequest,
    RowId,
)
from twofold.web.deps import ClientDep, DbDep, RuntimeDep

router = APIRouter(prefix="/v1/admin", tags=["admin"])

AS_ADMIN = (401, 403, 404)  # no or bad token; not an admin, or not of this organization / member;
# an address no route matches (a slug with a slash)
PageNumber = Annotated[int, Query(ge=1, le=10_000)]
PerPage = Annotated[int, Query(ge=1, le=100)]
Search = Annotated[str, Query(max_length=100)]


@router.get(
    "/organizations/{slug}/members",
    summary="Members with their 2FA status, paginated",
    responses=documented(*AS_ADMIN),
)
def list_members(
    db: DbDep,
    runtime: RuntimeDep,
    organization: AdministeredOrganization,
    q: Search = "",
    status: Literal["", "enabled", "not_enabled", "locked"] = "",
    sort: Literal["login", "email", "role", "last_sign_in", "two_factor"] = "login",
    desc: bool = False,
    page: PageNumber = 1,
    per_page: PerPage = members.PER_PAGE,
) -> MemberPage:
    """`q` searches login and email; a page past the last answers the last page."""
    result = members.list_members(
        db,
        runtime,
        organization,
        search=q,
        status=status,
        sort=sort,
        descending=desc,
        page=page,
        per_page=per_page,
    )
    return MemberPage(
        members=[
            MemberInfo(
                id=row.user_id,
                login=row.login,
                email=row.email,
                role=row.role,
                active=row.active,
                two_factor=row.two_factor,
                reset_pending=row.reset_pending,
                recovery_codes_left=row.recovery_codes_left,
                locked=row.locked,
                last_sign_in_at=row.last_sign_in_at,
                grace_ends_at=row.grace_ends_at,
            )
            for row in result.rows
        ],
        total=result.total,
        page=result.page,
        pages=result.pages,
        per_page=per_page,
    )


@router.post(
    "/members/{member_id}/reset-2fa",
    summary="Reset a member's 2FA (the lost-phone case)",
    status_code=204,
    response_class=Response,
    responses=documented(400, *AS_ADMIN, 429),
)
def reset_two_factor(
    member_id: RowId,
    body: ResetRequest,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    session: TokenSession,
) -> Response:
    """Deletes the member's key and recovery codes, ends their sessions and emails them a
    link to set up 2FA again. Unless this sign-in passed its second factor in the last ten
    minutes, `code` (the admin's own) is required: 400 `invalid_input` without it. An
    unknown member or one out of scope is 403 (recorded)."""
    target = admin_scope.managed_member(db, runtime, scope, member_id, "reset_2fa", client)
    member_actions.reset_two_factor_as_admin(
        db, runtime, scope, session, target, reason=body.reason, code=body.code, client=client
    )
    return Response(status_code=204)


@router.post(
    "/members/{member_id}/unlock",
    summary="Clear a member's second-factor lock",
    status_code=204,
    response_class=Response,
    responses=documented(*AS_ADMIN),
)
def unlock(
    member_id: RowId, db: DbDep, runtime: RuntimeDep, client: ClientDep, scope: ScopeDep
) -> Response:
    target = admin_scope.managed_member(db, runtime, scope, member_id, "unlock", client)
    member_actions.unlock(db, runtime, scope, target, client)
    return Response(status_code=204)


def _policy(db: DbDep, organization: Organization) -> PolicyInfo:
    return PolicyInfo.model_validate(
        {
            "organization": organization.slug,
            "two_factor": organization.two_factor_policy,
            "grace_days": organization.grace_days,
            "required_since": organization.required_since,
            "grace_ends_at": organizations.organization_grace_end(organization),
            "members": organizations.member_count(db, organization.id),
            "members_without_2fa": organizations.members_without_2fa(db, organization.id),
        }
    )


@router.get(
    "/organizations/{slug}/policy",
    summary="The organization's 2FA policy",
    responses=documented(*AS_ADMIN),
)
def get_policy(db: DbDep, organization: AdministeredOrganization) -> PolicyInfo:
    return _policy(db, organization)


@router.put(
    "/organizations/{slug}/policy",
    summary="Set the organization's 2FA policy",
    responses=documented(400, *AS_ADMIN),
)
def put_policy(
    body: PolicyRequest,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    scope: ScopeDep,
    organization: AdministeredOrganization,
    session: TokenSession,
) -> PolicyApplied:
    """`required` applies at once to every member (with `grace_days` to set up 2FA);
    `sign_out_everyone` ends every member's sessions but this one."""
    ended = organizations.set_policy(
        db,
        runtime,
        organization,
        two_factor=body.two_factor,
        grace_days=body.grace_days,
        sign_out_everyone=body.sign_out_everyone,
        actor_id=scope.actor_id,
        client=client,
        keep_session_id=session.id,
    )
    return PolicyApplied(**_policy(db, organization).model_dump(), sessions_ended=ended)


@router.get(
    "/organizations/{slug}/audit-events",
    summary="The organization's audit events, newest first",
    responses=documented(*AS_ADMIN),
)
def audit_events(
    db: DbDep,
    scope: ScopeDep,
    organization: AdministeredOrganization,
    member: Annotated[str, Query(max_length=64)] = "",
    event: AuditEventType | None = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
    page: PageNumber = 1,
    per_page: PerPage = 100,
) -> AuditPage:
    """What the console's audit page shows the same admin: their organization's events and
    their members' own (decision 0006)."""
    filters = AuditFilter(
        member=member,
        event=event.value if event else "",
        since=_aware(since),
        until=_aware(until),
    )
    rows, total = audit_log.audit_page(
        db, scope, organization, filters, page=page, per_page=per_page
    )
    logins = audit_log.logins_of(db, rows)
    return AuditPage(
        events=[
            AuditEventInfo(
                id=row.id,
                occurred_at=row.occurred_at,
                event=row.event,
                member=logins.get(row.user_id) if row.user_id else None,
                actor=logins.get(row.actor_id) if row.actor_id else None,
                ip=row.ip,
                user_agent=row.user_agent,
                detail=row.detail,
            )
            for row in rows
        ],
        total=total,
        page=page,
        per_page=per_page,
    )


def _aware(value: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else datetime.combine(value.date(), value.time(), UTC)
