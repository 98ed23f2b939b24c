"""One id per request, in every log line the request causes and in its answer.

Taken from the request's X-Request-Id when it is a short run of safe characters (a proxy or
a load balancer that already named the request), otherwise made here. The id is kept in a
context variable: the log filter (cli/logging_filters.py) reads it for each record, which
reaches uvicorn's access line and the lines logged in worker threads (anyio copies the
context into them)."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
MAX_LENGTH = 128
# Letters, digits and - _ . : only: nothing a log reader or a redaction pattern trips on.
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")

_current: ContextVar[str | None] = ContextVar("twofold_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled in this context, or None outside a request."""
    return _current.get()


def accepted(value: bytes | None) -> str | None:
    """An incoming id when it is safe to repeat in logs and headers, else None."""
    if value is None or not 0 < len(value) <= MAX_LENGTH:
        return None
    text = value.decode("latin-1")
    return text if _SAFE.fullmatch(text) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestId:
    """Pure ASGI middleware (outermost): sets the id for the request's context and returns
    it in the answer's X-Request-Id header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((value for name, value in scope["headers"] if name == HEADER), None)
        request_id = accepted(incoming) or new_request_id()
        header = (HEADER, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *(item for item in message.get("headers", []) if item[0].lower() != HEADER),
                    header,
                ]
            await send(message)

        # Not reset afterwards: Starlette's last-resort error handler runs outside this
        # middleware, and its "unexpected error" line must carry the id too. Each request
        # runs in a task of its own (a copy of the context), so the id ends with it.
        _current.set(request_id)
        await self.app(scope, receive, send_with_id)
