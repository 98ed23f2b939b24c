"""Forward-auth for reverse proxies (decision 0016): GET /auth/forward answers the proxy;
/auth/continue carries a sign-in started at /login?rd=… back to the application.

/auth/forward only reads: the session cookie (host-only) or the domain cookie
(TWOFOLD_COOKIE_DOMAIN), and what the proxy asked (`org`, `require`, `redirect`).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRouter

from twofold.core import words
from twofold.core.redirects import allowed_target
from twofold.services import forward_auth, sessions
from twofold.services.forward_auth import Answer, Demand, PendingSignIn, Verdict
from twofold.services.sign_in_steps import Step
from twofold.store.db import end_reading
from twofold.store.models import AuthSession
from twofold.web import forward_pending
from twofold.web.deps import (
    ADD_PASSKEY_PAGE,
    CODE_PAGE,
    PASSKEY_PAGE,
    SETUP_PAGE,
    ClientDep,
    DbDep,
    OptionalSession,
    RuntimeDep,
    writes_on_get,
)
from twofold.web.rendering import (
    SESSION_COOKIE,
    domain_cookie_token,
    read_cookie,
    redirect,
    render,
)

router = APIRouter()

FORWARD = "/auth/forward"
SIGN_IN_AGAIN = "/login?forward=1"
DECLINED = "/account/security?notice=forward_declined"
HEADERS = ("X-Twofold-User", "X-Twofold-Email", "X-Twofold-Organization", "X-Twofold-Amr")
_MAX_FORWARDED = 2000


def _forward_session(request: Request, db: DbDep, runtime: RuntimeDep) -> AuthSession | None:
    """The console's host-only cookie, else the domain cookie (accepted here only)."""
    session = sessions.find_session(db, runtime, read_cookie(request, SESSION_COOKIE))
    if session is None:
        session = sessions.find_session(db, runtime, domain_cookie_token(request))
    return session


def original_url(request: Request) -> str | None:
    """The URL the person asked the proxy for, from X-Forwarded-Proto/Host/Uri (Traefik,
    Caddy; nginx's config sets them): only for building the sign-in link, whose `rd` is
    then checked against the allowed hosts like any other."""
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
    uri = request.headers.get("x-forwarded-uri", "") or "/"
    if proto not in ("http", "https") or not host or not uri.startswith("/"):
        return None
    url = f"{proto}://{host}{uri}"
    return url if len(url) <= _MAX_FORWARDED else None


def sign_in_link(request: Request, runtime: RuntimeDep, demand: Demand) -> str:
    """Twofold's sign-in page, returning to the original URL when it may."""
    params: dict[str, str] = {}
    target = allowed_target(original_url(request) or "", runtime.settings.redirect_hosts)
    if target is not None:
        params["rd"] = target
        if demand.organization:
            params["org"] = demand.organization
        if demand.require_mfa:
            params["require"] = forward_auth.REQUIRE_MFA
    query = f"?{urlencode(params)}" if params else ""
    return f"{runtime.public_url()}/login{query}"


def _header_value(value: str) -> str:
    return value if value.isascii() and value.isprintable() else ""


def _refusal_page(request: Request, step: Step) -> Response:
    """A short page, never a redirect: the proxy shows it, and nothing loops."""
    message = {
        Step.TWO_FACTOR_UNAVAILABLE: words.FORWARD_TWO_FACTOR_UNAVAILABLE,
        Step.SECURITY_KEY_UNAVAILABLE: words.FORWARD_SECURITY_KEY_UNAVAILABLE,
    }.get(step, words.FORWARD_NOT_A_MEMBER)
    return render(
        request,
        "error.html",
        status_code=403,
        title=words.TITLE_FORWARD_REFUSED,
        message=message,
    )


@router.get(FORWARD)
def forward(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    org: str = "",
    require: str = "",
    redirect: str = "",
) -> Response:
    session = _forward_session(request, db, runtime)
    demand = Demand.from_query(org, require)
    answer = forward_auth.check(db, runtime, session, demand)
    end_reading(db)
    if answer.verdict is Verdict.ALLOWED:
        return _allowed(answer)
    if answer.verdict is Verdict.FORBIDDEN:
        return _refusal_page(request, answer.step)
    if redirect.strip() in ("1", "true", "yes"):
        return RedirectResponse(sign_in_link(request, runtime, demand), status_code=302)
    return PlainTextResponse("Sign in required", status_code=401)


def _allowed(answer: Answer) -> Response:
    identity = answer.identity
    assert identity is not None
    values = (identity.login, identity.email, identity.organization, identity.amr)
    headers = {name: _header_value(value) for name, value in zip(HEADERS, values, strict=True)}
    return PlainTextResponse("OK", headers=headers)


@router.get(forward_pending.CONTINUE)
@writes_on_get
def resume(
    request: Request,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    session: OptionalSession,
) -> Response:
    """Where /login?rd=… and the sign-in pages come back to: on to the next step, or the
    application's address once nothing is missing."""
    pending = forward_pending.load(request)
    response: Response
    if pending is None:
        response = redirect("/")
        forward_pending.clear(request, response)
        return response
    answer = forward_auth.check(db, runtime, session, pending.demand, make_current=True)
    if answer.verdict is Verdict.ALLOWED:
        response = redirect(pending.target)
    elif answer.verdict is Verdict.FORBIDDEN:
        forward_auth.refuse(db, runtime, session, pending, answer.step, client)
        response = _refusal_page(request, answer.step)
    else:
        target = {
            Step.SIGN_IN: SIGN_IN_AGAIN,
            Step.SECOND_FACTOR: CODE_PAGE,
            Step.ENROLL: SETUP_PAGE,
            Step.SECURITY_KEY: PASSKEY_PAGE,
            Step.ADD_SECURITY_KEY: ADD_PASSKEY_PAGE,
        }[answer.step]
        return redirect(target)
    forward_pending.clear(request, response)
    return response


@router.get(forward_pending.DECLINE)
def decline(request: Request) -> Response:
    """ "Not now" at a 2FA setup the application asked for: the sign-in for it ends (the
    application would only ask again), and the person lands on their account, told why the
    application stays closed and where to turn 2FA on later (decision 0016)."""
    response = redirect(DECLINED)
    forward_pending.clear(request, response)
    return response


def start(
    request: Request, runtime: RuntimeDep, rd: str, org: str, require: str
) -> Response | None:
    """/login?rd=URL[&org=SLUG][&require=mfa]: keep the sign-in and go on through
    /auth/continue; None when `rd` is not an allowed target (then it is ignored)."""
    target = allowed_target(rd, runtime.settings.redirect_hosts)
    if target is None:
        return None
    demand = Demand.from_query(org, require)
    pending = PendingSignIn(
        target=target,
        organization=demand.organization,
        require_mfa=demand.require_mfa,
        require_phr=demand.require_phr,
        started_at=int(runtime.now().timestamp()),
    )
    response = redirect(forward_pending.CONTINUE)
    forward_pending.store(request, response, pending)
    return response
