"""A short-lived value kept in a cookie of its own, sealed (AES-GCM, key ring) so that the
browser can neither read nor change it: a sign-in under way for an application."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from twofold.crypto.sealed_text import open_text, seal_text
from twofold.web.rendering import cookie_name, delete_cookie, is_https, read_cookie, runtime_of

_MAX_COOKIE = 4000


def store(
    request: Request, response: Response, name: str, context: bytes, text: str, max_age: int
) -> None:
    response.set_cookie(
        cookie_name(request, name),
        seal_text(runtime_of(request).keys, text, context=context),
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def load(request: Request, name: str, context: bytes) -> str | None:
    """The cookie's text, unless absent or tampered with."""
    keys = runtime_of(request).keys
    return open_text(keys, read_cookie(request, name), context=context, max_length=_MAX_COOKIE)


def clear(request: Request, response: Response, name: str) -> None:
    delete_cookie(request, response, name)
