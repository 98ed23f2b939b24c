"""Answers only requests addressed to this service's own host names (TWOFOLD_ALLOWED_HOSTS).

Links never come from the Host header anyway (see Settings.public_url); refusing foreign
Hosts in production also keeps caches, proxies and the log from being fed an attacker's."""

from __future__ import annotations

import logging

from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from twofold.settings import host_name

log = logging.getLogger("twofold.web")

# A load balancer, an orchestrator or Prometheus reaches these by IP address or an internal
# name (/metrics has its own access rule, web/metrics.py).
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

WRONG_HOST_PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Unknown address</title>
<main><h1>This address is not served here</h1>
<p>The request was addressed to a host name this sign-in service does not answer to.
Use the address your organization gave you. If you run this service, see TWOFOLD_ALLOWED_HOSTS
in docs/deploy.md.</p></main></html>
"""


class AllowedHosts:
    """ASGI middleware: a clear 400 for a Host that is not allowed (None allows any)."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allowed is None or scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers", [])).get(b"host", b"")
        host = raw.decode("latin-1")
        if host_name(host) in self.allowed:
            await self.app(scope, receive, send)
            return
        log.warning("refused a request for host %r (not in TWOFOLD_ALLOWED_HOSTS)", host[:100])
        await HTMLResponse(WRONG_HOST_PAGE, status_code=400)(scope, receive, send)
