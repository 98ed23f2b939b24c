"""The person's security page: 2FA status, setup, recovery codes, disable, password,
sessions and connected applications."""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from twofold.core import words
from twofold.core.errors import (
    CodeReused,
    InvalidCode,
    MalformedCode,
    SecondFactorLocked,
)
from twofold.core.methods import MAX_AUTHENTICATORS
from twofold.core.policy import Demand, blockers_to_disabling, sms_offered, two_factor_offered
from twofold.core.sessions import Method, amr_methods
from twofold.core.words import Words, translate
from twofold.oidc import pending as oidc_pending
from twofold.services import (
    account,
    activity,
    email_addresses,
    oidc_grants,
    organizations,
    remembered_browsers,
    webauthn,
)
from twofold.services.account import PendingEnrollment
from twofold.services.organizations import Standing
from twofold.services.users import has_two_factor, passkeys_of, recovery_codes_left
from twofold.services.users import methods_of as user_methods
from twofold.store.models import User
from twofold.web import forward_pending
from twofold.web.deps import (
    AuthenticatedSession,
    ClientDep,
    CurrentUser,
    DbDep,
    EnrollingUser,
    RuntimeDep,
    StandingDep,
    writes_on_get,
)
from twofold.web.forms import Refused, submit
from twofold.web.labels import browser_summary, event_label
from twofold.web.pages.auth import landing_page
from twofold.web.rendering import (
    REMEMBER_COOKIE,
    clear_remember_cookie,
    read_cookie,
    redirect,
    render,
    runtime_of,
    set_session_cookie,
)

router = APIRouter(prefix="/account")

SECURITY_NOTICES = {
    "disabled": words.NOTICE_TWO_FACTOR_OFF,
    "password_changed": words.NOTICE_PASSWORD_CHANGED,
    "enabled": words.NOTICE_TWO_FACTOR_ON,
    "not_offered": words.NOTICE_TWO_FACTOR_NOT_OFFERED,
    "session_ended": words.NOTICE_THAT_SESSION_ENDED,
    "others_ended": words.NOTICE_OTHER_SESSIONS_ENDED,
    "application_revoked": words.NOTICE_APPLICATION_REVOKED,
    "forward_declined": words.NOTICE_FORWARD_SIGN_IN_DECLINED,
    "authenticator_added": words.NOTICE_AUTHENTICATOR_ADDED,
    "authenticator_renamed": words.NOTICE_AUTHENTICATOR_RENAMED,
    "authenticator_removed": words.NOTICE_AUTHENTICATOR_REMOVED,
    "passkey_added": words.NOTICE_PASSKEY_ADDED,
    "passkey_renamed": words.NOTICE_PASSKEY_RENAMED,
    "passkey_removed": words.NOTICE_PASSKEY_REMOVED,
    "sms_added": words.NOTICE_SMS_ADDED,
    "sms_not_offered": words.SMS_NOT_AVAILABLE,
    "browser_forgotten": words.NOTICE_REMEMBERED_BROWSER_FORGOTTEN,
    "browsers_forgotten": words.NOTICE_REMEMBERED_BROWSERS_FORGOTTEN,
}

MISSING_SETUP_CODE = words.ENTER_SETUP_CODE
# Errors about the authentication code, shown next to the code field (not the password's).
CODE_ERRORS = (InvalidCode, CodeReused, MalformedCode, SecondFactorLocked)


def qr_svg(uri: str) -> str:
    """The otpauth:// URI as an inline SVG (no external image, allowed by the CSP)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, omitsize=True))


def _setup_page(
    request: Request, pending: PendingEnrollment, *, error: Words | None = None, status: int = 200
) -> Response:
    standing: Standing = request.state.standing
    return render(
        request,
        "setup_totp.html",
        status_code=status,
        error=error,
        enforced=standing.access.demand is Demand.ENROLL,
        qr_svg=qr_svg(pending.uri),
        secret_grouped=pending.secret_grouped,
        secret_plain=pending.secret_b32,
        params=pending.params,
        not_now=_not_now(request),
        sms_offered=sms_offered(standing.current, runtime_of(request).settings.sms_countries),
    )


def _not_now(request: Request) -> str:
    """Where "Not now" goes: the application's sign-in under way is declined (OpenID
    Connect: the client is told; forward-auth: it ends), else back to the account."""
    if oidc_pending.is_pending(request):
        return oidc_pending.DECLINE
    if forward_pending.is_pending(request):
        return forward_pending.DECLINE
    return "/account/security"


@router.get("/security")
def security_page(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    user: CurrentUser,
    standing: StandingDep,
    session: AuthenticatedSession,
    notice: str = "",
    page: int = 1,
) -> Response:
    enabled = standing.has_two_factor
    events, older = activity.events_page(db, user.id, page)
    remembered = remembered_browsers.remembered_of(db, runtime, user.id)
    own_cookie = read_cookie(request, REMEMBER_COOKIE)
    methods = user_methods(db, user.id, runtime, to_owner=True) if enabled else []
    passkeys = passkeys_of(db, user.id) if enabled else []
    return render(
        request,
        "security.html",
        email=user.email,
        email_verified=user.email_verified_at is not None,
        events=events,
        events_page=max(1, page),
        older_events=older,
        active_sessions=activity.active_sessions(db, runtime, user.id),
        current_session_id=session.id,
        remembered_browsers=remembered,
        this_remembered=next(
            (r.id for r in remembered if remembered_browsers.is_this_browser(r, own_cookie)), None
        ),
        applications=oidc_grants.connected_applications(db, user, runtime.now()),
        event_label=event_label,
        browser_summary=browser_summary,
        notice=SECURITY_NOTICES.get(notice),
        two_factor_enabled=enabled,
        offered=two_factor_offered(standing.memberships, user.is_superadmin, enabled),
        disable_blockers=blockers_to_disabling(standing.memberships, user.is_superadmin),
        codes_left=recovery_codes_left(db, user.id) if enabled else 0,
        methods=methods,
        passkeys=passkeys,
        passkeys_offered=enabled and webauthn.accepted_for(db, session),
        second_factors=len(methods) + len(passkeys),
        sms_offered=sms_offered(standing.current, runtime.settings.sms_countries),
        max_authenticators=MAX_AUTHENTICATORS,
        used_recovery_code=Method.RECOVERY_CODE in amr_methods(session.amr),
    )


@router.get("/security/setup")
@writes_on_get
def setup_page(
    request: Request, db: DbDep, runtime: RuntimeDep, user: EnrollingUser, standing: StandingDep
) -> Response:
    if standing.has_two_factor:
        if standing.access.another_method:  # SMS alone is no longer enough somewhere
            return redirect("/account/security/authenticators/new")
        return redirect("/account/security")
    if not account.setup_offered(user, standing.memberships):
        return redirect("/account/security?notice=not_offered")
    return _setup_page(request, account.begin_totp_enrollment(db, runtime, user))


@router.post("/security/setup")
def setup_confirm(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingUser,
    standing: StandingDep,
    session: AuthenticatedSession,
    code: Annotated[str, Form()] = "",
) -> Response:
    if standing.has_two_factor:
        return redirect("/account/security")
    if not account.setup_offered(user, standing.memberships):
        return redirect("/account/security?notice=not_offered")
    if not code.strip():
        pending = account.begin_totp_enrollment(db, runtime, user)
        return _setup_page(request, pending, error=MISSING_SETUP_CODE, status=400)
    done = submit(
        runtime,
        lambda: account.confirm_totp_enrollment_in_session(
            db, runtime, user, session, code, client
        ),
    )
    if isinstance(done, Refused):
        pending = account.begin_totp_enrollment(db, runtime, user)
        return _setup_page(request, pending, error=done.message, status=done.status)
    codes, token = done
    request.state.standing = organizations.standing(db, runtime, user, session)
    response = recovery_codes_page(request, codes, first_time=True)
    set_session_cookie(request, response, token)
    return response


def recovery_codes_page(request: Request, codes: list[str], *, first_time: bool) -> Response:
    return render(
        request,
        "recovery_codes.html",
        codes=codes,
        codes_text=recovery_codes_text(request, codes),
        first_time=first_time,
        continue_url=(
            "/oidc/continue"
            if oidc_pending.is_pending(request)
            else forward_pending.CONTINUE
            if forward_pending.is_pending(request)
            else None
        ),
    )


def recovery_codes_text(request: Request, codes: list[str]) -> str:
    """The .txt to keep: whose codes, for which site, made when, then one code a line."""
    runtime = runtime_of(request)
    user: User = request.state.user
    header = (
        words.RECOVERY_CODES_FILE_TITLE(login=user.login),
        words.RECOVERY_CODES_FILE_SITE(url=runtime.public_url()),
        words.RECOVERY_CODES_FILE_MADE(time=f"{runtime.now():%Y-%m-%d %H:%M}"),
        words.RECOVERY_CODES_FILE_USE,
    )
    return "".join(line + "\n" for line in (*(translate(h) for h in header), "", *codes))


@router.get("/security/recovery-codes")
def regenerate_page(request: Request, db: DbDep, user: CurrentUser) -> Response:
    if not has_two_factor(db, user.id):
        return redirect("/account/security")
    return render(request, "regenerate.html", codes_left=recovery_codes_left(db, user.id))


@router.post("/security/recovery-codes")
def regenerate_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    password: Annotated[str, Form()] = "",
) -> Response:
    codes = submit(
        runtime, lambda: account.regenerate_recovery_codes(db, runtime, user, password, client)
    )
    if isinstance(codes, Refused):
        return render(
            request,
            "regenerate.html",
            status_code=codes.status,
            error=codes.message,
            codes_left=recovery_codes_left(db, user.id),
        )
    return recovery_codes_page(request, codes, first_time=False)


@router.get("/security/disable")
def disable_page(request: Request, user: CurrentUser, standing: StandingDep) -> Response:
    if not standing.has_two_factor:
        return redirect("/account/security")
    blockers = blockers_to_disabling(standing.memberships, user.is_superadmin)
    return render(request, "disable.html", blockers=blockers)


@router.post("/security/disable")
def disable_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    standing: StandingDep,
    password: Annotated[str, Form()] = "",
) -> Response:
    blockers = blockers_to_disabling(standing.memberships, user.is_superadmin)
    done = submit(runtime, lambda: account.disable_two_factor(db, runtime, user, password, client))
    if isinstance(done, Refused):
        return render(
            request,
            "disable.html",
            status_code=done.status,
            error=None if blockers else done.message,
            blockers=blockers,
        )
    return _forgotten_here(request, redirect("/account/security?notice=disabled"))


@router.get("/password")
def password_page(request: Request, user: CurrentUser) -> Response:
    return render(request, "password.html")


@router.post("/password")
def password_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    session: AuthenticatedSession,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    confirm_password: Annotated[str, Form()] = "",
) -> Response:
    done = submit(
        runtime,
        lambda: account.change_password(
            db,
            runtime,
            user,
            current_password=current_password,
            new_password=new_password,
            confirm_password=confirm_password,
            keep_session_id=session.id,
            client=client,
        ),
    )
    if isinstance(done, Refused):
        return render(
            request,
            "password.html",
            status_code=done.status,
            field_errors=done.field_errors("current_password"),
        )
    return _forgotten_here(request, redirect("/account/security?notice=password_changed"))


@router.post("/organization")
def switch_organization(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: AuthenticatedSession,
    organization: Annotated[str, Form()] = "",
) -> Response:
    """Another of the person's organizations becomes current; its policy applies at once
    (the code is asked again, or 2FA setup, where it requires 2FA)."""
    user = db.get(User, session.user_id)
    if user is None:  # pragma: no cover - the session dependency checked it
        return redirect("/login")
    organizations.switch_organization(db, runtime, session, user, organization, client)
    return redirect(landing_page(db, runtime, session))


@router.get("/email")
def email_page(request: Request, user: CurrentUser, standing: StandingDep) -> Response:
    return _email_page(request, user, standing)


def _email_page(
    request: Request,
    user: User,
    standing: Standing,
    *,
    status_code: int = 200,
    new_email: str = "",
    **context: Any,
) -> Response:
    return render(
        request,
        "change_email.html",
        status_code=status_code,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        two_factor=standing.has_two_factor,
        new_email=new_email,
        **context,
    )


@router.post("/email")
def email_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    standing: StandingDep,
    new_email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    address = submit(
        runtime,
        lambda: email_addresses.request_change(
            db,
            runtime,
            user,
            new_address=new_email,
            password=password,
            code=code,
            client=client,
        ),
    )
    if isinstance(address, Refused):
        field = address.field or ("code" if isinstance(address.error, CODE_ERRORS) else "password")
        return _email_page(
            request,
            user,
            standing,
            status_code=address.status,
            new_email=new_email[:254],
            field_errors={"new_email" if field == "email" else field: address.message},
        )
    return _email_page(
        request,
        user,
        standing,
        notice=words.NOTICE_EMAIL_CONFIRMATION_SENT(address=address),
    )


@router.post("/sessions/{session_id}/end")
def end_session(
    session_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    session: AuthenticatedSession,
) -> Response:
    activity.end_own_session(db, runtime, user, session_id, client)
    if session_id == session.id:
        return redirect("/login?notice=signed_out")
    return redirect("/account/security?notice=session_ended")


@router.post("/sessions/end-others")
def end_other_sessions(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    session: AuthenticatedSession,
) -> Response:
    activity.end_other_sessions(db, runtime, user, session.id, client)
    return _forgotten_here(request, redirect("/account/security?notice=others_ended"))


def _forgotten_here(request: Request, response: Response) -> Response:
    """After a change that forgot every remembered browser of the person (decision 0028):
    this browser's remember cookie is cleared too."""
    clear_remember_cookie(request, response)
    return response


@router.post("/remembered/{remembered_id}/forget")
def forget_remembered_browser(
    request: Request,
    remembered_id: int,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
) -> Response:
    """ "Forget" one remembered browser: it is asked for the code at its next sign-in."""
    remembered_browsers.forget_own(db, runtime, user, remembered_id, client)
    response = redirect("/account/security?notice=browser_forgotten")
    own = read_cookie(request, REMEMBER_COOKIE)
    if own and not any(
        remembered_browsers.is_this_browser(r, own)
        for r in remembered_browsers.remembered_of(db, runtime, user.id)
    ):
        clear_remember_cookie(request, response)  # this browser's own, or one gone already
    return response


@router.post("/remembered/forget-all")
def forget_all_remembered_browsers(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
) -> Response:
    """ "Forget all": every remembered browser of the person, this one included."""
    remembered_browsers.forget_all_own(db, runtime, user, client)
    response = redirect("/account/security?notice=browsers_forgotten")
    clear_remember_cookie(request, response)
    return response


@router.post("/applications/{client_id}/revoke")
def revoke_application(
    client_id: str,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
) -> Response:
    """Sign out of one connected application; one the person is not connected to is 404."""
    oidc_grants.revoke_application(db, runtime, user, client_id, client)
    return redirect("/account/security?notice=application_revoked")
