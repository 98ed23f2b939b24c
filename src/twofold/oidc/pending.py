"""The client's request while the person signs in: sealed (AES-GCM, key ring) in a cookie of
its own, so the sign-in pages need no server-side row and nobody can read or change it."""

from __future__ import annotations

import base64

from fastapi import Request
from fastapi.responses import Response

from twofold.core import oidc
from twofold.services.oidc_flow import AuthorizationRequest
from twofold.web.rendering import cookie_name, is_https, read_cookie, runtime_of

COOKIE = "twofold_oidc"
_CONTEXT = b"oidc-pending-request"
_MAX_COOKIE = 4000


def store(request: Request, response: Response, pending: AuthorizationRequest) -> None:
    kid, sealed = runtime_of(request).keys.seal(pending.to_json().encode(), context=_CONTEXT)
    value = f"{kid}.{base64.urlsafe_b64encode(sealed).decode('ascii')}"
    response.set_cookie(
        cookie_name(request, COOKIE),
        value,
        max_age=int(oidc.PENDING_REQUEST_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def is_pending(request: Request) -> bool:
    """A sign-in for an application is under way in this browser (cookie present)."""
    return bool(read_cookie(request, COOKIE))


def load(request: Request) -> AuthorizationRequest | None:
    """The pending request, unless absent, tampered with, or older than its lifetime."""
    value = read_cookie(request, COOKIE)
    if not value or len(value) > _MAX_COOKIE or "." not in value:
        return None
    kid, _, encoded = value.partition(".")
    runtime = runtime_of(request)
    try:
        plain = runtime.keys.open(kid, base64.urlsafe_b64decode(encoded), context=_CONTEXT)
        pending = AuthorizationRequest.from_json(plain.decode())
    except (ValueError, TypeError, KeyError):
        return None
    if runtime.now() - pending.requested_at_time > oidc.PENDING_REQUEST_LIFETIME:
        return None
    return pending


def clear(request: Request, response: Response) -> None:
    response.delete_cookie(
        cookie_name(request, COOKIE),
        path="/",
        secure=is_https(request),
        httponly=True,
        samesite="lax",
    )
