"""The person's authenticators on the security page: add another (password and a current
second factor, then the usual QR code, key and first code), rename, remove."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core import words
from twofold.core.errors import InvalidRecoveryCode, MalformedRecoveryCode, NotFound
from twofold.services import authenticators, second_factor, sms_codes
from twofold.services.account import PendingEnrollment
from twofold.services.users import methods_of as user_methods
from twofold.store.models import User
from twofold.web.deps import (
    ClientDep,
    CurrentUser,
    DbDep,
    EnrollingUser,
    RuntimeDep,
    StandingDep,
)
from twofold.web.forms import Refused, submit
from twofold.web.pages.account import CODE_ERRORS, qr_svg
from twofold.web.rendering import clear_remember_cookie, redirect, render

router = APIRouter(prefix="/account/security/authenticators")
RECOVERY_ERRORS = (InvalidRecoveryCode, MalformedRecoveryCode)

NEW = "/account/security/authenticators/new"
CONFIRM = "/account/security/authenticators/new/confirm"


def _confirm_page(
    request: Request,
    pending: PendingEnrollment,
    name: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "setup_totp.html",
        status_code=status,
        error=error,
        adding=name,
        enforced=False,
        qr_svg=qr_svg(pending.uri),
        secret_grouped=pending.secret_grouped,
        secret_plain=pending.secret_b32,
        params=pending.params,
        form_action=CONFIRM,
    )


def _new_context(db: DbDep, user: User, standing: StandingDep) -> dict[str, Any]:
    """Why another method is owed (SMS alone no longer allowed somewhere), and whether a
    code may be texted to confirm it's them."""
    access = standing.access
    return {
        "owed": words.SMS_ANOTHER_METHOD_OWED(organization=access.because or "")
        if access.another_method
        else None,
        "has_sms": sms_codes.sms_method(db, user.id) is not None,
    }


# These pages take EnrollingUser: someone who must add a method (their phone is no longer
# enough for an organization) reaches them, and nothing else, until they have.
@router.get("/new")
def new_page(request: Request, db: DbDep, user: EnrollingUser, standing: StandingDep) -> Response:
    if not user_methods(db, user.id):
        return redirect("/account/security/setup")
    return render(
        request, "authenticator_new.html", field_errors={}, **_new_context(db, user, standing)
    )


@router.post("/new/text-code")
def new_text_code(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingUser,
    standing: StandingDep,
) -> Response:
    """A code texted to the person's phone, to confirm adding the authenticator with."""
    sent = submit(runtime, lambda: second_factor.send_change_code(db, runtime, user, client))
    context = _new_context(db, user, standing)
    if isinstance(sent, Refused):
        return render(
            request,
            "authenticator_new.html",
            status_code=sent.status,
            field_errors={"code": sent.message},
            **context,
        )
    return render(
        request,
        "authenticator_new.html",
        field_errors={},
        notice=words.SMS_CHANGE_CODE_SENT,
        **context,
    )


@router.post("/new")
def new_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingUser,
    standing: StandingDep,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    if not user_methods(db, user.id):
        return redirect("/account/security/setup")
    begun = submit(
        runtime,
        lambda: authenticators.begin_adding(
            db, runtime, user, name=name, password=password, code=code, client=client
        ),
    )
    if isinstance(begun, Refused):
        field = "code" if isinstance(begun.error, (*CODE_ERRORS, *RECOVERY_ERRORS)) else "password"
        return render(
            request,
            "authenticator_new.html",
            status_code=begun.status,
            name=name[:64],
            field_errors=begun.field_errors(field),
            **_new_context(db, user, standing),
        )
    return redirect(CONFIRM)


@router.get("/new/confirm")
def confirm_page(request: Request, db: DbDep, runtime: RuntimeDep, user: EnrollingUser) -> Response:
    waiting = authenticators.pending_addition(db, runtime, user)
    if waiting is None:
        return redirect(NEW)
    return _confirm_page(request, *waiting)


@router.post("/new/confirm")
def confirm_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingUser,
    code: Annotated[str, Form()] = "",
) -> Response:
    done = submit(runtime, lambda: authenticators.confirm_adding(db, runtime, user, code, client))
    if isinstance(done, Refused):
        waiting = authenticators.pending_addition(db, runtime, user)
        if waiting is None:
            return redirect(NEW)
        return _confirm_page(request, *waiting, error=done.message, status=done.status)
    return redirect("/account/security?notice=authenticator_added")


@router.get("/{authenticator_id}/rename")
def rename_page(request: Request, db: DbDep, user: CurrentUser, authenticator_id: int) -> Response:
    return render(
        request,
        "authenticator_rename.html",
        method=authenticators.removal(db, user, authenticator_id).method,
        field_errors={},
    )


@router.post("/{authenticator_id}/rename")
def rename_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    authenticator_id: int,
    name: Annotated[str, Form()] = "",
) -> Response:
    method = authenticators.removal(db, user, authenticator_id).method
    done = submit(
        runtime,
        lambda: authenticators.rename(db, runtime, user, authenticator_id, name, client),
        passing=(NotFound,),
    )
    if isinstance(done, Refused):
        return render(
            request,
            "authenticator_rename.html",
            status_code=done.status,
            method=method,
            name=name[:64],
            field_errors=done.field_errors("name"),
        )
    return redirect("/account/security?notice=authenticator_renamed")


@router.get("/{authenticator_id}/remove")
def remove_page(request: Request, db: DbDep, user: CurrentUser, authenticator_id: int) -> Response:
    outlook = authenticators.removal(db, user, authenticator_id)
    return render(
        request,
        "authenticator_remove.html",
        field_errors={},
        method=outlook.method,
        last=outlook.others_left == 0,
        blockers=outlook.blockers,
    )


@router.post("/{authenticator_id}/remove")
def remove_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    authenticator_id: int,
    password: Annotated[str, Form()] = "",
) -> Response:
    outlook = authenticators.removal(db, user, authenticator_id)
    still_on = submit(
        runtime,
        lambda: authenticators.remove(db, runtime, user, authenticator_id, password, client),
        passing=(NotFound,),
    )
    if isinstance(still_on, Refused):
        return render(
            request,
            "authenticator_remove.html",
            status_code=still_on.status,
            field_errors={} if outlook.blockers else still_on.field_errors("password"),
            method=outlook.method,
            last=outlook.others_left == 0,
            blockers=outlook.blockers,
        )
    response = redirect(
        "/account/security?notice=" + ("authenticator_removed" if still_on else "disabled")
    )
    clear_remember_cookie(request, response)  # every remembered browser was forgotten
    return response
