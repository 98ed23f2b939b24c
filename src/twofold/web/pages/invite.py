"""/invite/TOKEN: accept an invitation — choose a login and password, then (where the
organization requires it) set up 2FA."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core.errors import InvalidToken, TwofoldError
from twofold.services import invitations
from twofold.web.deps import ClientDep, DbDep, OptionalSession, RuntimeDep
from twofold.web.errors import field_of, message_for, status_for
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
    try:
        new_session, session_token = invitations.accept(
            db,
            runtime,
            token=token,
            login=login,
            password=password,
            client=client,
            previous_session_id=session.id if session else None,
        )
    except InvalidToken:
        raise
    except TwofoldError as exc:
        invitation = invitations.open_invitation(db, runtime, token)
        field = field_of(exc) or "password"
        return render(
            request,
            "invite_accept.html",
            status_code=status_for(exc),
            token=token,
            organization=invitation.organization,
            address=invitation.address,
            login=login[:64],
            field_errors={
                "password" if field == "new_password" else field: message_for(exc, runtime.now())
            },
        )
    response = redirect(landing_page(db, runtime, new_session))
    set_session_cookie(request, response, session_token)
    return response
