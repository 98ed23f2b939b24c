"""A real HTTP server for the SMS provider tests: http.server on 127.0.0.1 and a free port,
playing Twilio's Messages API or a webhook gateway. It checks each request as the real
receiver would (method, path, auth or signature, body), records it, refuses what is wrong
the way the real one does, and can be told to answer with an error, after a delay, or
byte by byte."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from twofold.otp.clock import Clock, unix_time

HOST = "127.0.0.1"
TWILIO_SID = "AC0123456789abcdef0123456789abcdef"
TWILIO_TOKEN = "twilio-auth-token-that-must-never-show"
TWILIO_FROM = "+15005550006"
WEBHOOK_PATH = "/hooks/sms"
WEBHOOK_SECRET = "webhook-secret-that-must-never-show"
FRESH_SECONDS = 300  # a receiver accepts a timestamp this close to its own clock


@dataclass(frozen=True)
class Request:
    """One request as it reached the server: headers lower-cased, the body as sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json"


@dataclass
class SmsGateway:
    """`kind` is "twilio" or "webhook". By default a right request is accepted (Twilio: 201
    with a message resource; webhook: 200) and a wrong one refused with what the check
    found in `problems`. Set `answer` to answer every request so, `delay` to wait first,
    `drip` to send the answer one byte per `drip` seconds."""

    kind: str
    clock: Clock
    port: int = 0
    received: list[Request] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    answer: Answer | None = None
    delay: float = 0.0
    drip: float = 0.0
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    def respond(self, request: Request) -> Answer:
        self.received.append(request)
        check = self._check_twilio if self.kind == "twilio" else self._check_webhook
        problem = check(request)
        if problem:
            self.problems.append(problem[1])
        if self.answer is not None:
            return self.answer
        if problem:
            return problem[0]
        if self.kind == "twilio":
            resource = {"sid": "SM" + "0" * 32, "status": "queued", "to": request.form()["To"][0]}
            return Answer(201, json.dumps(resource).encode())
        return Answer(200, b'{"ok":true}')

    def _check_twilio(self, request: Request) -> tuple[Answer, str] | None:
        if request.method != "POST":
            return twilio_error(405, 20004, "Method not allowed"), f"method {request.method}"
        if request.path != f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
            return twilio_error(404, 20404, "The requested resource was not found"), "path"
        expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if not hmac.compare_digest(request.headers.get("authorization", ""), f"Basic {expected}"):
            return twilio_error(401, 20003, "Authenticate"), "basic auth"
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return twilio_error(400, 21601, "Bad content type"), "content type"
        try:
            form = request.form()
        except (ValueError, UnicodeDecodeError):
            return twilio_error(400, 21602, "Malformed form body"), "form"
        if sorted(form) != ["Body", "From", "To"] or any(len(v) != 1 for v in form.values()):
            return twilio_error(400, 21602, "Message body is required"), f"fields {sorted(form)}"
        return None

    def _check_webhook(self, request: Request) -> tuple[Answer, str] | None:
        refused = Answer(401, b'{"error":"bad signature"}')
        if request.method != "POST":
            return Answer(405), f"method {request.method}"
        if request.path != WEBHOOK_PATH:
            return Answer(404), "path"
        if request.headers.get("content-type") != "application/json":
            return Answer(415), "content type"
        stamp = request.headers.get("x-twofold-timestamp", "")
        if not stamp.isdigit() or abs(unix_time(self.clock.now()) - int(stamp)) > FRESH_SECONDS:
            return refused, "timestamp"
        signed = stamp.encode() + b"." + request.body
        mac = hmac.new(WEBHOOK_SECRET.encode(), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("x-twofold-signature", ""), f"sha256={mac}"):
            return refused, "signature"
        try:
            document = request.json()
        except ValueError:
            return Answer(400), "json"
        if not (
            isinstance(document, dict)
            and sorted(document) == ["message", "to"]
            and all(isinstance(value, str) for value in document.values())
        ):
            return Answer(400), f"body {document!r}"
        return None


def twilio_error(status: int, code: int, message: str) -> Answer:
    """An error document as Twilio writes it (https://www.twilio.com/docs/api/errors)."""
    document = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Answer(status, json.dumps(document).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for every handler: nothing outlives a test
    block_on_close = True
    gateway: SmsGateway

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timed out) before the answer: expected, not an error."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        gateway = self.server.gateway
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = gateway.respond(Request(self.command, self.path, headers, body))
        if gateway.delay and gateway.stopping.wait(gateway.delay):
            return
        head = (
            f"HTTP/1.1 {answer.status} {self.responses.get(answer.status, ('',))[0]}\r\n"
            f"Content-Type: {answer.content_type}\r\n"
            f"Content-Length: {len(answer.body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode() + answer.body
        self.close_connection = True
        if not gateway.drip:
            self.wfile.write(head)
            return
        for byte in head:
            if gateway.stopping.wait(gateway.drip):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads `received` instead."""


@contextmanager
def running_gateway(kind: str, clock: Clock) -> Iterator[SmsGateway]:
    server = _Server((HOST, 0), _Handler)
    gateway = SmsGateway(kind=kind, clock=clock, port=int(server.server_address[1]))
    server.gateway = gateway
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name=f"sms-{kind}", daemon=True
    )
    thread.start()
    try:
        yield gateway
    finally:
        gateway.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
