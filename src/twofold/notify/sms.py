"""SMS providers behind one small interface: a development outbox, Twilio's Messages API,
and a signed JSON webhook for any other gateway (docs/sms.md).

A sender is called outside any database transaction. Every failure (refused, an error
status, no answer within the timeout, no connection) becomes `SmsSendFailed`, whose words
are for the person and whose `reason` is for the audit log: never a token, a secret, the
phone number or the message."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from twofold.core.errors import SmsSendFailed
from twofold.otp.clock import Clock, SystemClock, unix_time

__all__ = [
    "OutboxSms",
    "SmsSendFailed",
    "SmsSender",
    "TwilioSms",
    "WebhookSms",
    "webhook_signature",
]

log = logging.getLogger("twofold.sms")

TWILIO_API = "https://api.twilio.com"
USER_AGENT = "Twofold-SMS"
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# Runs of digits as a provider's error text may quote them (the number it refused).
_NUMBER = re.compile(r"\+?[0-9][0-9 ().-]{4,}[0-9]")
_REASON_MAX = 200


class SmsSender(Protocol):
    def send(self, to_e164: str, message: str) -> None:
        """Hand one text message to the provider, or raise SmsSendFailed."""
        ...

    def describe(self) -> str:
        """Where messages go, for the start-up line (never a secret)."""
        ...


def _check_number(to_e164: str) -> None:
    """Callers give numbers already parsed to E.164; anything else is a bug, said early."""
    if not _E164.fullmatch(to_e164):
        raise ValueError("an SMS recipient must be an E.164 number such as +15551234567")


@dataclass(frozen=True)
class OutboxSms:
    """Development: each message becomes a small text file in the outbox directory, and is
    printed on the console so that whoever runs the server sees the code."""

    directory: Path
    print_to_console: bool = True

    def describe(self) -> str:
        return f"SMS outbox directory {self.directory}"

    def send(self, to_e164: str, message: str) -> None:
        _check_number(to_e164)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            path = self.directory / f"{stamp}-{secrets.token_hex(4)}.txt"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(f"To: {to_e164}\n\n{message}\n")
        except OSError as exc:
            reason = f"outbox not writable ({exc.strerror or type(exc).__name__})"
            raise SmsSendFailed(reason) from exc
        if self.print_to_console:  # the development outbox only: a real provider never logs it
            log.info("SMS to %s (development outbox, %s): %s", to_e164, path.name, message)


@dataclass(frozen=True)
class TwilioSms:
    """Twilio's Messages REST API: a form POST with HTTP basic auth (account SID, token)."""

    account_sid: str
    auth_token: str = field(repr=False)
    from_: str
    base_url: str = TWILIO_API
    timeout: float = 10.0

    @property
    def url(self) -> str:
        sid = quote(self.account_sid, safe="")
        return f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"

    def describe(self) -> str:
        return f"Twilio (account {self.account_sid}, from {self.from_})"

    def send(self, to_e164: str, message: str) -> None:
        _check_number(to_e164)
        response = _post(
            self.url,
            timeout=self.timeout,
            data={"To": to_e164, "From": self.from_, "Body": message},
            auth=(self.account_sid, self.auth_token),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        if not response.is_success:
            said = _clean(_twilio_error(response), hide=(self.auth_token, self.account_sid))
            raise SmsSendFailed(f"http {response.status_code}" + (f" ({said})" if said else ""))


def _twilio_error(response: httpx.Response) -> str:
    """Twilio's error `code` and `message` (https://www.twilio.com/docs/api/errors), if the
    answer is its JSON error document."""
    try:
        document = json.loads(response.content)
    except ValueError:
        return ""
    if not isinstance(document, dict):
        return ""
    code, text = document.get("code"), document.get("message")
    parts = [f"twilio {code}" if isinstance(code, int | str) and code != "" else ""]
    parts.append(text if isinstance(text, str) else "")
    return ": ".join(part for part in parts if part)


@dataclass(frozen=True)
class WebhookSms:
    """Any other gateway: a JSON POST of {"to", "message"}, signed with HMAC-SHA-256 over
    "<unix seconds>.<raw body>" so that a captured request cannot be replayed later."""

    url: str
    secret: str = field(repr=False)
    timeout: float = 10.0
    clock: Clock = field(default_factory=SystemClock)

    def describe(self) -> str:
        parts = urlsplit(self.url)  # neither a login nor a query: either may hold a key
        return f"SMS webhook {parts.scheme}://{parts.hostname}{_port(parts.port)}{parts.path}"

    def send(self, to_e164: str, message: str) -> None:
        _check_number(to_e164)
        body = json.dumps(
            {"to": to_e164, "message": message}, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        timestamp = unix_time(self.clock.now())
        response = _post(
            self.url,
            timeout=self.timeout,
            content=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Twofold-Timestamp": str(timestamp),
                "X-Twofold-Signature": webhook_signature(self.secret, timestamp, body),
            },
        )
        if not response.is_success:
            raise SmsSendFailed(f"http {response.status_code}")


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Twofold-Signature value: "sha256=" and the hex HMAC-SHA-256, under the shared
    secret, of the timestamp, a dot and the exact bytes of the body."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def _port(port: int | None) -> str:
    return f":{port}" if port else ""


def _post(url: str, *, timeout: float, **request: Any) -> httpx.Response:
    """One POST that returns or fails within `timeout` seconds in total. httpx bounds each
    step (connect, write, each read) on its own; the thread bounds their sum, so a provider
    that answers slowly bit by bit cannot hold a sign-in longer than the setting says."""
    outcome: list[httpx.Response | Exception] = []

    def exchange() -> None:
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                outcome.append(client.post(url, **request))
        except Exception as exc:  # handed to the caller below
            outcome.append(exc)

    worker = threading.Thread(target=exchange, name="twofold-sms", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:  # still waiting: it ends on httpx's own timeouts, unobserved
        raise SmsSendFailed("timeout")
    result = outcome[0]
    if isinstance(result, httpx.Response):
        return result
    if isinstance(result, httpx.TimeoutException):
        raise SmsSendFailed("timeout") from result
    if isinstance(result, httpx.ConnectError):
        raise SmsSendFailed(_connect_reason(result)) from result
    if isinstance(result, httpx.HTTPError | httpx.InvalidURL):
        raise SmsSendFailed(f"http error ({type(result).__name__})") from result
    raise result


def _connect_reason(error: BaseException) -> str:
    """What stopped the connection, in a few words (never the URL: it may hold a key)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused"
        if "name or service not known" in str(seen).lower() or "getaddrinfo" in str(seen):
            return "host not found"
        if "ssl" in type(seen).__name__.lower() or "certificate" in str(seen).lower():
            return "tls error"
        seen = seen.__cause__ or seen.__context__
    return "connection failed"


def _clean(reason: str, *, hide: tuple[str, ...]) -> str:
    """A provider's words made safe for the audit log: one short line, no phone numbers,
    and none of the given secrets even if the provider echoed one."""
    for secret in hide:
        if secret:
            reason = reason.replace(secret, "[redacted]")
    reason = _NUMBER.sub("[number]", " ".join(reason.split()))
    return reason[:_REASON_MAX]
