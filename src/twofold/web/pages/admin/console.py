"""What every /admin page shares: the admin's scope, the organization the page is about
(both refused, and recorded, when out of reach), the console's page frame and notices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.errors import Forbidden
from twofold.services import admin_scope
from twofold.services.admin_scope import AdminScope
from twofold.services.runtime import Runtime
from twofold.store.models import Organization, User
from twofold.web.deps import (
    CurrentUser,
    DbDep,
    RuntimeDep,
    get_client,
)
from twofold.web.rendering import render

NOTICES = {
    "reset": words.NOTICE_MEMBER_RESET,
    "unlocked": words.NOTICE_MEMBER_UNLOCKED,
    "removed": words.NOTICE_MEMBER_REMOVED,
    "deactivated": words.NOTICE_ACCOUNT_DEACTIVATED,
    "policy": words.NOTICE_POLICY_APPLIED,
    "invited": words.NOTICE_INVITATION_SENT,
    "client_revoked": words.NOTICE_CLIENT_REVOKED,
    "api_key_revoked": words.NOTICE_API_KEY_REVOKED,
    "browsers_forgotten": words.NOTICE_MEMBER_BROWSERS_FORGOTTEN,
}


def get_scope(request: Request, db: DbDep, runtime: RuntimeDep, user: CurrentUser) -> AdminScope:
    scope = admin_scope.scope_of(db, user)
    if scope is None:
        admin_scope.refuse(
            db,
            runtime,
            AdminScope(admin=user, superadmin=False, organization_ids=frozenset()),
            "open_console",
            target_id=None,
            client=get_client(request),
            message=words.CONSOLE_IS_FOR_ADMINISTRATORS,
        )
    return scope


ScopeDep = Annotated[AdminScope, Depends(get_scope)]


def get_organization(
    request: Request, db: DbDep, runtime: RuntimeDep, scope: ScopeDep, org: str = ""
) -> Organization:
    """The organization the page is about (?org=slug), which the admin must administer."""
    administered = admin_scope.administered_organizations(db, scope)
    if not administered:
        raise Forbidden(words.YOU_ADMINISTER_NO_ORGANIZATION)
    if not org:
        current = getattr(request.state, "standing", None)
        slug = current.current.slug if current and current.current else ""
        return next((o for o in administered if o.slug == slug), administered[0])
    return admin_scope.administered_organization(
        db, runtime, scope, org, administered, get_client(request)
    )


OrgDep = Annotated[Organization, Depends(get_organization)]


def console_page(
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
        administered=admin_scope.administered_organizations(db, scope),
        **context,
    )


def target_member(
    request: Request, db: Session, runtime: Runtime, scope: AdminScope, member_id: int, action: str
) -> User:
    return admin_scope.managed_member(db, runtime, scope, member_id, action, get_client(request))
