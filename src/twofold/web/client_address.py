"""The client's address, decided once per request by core.client_ip for every route.

Replaces scope["client"] in place, before anything reads it: the pages, the API, the OIDC
routes (through deps.get_client) and uvicorn's access log, which reads the same scope, all
see the one address. uvicorn's own proxy-header handling stays off (cli/main.py)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from twofold.core.client_ip import TrustedProxies, client_ip

_FORWARDED_FOR = b"x-forwarded-for"


class ClientAddress:
    """ASGI middleware: the peer, or the client a trusted proxy names in X-Forwarded-For."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trusted and scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            peer_host = peer[0] if peer else None
            forwarded_for = [
                value.decode("latin-1")
                for name, value in scope.get("headers", [])
                if name == _FORWARDED_FOR
            ]
            host = client_ip(peer_host, forwarded_for, self.trusted)
            if host != peer_host and host is not None:
                scope["client"] = (host, 0)  # the client's port is not forwarded
        await self.app(scope, receive, send)
