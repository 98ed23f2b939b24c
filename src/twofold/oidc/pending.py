"""The client's request while the person signs in: sealed (AES-GCM, key ring) in a cookie of
its own, so the sign-in pages need no server-side row and nobody can read or change it."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from twofold.core import oidc
from twofold.services.oidc_flow import AuthorizationRequest
from twofold.web import sealed
from twofold.web.rendering import read_cookie, runtime_of

COOKIE = "twofold_oidc"
_CONTEXT = b"oidc-pending-request"
# "Not now" at a 2FA setup the application required: the client is told access_denied.
DECLINE = "/oidc/decline"


def store(request: Request, response: Response, pending: AuthorizationRequest) -> None:
    lifetime = int(oidc.PENDING_REQUEST_LIFETIME.total_seconds())
    sealed.store(request, response, COOKIE, _CONTEXT, pending.to_json(), lifetime)


def is_pending(request: Request) -> bool:
    """A sign-in for an application is under way in this browser (cookie present)."""
    return bool(read_cookie(request, COOKIE))


def load(request: Request) -> AuthorizationRequest | None:
    """The pending request, unless absent, tampered with, or older than its lifetime."""
    text = sealed.load(request, COOKIE, _CONTEXT)
    if text is None:
        return None
    try:
        pending = AuthorizationRequest.from_json(text)
    except (ValueError, TypeError, KeyError):
        return None
    if runtime_of(request).now() - pending.requested_at_time > oidc.PENDING_REQUEST_LIFETIME:
        return None
    return pending


def clear(request: Request, response: Response) -> None:
    sealed.clear(request, response, COOKIE)
