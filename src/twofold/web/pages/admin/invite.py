"""/admin/invite: invite someone into the organization by email."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.services import invitations
from twofold.web.deps import (
    ClientDep,
    DbDep,
    RuntimeDep,
)
from twofold.web.forms import Refused, submit
from twofold.web.pages.admin.console import OrgDep, ScopeDep, console_page
from twofold.web.rendering import redirect

router = APIRouter(prefix="/admin")


@router.get("/invite")
def invite_page(request: Request, db: DbDep, scope: ScopeDep, organization: OrgDep) -> Response:
    return console_page(
        request, "admin/invite.html", db, scope, organization, email="", role="member"
    )


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
    done = submit(
        runtime,
        lambda: invitations.invite(
            db, runtime, scope, organization, email=email, role=role, client=client
        ),
    )
    if isinstance(done, Refused):
        return console_page(
            request,
            "admin/invite.html",
            db,
            scope,
            organization,
            email=email[:254],
            role=role[:16],
            field_errors=done.field_errors("email"),
            status_code=done.status,
        )
    return redirect(f"/admin/members?org={organization.slug}&notice=invited")
