"""The per-address request-rate limit at the door (decision 0023): every request is counted
against its client's address (after web.client_address has decided it) before any route
runs, except those core.rate_limits exempts. Over the limit: 429 with Retry-After, in the
shape the caller reads: the API's error body, the OIDC endpoints' OAuth error, or a page."""

from __future__ import annotations

from anyio import to_thread
from fastapi import Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from twofold.core import words
from twofold.core.errors import RequestRateLimited
from twofold.core.rate_limits import Scope as Limit
from twofold.core.rate_limits import is_exempt
from twofold.oidc import routes as oidc_routes
from twofold.services.runtime import Runtime
from twofold.web.api.errors import error_response
from twofold.web.rendering import render

# Called by applications, not by a browser: they read an OAuth error, not a page.
_OAUTH_PATHS = frozenset(
    {oidc_routes.USERINFO, oidc_routes.JWKS, "/.well-known/openid-configuration"}
)


class RequestRate:
    """ASGI middleware: the runtime's RequestLimits, asked once per counted request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_exempt(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        runtime: Runtime = scope["app"].state.runtime  # the test suite swaps it per test
        limits = runtime.request_limits
        client = scope.get("client")
        address = client[0][:64] if client else None
        if limits.shares_counts:  # a network round trip: not on the event loop
            retry_after = await to_thread.run_sync(limits.claim_address, address)
        else:
            retry_after = limits.claim_address(address)
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        response = _refusal(Request(scope, receive), retry_after)
        await response(scope, receive, send)


def _refusal(request: Request, retry_after: int) -> Response:
    path = request.url.path
    error = RequestRateLimited(Limit.ADDRESS.value, retry_after)
    headers = {"Retry-After": str(retry_after)}
    if path == "/api" or path.startswith("/api/"):
        return error_response(429, error.code, error.words_for(), headers)
    if path in _OAUTH_PATHS:
        return oidc_routes.rate_limited(retry_after, error.words_for())
    response = render(
        request,
        "error.html",
        status_code=429,
        title=words.TITLE_TOO_MANY_REQUESTS,
        message=error.words_for(),
    )
    response.headers["Retry-After"] = str(retry_after)
    return response
