"""Page rendering: templates, the CSRF cookie and field, and the security headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from twofold.core.policy import days_left
from twofold.core.words import Msg, Text, translate
from twofold.crypto.sealed_text import open_text, seal_text
from twofold.otp.clock import unix_time
from twofold.services.runtime import Runtime
from twofold.web import csrf
from twofold.web.errors import and_list
from twofold.web.labels import audit_details

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "twofold_session"
# "Don't ask for a code on this browser" (decision 0028): a long-lived cookie of its own.
REMEMBER_COOKIE = "twofold_remember"
# With TWOFOLD_COOKIE_DOMAIN: the session token, sealed, for sibling subdomains' proxies;
# only /auth/forward accepts it (an application behind the proxy sees it, and cannot turn it
# into a console session).
DOMAIN_COOKIE = "twofold_forward"
_DOMAIN_COOKIE_CONTEXT = b"forward-auth-domain-cookie"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["days_left"] = days_left
templates.env.filters["and_list"] = and_list
templates.env.filters["audit_details"] = audit_details


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def is_https(request: Request) -> bool:
    """From the configured public URL: a proxy or a forged header cannot turn it off."""
    return runtime_of(request).settings.uses_https


def cookie_name(request: Request, name: str) -> str:
    """Under https every cookie is `__Host-` prefixed: the browser then insists on Secure,
    Path=/ and no Domain, so no other host or subdomain can set or shadow it."""
    return f"__Host-{name}" if is_https(request) else name


def read_cookie(request: Request, name: str) -> str | None:
    return request.cookies.get(cookie_name(request, name))


def csrf_cookie(request: Request) -> str:
    """The browser's CSRF cookie, or a new one that render() will set."""
    existing = read_cookie(request, csrf.COOKIE_NAME)
    if existing and len(existing) <= 64:
        return existing
    fresh: str | None = getattr(request.state, "new_csrf_cookie", None)
    if fresh is None:
        fresh = csrf.new_cookie_value()
        request.state.new_csrf_cookie = fresh
    return fresh


def csrf_token(request: Request) -> str:
    runtime = runtime_of(request)
    return csrf.make_token(runtime.keys.csrf_key(), csrf_cookie(request), unix_time(runtime.now()))


def render(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    for name, value in context.items():  # catalogue words, in the reader's language
        if isinstance(value, Text | Msg):
            context[name] = translate(value)
    context.setdefault("error", None)
    context.setdefault("notice", None)
    context.setdefault("field_errors", {})
    context.setdefault("current_user", getattr(request.state, "user", None))
    context.setdefault("standing", getattr(request.state, "standing", None))
    context.setdefault("now", runtime_of(request).now())
    context["csrf_token"] = csrf_token(request)
    response = templates.TemplateResponse(request, template, context, status_code=status_code)
    set_csrf_cookie_if_new(request, response)
    return response


def set_csrf_cookie_if_new(request: Request, response: HTMLResponse | RedirectResponse) -> None:
    fresh = getattr(request.state, "new_csrf_cookie", None)
    if fresh:
        response.set_cookie(
            cookie_name(request, csrf.COOKIE_NAME),
            fresh,
            httponly=True,
            samesite="lax",
            secure=is_https(request),
            path="/",
        )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        cookie_name(request, SESSION_COOKIE),
        token,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )
    runtime = runtime_of(request)
    domain = runtime.settings.cookie_domain
    if domain:
        response.set_cookie(
            domain_cookie_name(request),
            seal_text(runtime.keys, token, context=_DOMAIN_COOKIE_CONTEXT),
            domain=domain,
            httponly=True,
            samesite="lax",
            secure=is_https(request),
            path="/",
        )


def domain_cookie_name(request: Request) -> str:
    """`__Secure-` under https: the browser insists on Secure (`__Host-` forbids Domain)."""
    return f"__Secure-{DOMAIN_COOKIE}" if is_https(request) else DOMAIN_COOKIE


def domain_cookie_token(request: Request) -> str | None:
    """The session token the domain cookie carries, if it is one this server sealed."""
    runtime = runtime_of(request)
    if not runtime.settings.cookie_domain:
        return None
    value = request.cookies.get(domain_cookie_name(request))
    token = open_text(runtime.keys, value, context=_DOMAIN_COOKIE_CONTEXT, max_length=400)
    return token if token is not None and token.isascii() else None


def delete_cookie(request: Request, response: Response, name: str) -> None:
    """Clear one of our host-only cookies (set with these attributes)."""
    response.delete_cookie(
        cookie_name(request, name),
        path="/",
        secure=is_https(request),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    delete_cookie(request, response, SESSION_COOKIE)
    domain = runtime_of(request).settings.cookie_domain
    if domain:
        response.delete_cookie(
            domain_cookie_name(request),
            path="/",
            domain=domain,
            secure=is_https(request),
            httponly=True,
            samesite="lax",
        )


def set_remember_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    """The remember cookie: HttpOnly, SameSite=Lax, Path=/, Secure (and `__Host-`) under
    https, kept by the browser no longer than the remembered browser's hard cap."""
    response.set_cookie(
        cookie_name(request, REMEMBER_COOKIE),
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def clear_remember_cookie(request: Request, response: Response) -> None:
    delete_cookie(request, response, REMEMBER_COOKIE)
