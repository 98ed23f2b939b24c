"""Security keys and passkeys (decision 0027): adding, renaming and removing them on the
security page, using one at the code prompt, and "Sign in with a passkey" on the login page.

The browser ceremony is static/passkeys.js: it asks the options (a POST with the CSRF token,
answered as JSON), calls navigator.credentials, and posts the answer in an ordinary form, so
every result is a page (a redirect, or the form again with the error). Without JavaScript
the pages say so and the other ways in keep working."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.errors import (
    InvalidRecoveryCode,
    MalformedRecoveryCode,
    NotFound,
    WrongPassword,
)
from twofold.core.methods import AUTHENTICATOR_NAME_MAX
from twofold.core.webauthn import CHALLENGE_SECONDS
from twofold.services import sms_codes, webauthn
from twofold.services.runtime import Runtime
from twofold.services.users import MethodView, methods_of, passkeys_of
from twofold.store.models import AuthSession, User
from twofold.web.deps import (
    CODE_PAGE,
    AuthenticatedSession,
    ClientDep,
    CurrentUser,
    DbDep,
    EnrollingUser,
    KeyPromptSession,
    OptionalSession,
    RuntimeDep,
)
from twofold.web.forms import Refused, submit
from twofold.web.pages import auth
from twofold.web.pages.account import CODE_ERRORS
from twofold.web.rendering import (
    clear_remember_cookie,
    cookie_name,
    is_https,
    read_cookie,
    redirect,
    render,
    set_session_cookie,
)

router = APIRouter(prefix="/account/security/passkeys")
sign_in_router = APIRouter()

NEW = "/account/security/passkeys/new"
FINISH = "/account/security/passkeys/new/finish"
PROMPT = "/login/passkey"
PROMPT_OPTIONS = "/login/passkey/options"
PASSWORDLESS_OPTIONS = "/login/passkey/start"
PASSWORDLESS_FINISH = "/login/passkey/finish"
# The random value a passwordless challenge is bound to, before any session exists.
BINDING_COOKIE = "twofold_passkey"
RECOVERY_ERRORS = (InvalidRecoveryCode, MalformedRecoveryCode)


def _refusal_json(refused: Refused) -> JSONResponse:
    return JSONResponse({"error": refused.message}, status_code=refused.status)


# -- Adding, renaming, removing ---------------------------------------------------------------


def _new_page(
    request: Request,
    db: Session,
    user: User,
    *,
    name: str = "",
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "passkey_new.html",
        status_code=status,
        name=name[:AUTHENTICATOR_NAME_MAX],
        error=error,
        field_errors=field_errors or {},
        has_sms=sms_codes.sms_method(db, user.id) is not None,
    )


@router.get("/new")
def new_page(request: Request, db: DbDep, user: EnrollingUser) -> Response:
    if not methods_of(db, user.id):
        return redirect("/account/security/setup")  # an app (and recovery codes) first
    return _new_page(request, db, user)


@router.post("/new")
def new_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingUser,
    session: AuthenticatedSession,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    """The password and a current second factor; then the page that runs the ceremony."""
    if not methods_of(db, user.id):
        return redirect("/account/security/setup")
    options = submit(
        runtime,
        lambda: webauthn.begin_adding(
            db, runtime, user, session, name=name, password=password, code=code, client=client
        ),
    )
    if isinstance(options, Refused):
        if options.field is not None or isinstance(options.error, WrongPassword):
            errors = options.field_errors("password")
        elif isinstance(options.error, (*CODE_ERRORS, *RECOVERY_ERRORS)):
            errors = options.field_errors("code")
        else:  # no key may be added here now (too many, 2FA off, the policy)
            return _new_page(
                request, db, user, name=name, error=options.message, status=options.status
            )
        return _new_page(request, db, user, name=name, field_errors=errors, status=options.status)
    return render(
        request,
        "passkey_register.html",
        name=" ".join(name.split()),
        options=options,
        form_action=FINISH,
    )


@router.post("/new/finish")
def finish_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: EnrollingUser,
    session: AuthenticatedSession,
    name: Annotated[str, Form()] = "",
    response: Annotated[str, Form()] = "",
) -> Response:
    if not response.strip():
        return _new_page(
            request,
            db,
            user,
            name=name,
            error=words.translate(words.PASSKEY_RESPONSE_MISSING),
            status=400,
        )
    added = submit(
        runtime,
        lambda: webauthn.finish_adding(
            db, runtime, user, session, name=name, response=response, client=client
        ),
    )
    if isinstance(added, Refused):
        # The challenge is used up either way: the person starts again from the form.
        return _new_page(request, db, user, name=name, error=added.message, status=added.status)
    return redirect("/account/security?notice=passkey_added")


def _method(db: Session, user: User, passkey_id: int) -> MethodView:
    found = next((m for m in passkeys_of(db, user.id) if m.id == passkey_id), None)
    if found is None:
        raise NotFound(words.NO_SUCH_PASSKEY)
    return found


@router.get("/{passkey_id}/rename")
def rename_page(request: Request, db: DbDep, user: CurrentUser, passkey_id: int) -> Response:
    return render(request, "passkey_rename.html", method=_method(db, user, passkey_id))


@router.post("/{passkey_id}/rename")
def rename_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    passkey_id: int,
    name: Annotated[str, Form()] = "",
) -> Response:
    method = _method(db, user, passkey_id)
    done = submit(
        runtime,
        lambda: webauthn.rename(db, runtime, user, passkey_id, name, client),
        passing=(NotFound,),
    )
    if isinstance(done, Refused):
        return render(
            request,
            "passkey_rename.html",
            status_code=done.status,
            method=method,
            name=name[:AUTHENTICATOR_NAME_MAX],
            field_errors=done.field_errors("name"),
        )
    return redirect("/account/security?notice=passkey_renamed")


@router.get("/{passkey_id}/remove")
def remove_page(request: Request, db: DbDep, user: CurrentUser, passkey_id: int) -> Response:
    return render(request, "passkey_remove.html", method=_method(db, user, passkey_id))


@router.post("/{passkey_id}/remove")
def remove_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    user: CurrentUser,
    passkey_id: int,
    password: Annotated[str, Form()] = "",
) -> Response:
    method = _method(db, user, passkey_id)
    done = submit(
        runtime,
        lambda: webauthn.remove(db, runtime, user, passkey_id, password, client),
        passing=(NotFound,),
    )
    if isinstance(done, Refused):
        return render(
            request,
            "passkey_remove.html",
            status_code=done.status,
            method=method,
            field_errors=done.field_errors("password"),
        )
    response = redirect("/account/security?notice=passkey_removed")
    clear_remember_cookie(request, response)  # every remembered browser was forgotten
    return response


# -- The second factor at sign-in ---------------------------------------------------------------


def _prompt(
    request: Request,
    db: Session,
    runtime: Runtime,
    session: AuthSession,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    context = auth.prompt_context(db, runtime, session)
    return render(request, "passkey_prompt.html", status_code=status, error=error, **context)


@sign_in_router.get(PROMPT)
def prompt_page(
    request: Request, db: DbDep, runtime: RuntimeDep, session: KeyPromptSession
) -> Response:
    if not webauthn.offered_at_prompt(db, session):
        return redirect(f"{CODE_PAGE}?other=1")
    return _prompt(request, db, runtime, session)


@sign_in_router.post(PROMPT_OPTIONS)
def prompt_options(db: DbDep, runtime: RuntimeDep, session: KeyPromptSession) -> Response:
    """The options for navigator.credentials.get(), as JSON (or {"error": …})."""
    options = submit(runtime, lambda: webauthn.begin_second_factor(db, runtime, session))
    if isinstance(options, Refused):
        return _refusal_json(options)
    return Response(options, media_type="application/json")


@sign_in_router.post(PROMPT)
def prompt_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: KeyPromptSession,
    response: Annotated[str, Form()] = "",
    remember: Annotated[str, Form()] = "",
) -> Response:
    if not response.strip():
        return _prompt(
            request,
            db,
            runtime,
            session,
            error=words.translate(words.PASSKEY_RESPONSE_MISSING),
            status=400,
        )
    token = submit(
        runtime,
        lambda: webauthn.verify_second_factor(db, runtime, session, response, client),
    )
    if isinstance(token, Refused):
        return _prompt(request, db, runtime, session, error=token.message, status=token.status)
    moved = redirect(auth.after_sign_in_step(request, db, runtime, session))
    set_session_cookie(request, moved, token)
    if remember:
        auth.remember_browser(request, db, runtime, session, client, moved)
    return moved


# -- Passwordless ---------------------------------------------------------------------------


def _binding(request: Request) -> str | None:
    value = read_cookie(request, BINDING_COOKIE)
    return value if value and 20 <= len(value) <= 64 else None


@sign_in_router.post(PASSWORDLESS_OPTIONS)
def passwordless_options(request: Request, db: DbDep, runtime: RuntimeDep) -> Response:
    """The options for "Sign in with a passkey" and the login page's autofill, as JSON; the
    challenge is bound to this browser's cookie (set here when it has none)."""
    binding = _binding(request) or webauthn.new_binding()
    options = submit(runtime, lambda: webauthn.begin_passwordless(db, runtime, binding))
    if isinstance(options, Refused):
        return _refusal_json(options)
    answer = Response(options, media_type="application/json")
    answer.set_cookie(
        cookie_name(request, BINDING_COOKIE),
        binding,
        max_age=CHALLENGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )
    return answer


@sign_in_router.post(PASSWORDLESS_FINISH)
def passwordless_submit(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: OptionalSession,
    response: Annotated[str, Form()] = "",
) -> Response:
    binding = _binding(request)
    started = submit(
        runtime,
        lambda: webauthn.sign_in_with_passkey(
            db,
            runtime,
            binding=binding or "",
            response=response,
            client=client,
            previous_session_id=session.id if session else None,
        ),
    )
    if isinstance(started, Refused):
        return auth.login_form(request, db, error=started.message, status=started.status)
    moved = redirect(auth.after_sign_in_step(request, db, runtime, started.session))
    set_session_cookie(request, moved, started.token)
    return moved
