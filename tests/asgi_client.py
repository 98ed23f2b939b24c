"""Starlette's TestClient, calling the app on an event loop in the test's own thread.

Starlette's client hands every request to an event loop in another thread through a blocking
portal: about ten thread hand-offs per request (events, streams, the cancel scope, each body
chunk), which were a large share of an in-process web test's CPU on a two-core machine with
four test workers (docs/development.md, sixth pass). Here the same ASGI messages go to the
same app, on a loop this thread runs while the request lasts; sync endpoints and
dependencies still run in anyio's worker threads, as under uvicorn. Lifespan, cookies,
redirects and `raise_server_exceptions` behave as with Starlette's client.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any, ClassVar
from urllib.parse import unquote

import anyio
import httpx2 as httpx
from anyio.streams.stapled import StapledObjectStream
from starlette.testclient import TestClient as StarletteTestClient
from starlette.types import ASGIApp, Message

_LOOPS = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's loop, made once: a test worker sends thousands of requests."""
    loop: asyncio.AbstractEventLoop | None = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _LOOPS.loop = loop
    return loop


class InThreadTransport(httpx.BaseTransport):
    """One request: its scope, its body in one message, the response read to the end."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_server_exceptions: bool,
        root_path: str,
        client: tuple[str, int],
        app_state: dict[str, Any],
    ) -> None:
        self.app = app
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self.client = client
        self.app_state = app_state

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scope = self._scope(request)
        body = request.read()
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def run() -> None:
            complete = asyncio.Event()
            sent_request = False

            async def receive() -> Message:
                nonlocal sent_request
                if not sent_request:
                    sent_request = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await complete.wait()  # a response listening for a disconnect
                return {"type": "http.disconnect"}

            async def send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    started.update(message)
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        complete.set()

            try:
                await self.app(scope, receive, send)
            finally:
                complete.set()

        try:
            _thread_loop().run_until_complete(run())
        except BaseException:
            if self.raise_server_exceptions:
                raise
            if not started:  # else the app answered (its 500 page) before raising
                return httpx.Response(500, headers=[], content=b"", request=request)
        if not started:
            raise AssertionError("TestClient did not receive any response.")
        headers = [(key.decode(), value.decode()) for key, value in started.get("headers", [])]
        content = b"" if request.method == "HEAD" else b"".join(chunks)
        # A stream, as Starlette's transport gives: headers exactly as the app sent them
        # (content= would add a Content-Length that a streamed response does not have).
        return httpx.Response(
            started["status"], headers=headers, stream=httpx.ByteStream(content), request=request
        )

    def _scope(self, request: httpx.Request) -> dict[str, Any]:
        """What Starlette's transport builds, for plain HTTP requests."""
        url = request.url
        scheme = url.scheme
        netloc = url.netloc.decode(encoding="ascii")
        path = url.path
        raw_path = url.raw_path
        query = url.query.decode(encoding="ascii")
        default_port = {"http": 80, "https": 443}[scheme]
        if ":" in netloc:
            host, port_text = netloc.split(":", 1)
            port = int(port_text)
        else:
            host, port = netloc, default_port
        if "host" in request.headers:
            headers: list[tuple[bytes, bytes]] = []
        elif port == default_port:
            headers = [(b"host", host.encode())]
        else:
            headers = [(b"host", f"{host}:{port}".encode())]
        headers += [
            (key.lower().encode(), value.encode()) for key, value in request.headers.multi_items()
        ]
        return {
            "type": "http",
            "http_version": "1.1",
            "method": request.method,
            "path": unquote(path),
            "raw_path": raw_path.split(b"?", 1)[0],
            "root_path": self.root_path,
            "scheme": scheme,
            "query_string": query.encode(),
            "headers": headers,
            "client": self.client,
            "server": [host, port],
            "extensions": {"http.response.debug": {}},
            "state": self.app_state.copy(),
            "asgi": {"version": "3.0", "spec_version": "2.4"},
        }


class TestClient(StarletteTestClient):
    """Starlette's client (cookies, base URL, follow_redirects) on InThreadTransport.

    `lifespan_once`: the app is a server shared by many browsers (tests/apps.py), started
    by the first client and left running for the worker's life, as a server process is;
    each client no longer starts and stops it (~3.7 ms of CPU per test)."""

    __test__ = False
    # The client that started each shared app's lifespan, kept: its streams carry the
    # lifespan's messages for as long as the app runs.
    _running: ClassVar[dict[int, TestClient]] = {}

    def __init__(self, app: ASGIApp, *, lifespan_once: bool = False, **options: Any) -> None:
        super().__init__(app, **options)
        self._lifespan_once = lifespan_once
        self._transport = InThreadTransport(
            self.app,
            raise_server_exceptions=options.get("raise_server_exceptions", True),
            root_path=options.get("root_path", ""),
            client=options.get("client", ("testclient", 50000)),
            app_state=self.app_state,
        )

    def __enter__(self) -> TestClient:
        if self._lifespan_once:
            if id(self.app) in TestClient._running:
                return self
            TestClient._running[id(self.app)] = self
        loop = _thread_loop()

        async def start() -> None:
            send = anyio.create_memory_object_stream[Message | None](math.inf)
            receive = anyio.create_memory_object_stream[Message](math.inf)
            self.stream_send = StapledObjectStream(*send)
            self.stream_receive = StapledObjectStream(*receive)
            self.task = asyncio.ensure_future(self.lifespan())
            await self.wait_startup()

        loop.run_until_complete(start())
        return self

    def __exit__(self, *args: Any) -> None:
        if self._lifespan_once:
            return  # the shared app keeps running
        loop = _thread_loop()
        loop.run_until_complete(self.wait_shutdown())
        loop.run_until_complete(asyncio.wait([self.task]))
        for stream in (self.stream_send, self.stream_receive):
            loop.run_until_complete(stream.aclose())
