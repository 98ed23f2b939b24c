"""/invite/TOKEN: accept an invitation — choose a login and password, then (where the
organization requires it) set up 2FA."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core.errors import InvalidToken
from twofold.services import invitations
from twofold.web.deps import ClientDep, DbDep, OptionalSession, RuntimeDep
from twofold.web.forms import Refused, submit
from twofold.web.pages.auth import landing_page
from twofold.web.rendering import redirect, render, set_session_cookie

router = APIRouter()


@router.get("/invite/{token}")
def invitation_page(request: Request, token: str, db: DbDep, runtime: RuntimeDep) -> Response:
    invitation = invitations.open_invitation(db, runtime, token)
    return render(
        request,
        "invite_accept.html",
        token=token,
        organization=invitation.organization,
        address=invitation.address,
        login="",
    )


@router.post("/invite/{token}")
def invitation_submit(
    request: Request,
    token: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: OptionalSession,
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    accepted = submit(
        runtime,
        lambda: invitations.accept(
            db,
            runtime,
            token=token,
            login=login,
            password=password,
            client=client,
            previous_session_id=session.id if session else None,
        ),
        passing=(InvalidToken,),
    )
    if isinstance(accepted, Refused):
        invitation = invitations.open_invitation(db, runtime, token)
        return render(
            request,
            "invite_accept.html",
            status_code=accepted.status,
            token=token,
            organization=invitation.organization,
            address=invitation.address,
            login=login[:64],
            field_errors=accepted.field_errors("password", {"new_password": "password"}),
        )
    new_session, session_token = accepted
    response = redirect(landing_page(db, runtime, new_session))
    set_session_cookie(request, response, session_token)
    return response
