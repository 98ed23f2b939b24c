"""The one-time link that creates the first administrator on an empty installation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core.errors import InvalidToken
from twofold.services import setup
from twofold.web.deps import ClientDep, DbDep, RuntimeDep
from twofold.web.forms import Refused, submit
from twofold.web.rendering import redirect, render, set_session_cookie

router = APIRouter()


@router.get("/setup/{token}")
def first_admin_page(request: Request, token: str, db: DbDep, runtime: RuntimeDep) -> Response:
    setup.check_setup_token(db, runtime, token[:128])
    return render(request, "first_admin.html", token=token, login="", email="")


@router.post("/setup/{token}")
def first_admin_submit(
    request: Request,
    token: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    login: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    done = submit(
        runtime,
        lambda: setup.complete_setup(
            db,
            runtime,
            token=token[:128],
            login=login,
            email=email or None,
            password=password,
            client=client,
        ),
        passing=(InvalidToken,),
    )
    if isinstance(done, Refused):
        return render(
            request,
            "first_admin.html",
            status_code=done.status,
            token=token,
            login=login[:64],
            email=email[:254],
            field_errors=done.field_errors("password", {"new_password": "password"}),
        )
    _session, session_token = done
    response = redirect("/account/security/setup")
    set_session_cookie(request, response, session_token)
    return response
