"""A short-lived value kept in a cookie of its own, sealed (AES-GCM, key ring) so that the
browser can neither read nor change it: a sign-in under way for an application."""

from __future__ import annotations

import base64

from fastapi import Request
from fastapi.responses import Response

from twofold.web.rendering import cookie_name, is_https, read_cookie, runtime_of

_MAX_COOKIE = 4000


def store(
    request: Request, response: Response, name: str, context: bytes, text: str, max_age: int
) -> None:
    kid, sealed = runtime_of(request).keys.seal(text.encode(), context=context)
    value = f"{kid}.{base64.urlsafe_b64encode(sealed).decode('ascii')}"
    response.set_cookie(
        cookie_name(request, name),
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def load(request: Request, name: str, context: bytes) -> str | None:
    """The cookie's text, unless absent or tampered with."""
    value = read_cookie(request, name)
    if not value or len(value) > _MAX_COOKIE or "." not in value:
        return None
    kid, _, encoded = value.partition(".")
    try:
        plain = runtime_of(request).keys.open(
            kid, base64.urlsafe_b64decode(encoded), context=context
        )
        return plain.decode()
    except (ValueError, TypeError, KeyError):
        return None


def clear(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        cookie_name(request, name),
        path="/",
        secure=is_https(request),
        httponly=True,
        samesite="lax",
    )
