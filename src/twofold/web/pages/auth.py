"""Sign-in: password, then the authentication code or a recovery code; sign-out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from twofold.core import remembered, words
from twofold.core.errors import SecondFactorLocked, TwofoldError
from twofold.core.lockout import next_failure_locks
from twofold.core.policy import Demand
from twofold.core.sessions import SessionState
from twofold.core.words import Msg, Words, translate
from twofold.notify.phones import mask
from twofold.oidc import pending as oidc_pending
from twofold.services import (
    forward_auth,
    oidc_clients,
    oidc_flow,
    organizations,
    remembered_browsers,
    second_factor,
    signin,
    signup,
    sms_codes,
    webauthn,
)
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.users import method_kinds
from twofold.store.models import AuthSession, User
from twofold.web import forward_pending
from twofold.web.deps import (
    CODE_PAGE,
    ClientDep,
    DbDep,
    OptionalSession,
    PendingSession,
    RuntimeDep,
    enroll_page,
    verify_page,
)
from twofold.web.errors import message_for
from twofold.web.forms import Refused, submit
from twofold.web.pages import forward as forward_pages
from twofold.web.rendering import (
    REMEMBER_COOKIE,
    SESSION_COOKIE,
    clear_remember_cookie,
    clear_session_cookie,
    read_cookie,
    redirect,
    render,
    set_remember_cookie,
    set_session_cookie,
)

router = APIRouter()

# Fixed notices chosen by a query parameter: never text reflected from the URL.
LOGIN_NOTICES = {
    "expired": words.NOTICE_SIGN_IN_EXPIRED,
    "signed_out": words.NOTICE_SIGNED_OUT,
    "password_changed": words.NOTICE_SIGN_IN_WITH_NEW_PASSWORD,
    "password_reset": words.NOTICE_PASSWORD_RESET,
    "ended": words.NOTICE_SESSION_ENDED,
}

AFTER_SIGN_IN = "/account/security"


def landing_page(db: DbDep, runtime: RuntimeDep, session: AuthSession) -> str:
    """Where a session goes next: the code prompt, 2FA setup, or the account."""
    if session.state != SessionState.AUTHENTICATED:
        return CODE_PAGE
    user = db.get(User, session.user_id)
    if user is None:
        return "/login"
    access = organizations.standing(db, runtime, user, session).access
    if access.demand is Demand.VERIFY:
        return verify_page(access)
    if access.demand in (Demand.ENROLL, Demand.GRACE):
        return enroll_page(access)
    return AFTER_SIGN_IN


CONTINUE_TO_APPLICATION = "/oidc/continue"


def application_name(request: Request, db: DbDep) -> str | None:
    """The application a sign-in under way is for (the page names it): an OpenID Connect
    client, or the host a forward-auth sign-in returns to."""
    pending = oidc_pending.load(request)
    if pending is None:
        return forward_pending.target_host(request)
    client = oidc_clients.find_active_client(db, pending.client_id)
    return client.name if client else None


def after_sign_in_step(
    request: Request, db: DbDep, runtime: RuntimeDep, session: AuthSession
) -> str:
    """Where a successful sign-in step goes: back to the application's request when one is
    under way (it decides what is still needed), else as landing_page says."""
    if oidc_pending.is_pending(request):
        return CONTINUE_TO_APPLICATION
    if forward_pending.is_pending(request):
        return forward_pending.CONTINUE
    return landing_page(db, runtime, session)


@router.get("/login")
def login_page(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    session: OptionalSession,
    notice: str = "",
    next: str = "",
    oidc: str = "",
    rd: str = "",
    org: str = "",
    require: str = "",
    forward: str = "",
) -> Response:
    # A sign-in for an application behind a proxy (`rd`, when allowed; else ignored).
    started = forward_pages.start(request, runtime, rd, org, require) if rd else None
    if started is not None:
        if oidc_pending.is_pending(request):
            oidc_pending.clear(request, started)
        return started
    # Sent here by an application's request (`oidc=1`, `forward=1`): a signed-in person sees
    # the form too, since the application wants a new sign-in. Any other visit ends a
    # request left behind.
    for_application = (bool(oidc) and oidc_pending.is_pending(request)) or (
        bool(forward) and forward_pending.is_pending(request)
    )
    if session is not None and not for_application:
        moved = redirect(landing_page(db, runtime, session))
        _end_pending(request, moved)
        return moved
    # A session cookie the server no longer knows: the session was ended elsewhere or timed out.
    ended = bool(read_cookie(request, SESSION_COOKIE)) and not notice and session is None
    response = render(
        request,
        "login.html",
        notice=LOGIN_NOTICES.get("ended" if ended else notice)
        or (NEXT_NOTICE if safe_next(next) else None),
        login="",
        next=safe_next(next),
        signup_open=bool(signup.open_organizations(db)),
        application=application_name(request, db) if for_application else None,
        passwordless=webauthn.passwordless_anywhere(db),
    )
    if ended:
        clear_session_cookie(request, response)  # said once
    if not for_application:
        _end_pending(request, response)
    return response


def _end_pending(request: Request, response: Response) -> None:
    """A sign-in for an application left behind ends with any other visit to /login."""
    if oidc_pending.is_pending(request):
        oidc_pending.clear(request, response)
    if forward_pending.is_pending(request):
        forward_pending.clear(request, response)


NEXT_NOTICE = words.NOTICE_SIGN_IN_FIRST


def safe_next(target: str) -> str:
    """Only our own one-time-link pages may be returned to after sign-in (no open redirect)."""
    if target.startswith("/reenroll/") and "//" not in target and len(target) < 300:
        return target
    return ""


def login_form(
    request: Request,
    db: Session,
    *,
    error: str,
    status: int,
    login: str = "",
    next: str = "",
) -> Response:
    """The sign-in form again with what went wrong (a password or a passkey sign-in)."""
    return render(
        request,
        "login.html",
        status_code=status,
        error=error,
        login=login[:254],
        signup_open=bool(signup.open_organizations(db)),
        next=safe_next(next),
        application=application_name(request, db),
        passwordless=webauthn.passwordless_anywhere(db),
    )


@router.post("/login")
def login_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: OptionalSession,
    login: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    if not login.strip() or not password:
        return login_form(
            request,
            db,
            error=translate(words.ENTER_LOGIN_AND_PASSWORD),
            status=400,
            login=login,
            next=next,
        )
    entering, asks_more = application_entry(request, db)
    remember_token = (
        read_cookie(request, REMEMBER_COOKIE)
        if remembered.may_be_offered(application_asks_more=asks_more)
        else None
    )
    started = submit(
        runtime,
        lambda: signin.sign_in_with_password(
            db,
            runtime,
            login=login,
            password=password,
            client=client,
            previous_session_id=session.id if session else None,
            organization_id=entering,
            remembered=remember_token,
        ),
    )
    if isinstance(started, Refused):
        return login_form(
            request, db, error=started.message, status=started.status, login=login, next=next
        )
    target = after_sign_in_step(request, db, runtime, started.session)
    if safe_next(next) and started.session.state == SessionState.AUTHENTICATED:
        target = safe_next(next)
    response = redirect(target)
    set_session_cookie(request, response, started.token)
    use = started.remembered
    if use is not None and use.cookie is not None:
        set_remember_cookie(request, response, use.cookie.token, use.cookie.max_age)
    elif use is not None:
        clear_remember_cookie(request, response)  # refused: the browser is forgotten
    return response


def application_entry(request: Request, db: Session) -> tuple[int | None, bool]:
    """For a sign-in an application started (OpenID Connect or forward-auth): the
    organization it enters (None: the person's first) and whether it asks more than that
    organization's own 2FA policy (a second factor, a fresh sign-in); a request that can
    no longer be read asks the most."""
    if oidc_pending.is_pending(request):
        pending = oidc_pending.load(request)
        client = oidc_clients.find_active_client(db, pending.client_id) if pending else None
        if pending is None or client is None:
            return None, True
        return client.organization_id, oidc_flow.asks_more_than_policy(client, pending)
    if forward_pending.is_pending(request):
        forward = forward_pending.load(request)
        if forward is None:
            return None, True
        return forward_auth.organization_of(db, forward), forward.require_mfa
    return None, False


def prompt_context(db: DbDep, runtime: RuntimeDep, session: AuthSession) -> dict[str, Any]:
    """Whose code and for which organization, why it is asked again after a switch, and
    whether the next wrong code locks (then for how many minutes; None: until unlocked)."""
    user = db.get(User, session.user_id)
    if user is None:
        return {}
    now = runtime.now()
    current = organizations.standing(db, runtime, user, session).current
    locks, until = next_failure_locks(user.failed_code_count, now, user.key_failed_code_count)
    kinds = method_kinds(db, user.id)
    days = remembered_browsers.days_offered(db, session.organization_id)
    return {
        "remember_days": days,
        "remember_label": translate(words.REMEMBER_THIS_BROWSER(n=days)) if days else None,
        "has_sms": "sms" in kinds,
        "has_totp": "totp" in kinds,
        "has_passkey": webauthn.offered_at_prompt(db, session),
        "account": user.login,
        "organization": current.name if current else None,
        "asked_again": session.state == SessionState.AUTHENTICATED,
        "last_try": locks,
        "next_lock_minutes": int((until - now).total_seconds() // 60) if until else None,
    }


def _prompt(
    request: Request, template: str, db: DbDep, runtime: RuntimeDep, session: PendingSession
) -> Response:
    """The code or recovery prompt; while the second factor is locked, only the reason."""
    user = db.get(User, session.user_id)
    context = prompt_context(db, runtime, session)
    try:
        if user is not None:
            second_factor.ensure_not_locked(user, runtime.now())
    except SecondFactorLocked as exc:
        return render(
            request, template, error=message_for(exc, runtime.now()), **_lock(exc), **context
        )
    return render(request, template, **context)


def _lock(error: Exception | None) -> dict[str, Any]:
    """What the prompt shows of a lock: none, or locked and until when (None: until an
    administrator unlocks it)."""
    if isinstance(error, SecondFactorLocked):
        return {"locked": True, "locked_until": error.until}
    return {"locked": False, "locked_until": None}


@router.get("/login/code")
def code_page(
    request: Request, db: DbDep, runtime: RuntimeDep, session: PendingSession, other: str = ""
) -> Response:
    # A security key or passkey is offered first (its page links to the other ways).
    if not other and webauthn.offered_at_prompt(db, session):
        return redirect(PASSKEY_PAGE)
    if method_kinds(db, session.user_id) == {"sms"}:
        return redirect(SMS_PAGE)  # a phone is their only method: no app code to ask for
    return _prompt(request, "code.html", db, runtime, session)


SMS_PAGE = "/login/sms"
PASSKEY_PAGE = "/login/passkey"


def _sms_context(db: Session, runtime: Runtime, session: AuthSession) -> dict[str, Any]:
    """The texted-code page: to which (masked) number, and how long before a resend."""
    phone = sms_codes.sms_method(db, session.user_id)
    return {
        "phone": mask(sms_codes.open_phone(runtime, phone)) if phone else None,
        "wait_seconds": sms_codes.seconds_until_resend(
            db, runtime, session.user_id, sms_codes.Purpose.SIGN_IN
        ),
        **prompt_context(db, runtime, session),
    }


def _sms_prompt(
    request: Request,
    db: Session,
    runtime: Runtime,
    session: AuthSession,
    *,
    error: Words | None = None,
    status: int = 200,
    sent: bool = False,
    lock: dict[str, Any] | None = None,
) -> Response:
    context = _sms_context(db, runtime, session)
    notice = (
        words.NOTICE_SMS_CODE_SENT(phone=context["phone"]) if sent and context["phone"] else None
    )
    if lock is None:
        user = db.get(User, session.user_id)
        try:
            if user is not None:
                second_factor.ensure_not_locked(user, runtime.now())
            lock = _lock(None)
        except SecondFactorLocked as exc:
            lock = _lock(exc)
            error = error or message_for(exc, runtime.now())
    return render(
        request, "sms_code.html", status_code=status, error=error, notice=notice, **lock, **context
    )


@router.get("/login/sms")
def sms_page(
    request: Request, db: DbDep, runtime: RuntimeDep, session: PendingSession, notice: str = ""
) -> Response:
    if sms_codes.sms_method(db, session.user_id) is None:
        return redirect(CODE_PAGE)
    return _sms_prompt(request, db, runtime, session, sent=notice == "sent")


@router.post("/login/sms/send")
def sms_send(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: PendingSession,
) -> Response:
    """ "Text me a code" and "Send again": a refusal (the wait, a limit, the provider) is
    said on the page with the other ways in, never as an error page."""
    sent = submit(runtime, lambda: second_factor.send_sign_in_code(db, runtime, session, client))
    if isinstance(sent, Refused):
        return _sms_prompt(
            request,
            db,
            runtime,
            session,
            error=sent.message,
            status=sent.status,
            lock=_lock(sent.error),
        )
    return redirect(f"{SMS_PAGE}?notice=sent")


@router.post("/login/sms")
def sms_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: PendingSession,
    code: Annotated[str, Form()] = "",
    remember: Annotated[str, Form()] = "",
) -> Response:
    def again(error: Words, status: int, refusal: TwofoldError | None) -> Response:
        lock = _lock(refusal) if isinstance(refusal, SecondFactorLocked) else None
        return _sms_prompt(request, db, runtime, session, error=error, status=status, lock=lock)

    return _second_step(
        second_factor.verify_sms_code,
        again,
        words.ENTER_SMS_CODE,
        request,
        db,
        runtime,
        client,
        session,
        code,
        remember=bool(remember),
    )


# A second-factor check (db, runtime, session, code, client): the new session token.
SecondStep = Callable[[Session, Runtime, AuthSession, str, ClientInfo], str]


# The prompt shown again after an empty or refused code: (its words, status, the refusal).
Reprompt = Callable[[Words, int, TwofoldError | None], Response]


def _template_prompt(
    request: Request, template: str, db: Session, runtime: Runtime, session: AuthSession
) -> Reprompt:
    """A code prompt page (`template`) with the error, or the lock, the refusal says."""

    def again(error: Words, status: int, refusal: TwofoldError | None) -> Response:
        context = prompt_context(db, runtime, session)
        return render(
            request, template, status_code=status, error=error, **_lock(refusal), **context
        )

    return again


def _second_step(
    verify: SecondStep,
    reprompt: Reprompt,
    empty_message: Msg,
    request: Request,
    db: Session,
    runtime: Runtime,
    client: ClientInfo,
    session: AuthSession,
    code: str,
    *,
    remember: bool = False,
) -> Response:
    """Run one second-factor check from its prompt: the prompt again with `empty_message`
    when the field is left empty, or with the error (or the lock) when the check refuses;
    else on to the next step with the new session cookie, and, with `remember` ticked where
    the organization offers it, the remember cookie (decision 0028)."""
    if not code.strip():
        return reprompt(empty_message, 400, None)
    token = submit(runtime, lambda: verify(db, runtime, session, code, client))
    if isinstance(token, Refused):
        return reprompt(token.message, token.status, token.error)
    response = redirect(after_sign_in_step(request, db, runtime, session))
    set_session_cookie(request, response, token)
    if remember:
        remember_browser(request, db, runtime, session, client, response)
    return response


def remember_browser(
    request: Request,
    db: Session,
    runtime: Runtime,
    session: AuthSession,
    client: ClientInfo,
    response: Response,
) -> None:
    """After a second factor with "Don't ask for a code on this browser" ticked: the
    remember cookie, where the organization entered offers it (decision 0028)."""
    previous = read_cookie(request, REMEMBER_COOKIE)
    cookie = remembered_browsers.remember(db, runtime, session, client, replacing=previous)
    if cookie is not None:
        set_remember_cookie(request, response, cookie.token, cookie.max_age)


@router.post("/login/code")
def code_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: PendingSession,
    code: Annotated[str, Form()] = "",
    remember: Annotated[str, Form()] = "",
) -> Response:
    return _second_step(
        second_factor.verify_totp,
        _template_prompt(request, "code.html", db, runtime, session),
        words.ENTER_SIX_DIGIT_CODE,
        request,
        db,
        runtime,
        client,
        session,
        code,
        remember=bool(remember),
    )


@router.get("/login/recovery")
def recovery_page(
    request: Request, db: DbDep, runtime: RuntimeDep, session: PendingSession
) -> Response:
    return _prompt(request, "recovery.html", db, runtime, session)


@router.post("/login/recovery")
def recovery_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: PendingSession,
    code: Annotated[str, Form()] = "",
    remember: Annotated[str, Form()] = "",
) -> Response:
    return _second_step(
        second_factor.verify_recovery_code,
        _template_prompt(request, "recovery.html", db, runtime, session),
        words.ENTER_RECOVERY_CODE,
        request,
        db,
        runtime,
        client,
        session,
        code,
        remember=bool(remember),
    )


@router.post("/logout")
def logout(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: OptionalSession,
) -> Response:
    if session is not None:
        signin.sign_out(db, runtime, session, client)
    response = redirect("/login?notice=signed_out")
    clear_session_cookie(request, response)
    return response
