"""A sign-in started at /login?rd=… (forward-auth): sealed in a cookie of its own while the
person signs in, like an OpenID Connect request (oidc/pending.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from twofold.services.forward_auth import PENDING_LIFETIME, PendingSignIn
from twofold.web import sealed
from twofold.web.rendering import read_cookie, runtime_of

COOKIE = "twofold_forward_rd"
_CONTEXT = b"forward-auth-pending"
CONTINUE = "/auth/continue"
DECLINE = "/auth/decline"


def store(request: Request, response: Response, pending: PendingSignIn) -> None:
    lifetime = int(PENDING_LIFETIME.total_seconds())
    sealed.store(request, response, COOKIE, _CONTEXT, pending.to_json(), lifetime)


def is_pending(request: Request) -> bool:
    return bool(read_cookie(request, COOKIE))


def load(request: Request) -> PendingSignIn | None:
    text = sealed.load(request, COOKIE, _CONTEXT)
    if text is None:
        return None
    try:
        pending = PendingSignIn.from_json(text)
    except (ValueError, TypeError, KeyError):
        return None
    return None if pending.expired(runtime_of(request).now()) else pending


def target_host(request: Request) -> str | None:
    """The host the sign-in under way returns to (the sign-in page names it)."""
    pending = load(request)
    return urlsplit(pending.target).netloc if pending else None


def clear(request: Request, response: Response) -> None:
    sealed.clear(request, response, COOKIE)
