"""Codes by text message on the security page: enter a number, then the texted code
(decision 0021). The first method comes from the setup page; another one needs the
password and a current second factor, like adding an authenticator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core.errors import SmsSendFailed
from twofold.core.policy import sms_offered
from twofold.services import organizations, sms
from twofold.web.deps import (
    AuthenticatedSession,
    ClientDep,
    DbDep,
    EnrollingUser,
    RuntimeDep,
    StandingDep,
)
from twofold.web.errors import message_for
from twofold.web.forms import Refused, submit
from twofold.web.pages.account import recovery_codes_page
from twofold.web.rendering import redirect, render, set_session_cookie

router = APIRouter(prefix="/account/security/phone")

PHONE = "/account/security/phone"
CONFIRM = "/account/security/phone/confirm"


@router.get("")
def phone_page(
    request: Request, runtime: RuntimeDep, user: EnrollingUser, standing: StandingDep
) -> Response:
    if not sms_offered(standing.current, runtime.settings.sms_countries):
        return redirect("/account/security?notice=sms_not_offered")
    return render(
        request,
        "phone_new.html",
        adding=standing.has_two_factor,
        countries=runtime.settings.sms_countries,
        field_errors={},
    )


@router.post("")
def phone_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingUser,
    standing: StandingDep,
    phone: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    sent = submit(
        runtime,
        lambda: sms.begin_phone(
            db,
            runtime,
            user,
            phone=phone,
            current=standing.current,
            client=client,
            password=password,
            code=code,
        ),
    )
    if isinstance(sent, Refused):
        if isinstance(sent.error, SmsSendFailed):
            return redirect(f"{CONFIRM}?failed=1")  # the number is kept: send again there
        field = sent.field or ("code" if "code" in sent.error.code else "password")
        if sent.field is None and not standing.has_two_factor:
            field = "phone"
        return render(
            request,
            "phone_new.html",
            status_code=sent.status,
            adding=standing.has_two_factor,
            countries=runtime.settings.sms_countries,
            phone=phone[:40],
            field_errors=sent.field_errors(field),
        )
    return redirect(CONFIRM)


def _confirm_page(
    request: Request,
    pending: sms.PendingPhone,
    *,
    first: bool,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "phone_confirm.html",
        status_code=status,
        error=error,
        phone=pending.phone,
        wait_seconds=pending.wait_seconds,
        first=first,
    )


@router.get("/confirm")
def confirm_page(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    user: EnrollingUser,
    standing: StandingDep,
    failed: str = "",
) -> Response:
    pending = sms.pending_phone(db, runtime, user)
    if pending is None:
        return redirect(PHONE)
    error = message_for(SmsSendFailed("not sent"), runtime.now()) if failed else None
    return _confirm_page(
        request,
        pending,
        first=not standing.has_two_factor,
        error=error,
        status=503 if failed else 200,
    )


@router.post("/resend")
def resend(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingUser,
    standing: StandingDep,
) -> Response:
    sent = submit(runtime, lambda: sms.resend_enrollment_code(db, runtime, user, client))
    pending = sms.pending_phone(db, runtime, user)
    if pending is None:
        return redirect(PHONE)
    if isinstance(sent, Refused):
        return _confirm_page(
            request,
            pending,
            first=not standing.has_two_factor,
            error=sent.message,
            status=sent.status,
        )
    return redirect(CONFIRM)


@router.post("/confirm")
def confirm_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingUser,
    standing: StandingDep,
    session: AuthenticatedSession,
    code: Annotated[str, Form()] = "",
) -> Response:
    first = not standing.has_two_factor
    done = submit(
        runtime,
        lambda: sms.confirm_phone(
            db, runtime, user, code, client, session=session if first else None
        ),
    )
    if isinstance(done, Refused):
        pending = sms.pending_phone(db, runtime, user)
        if pending is None:
            return redirect(PHONE)
        return _confirm_page(request, pending, first=first, error=done.message, status=done.status)
    codes, token = done
    if codes is None:
        return redirect("/account/security?notice=sms_added")
    request.state.standing = organizations.standing(db, runtime, user, session)
    response = recovery_codes_page(request, codes, first_time=True)
    if token is not None:
        set_session_cookie(request, response, token)
    return response
