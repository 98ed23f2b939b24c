"""Links that arrive by email: password reset and address confirmation. Opening a link (GET)
only shows a form; the POST uses it up, so mail scanners cannot."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core import words
from twofold.core.errors import InvalidToken, NotFound
from twofold.services import email_addresses, password_reset
from twofold.store.models import AuthSession, User
from twofold.web.deps import ClientDep, DbDep, OptionalSession, RuntimeDep
from twofold.web.forms import Refused, submit
from twofold.web.rendering import clear_remember_cookie, redirect, render, set_session_cookie

router = APIRouter()

RESET_SENT = words.NOTICE_RESET_LINK_SENT(minutes=password_reset.LIFETIME // timedelta(minutes=1))
OTHER_ACCOUNT = words.LINK_FOR_ANOTHER_ACCOUNT_UNCHANGED


def _not_for_someone_else(session: AuthSession | None, user: User) -> None:
    """A browser signed in as one person cannot use a link of another person's account."""
    if session is not None and session.user_id != user.id:
        raise NotFound(OTHER_ACCOUNT)


@router.get("/password/forgot")
def forgot_page(request: Request) -> Response:
    return render(request, "forgot_password.html", email="")


@router.post("/password/forgot")
def forgot_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    email: Annotated[str, Form()] = "",
) -> Response:
    if not email.strip():
        return render(
            request,
            "forgot_password.html",
            status_code=400,
            error=words.ENTER_ACCOUNT_EMAIL,
            email="",
        )
    password_reset.request_reset(db, runtime, address=email, client=client)
    return render(request, "forgot_password.html", sent=True, notice=RESET_SENT, email="")


@router.get("/password/reset/{token}")
def reset_page(
    request: Request, token: str, db: DbDep, runtime: RuntimeDep, session: OptionalSession
) -> Response:
    user = password_reset.check_link(db, runtime, token)
    _not_for_someone_else(session, user)
    return render(request, "reset_password.html", token=token, login=user.login)


@router.post("/password/reset/{token}")
def reset_submit(
    request: Request,
    token: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: OptionalSession,
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    _not_for_someone_else(session, password_reset.check_link(db, runtime, token))
    done = submit(
        runtime,
        lambda: password_reset.complete_reset(
            db,
            runtime,
            token=token,
            new_password=new_password,
            confirm_password=confirm_password,
            client=client,
        ),
        passing=(InvalidToken,),
    )
    if isinstance(done, Refused):
        user = password_reset.check_link(db, runtime, token)
        return render(
            request,
            "reset_password.html",
            status_code=done.status,
            token=token,
            login=user.login,
            field_errors=done.field_errors("new_password"),
        )
    # Every remembered browser was forgotten: this one's cookie goes too.
    if done.token is None:
        response = redirect("/login?notice=password_reset")
    else:
        response = redirect("/login/code")
        set_session_cookie(request, response, done.token)
    clear_remember_cookie(request, response)
    return response


@router.get("/email/verify/{token}")
def verify_page(
    request: Request, token: str, db: DbDep, runtime: RuntimeDep, session: OptionalSession
) -> Response:
    user, address = email_addresses.pending_address(db, runtime, token)
    _not_for_someone_else(session, user)
    return render(request, "verify_email.html", token=token, address=address, login=user.login)


@router.post("/email/verify/{token}")
def verify_submit(
    request: Request,
    token: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: OptionalSession,
) -> Response:
    _not_for_someone_else(session, email_addresses.pending_address(db, runtime, token)[0])
    user = email_addresses.confirm(db, runtime, token, client)
    return render(
        request,
        "verify_email.html",
        confirmed=True,
        address=user.email,
        login=user.login,
        token="",
    )
