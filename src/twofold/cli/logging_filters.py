"""Keeps one-time link tokens out of every log line the server writes.

The filter sits on the handlers themselves (configured once by `log_config()`, which `serve`
hands to uvicorn), so it covers uvicorn's access log, our own loggers, other libraries and
exception tracebacks alike — not only the loggers someone remembered to decorate.

Each line also carries the id of the request it belongs to (web/request_id.py): in JSON
(TWOFOLD_LOG_FORMAT=json) as a `request_id` field, in text as `request_id=…` at its end."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from twofold.web.request_id import current_request_id

REDACTED = "[redacted]"
_SEP = r"(?:/|%2f)"  # a slash, also percent-encoded
# Paths whose last segment is a secret: /setup/T, /password/reset/T, /reenroll/T, /invite/T,
# /email/verify/T. The token stops before '%' so a message template's "/setup/%s" is left as is.
_TOKEN_IN_PATH = re.compile(
    rf"({_SEP}(?:setup|password{_SEP}reset|reenroll|invite|email{_SEP}verify){_SEP})"
    r"[^/?&#%\s\"'<>\\]+",
    re.IGNORECASE,
)
# Where to go after signing in may itself be a link with a token (/login?next=/reenroll/T).
_NEXT_VALUE = re.compile(r"((?:^|[?&;\s\"'])next=)[^&#\s\"'<>]+", re.IGNORECASE)
_PLAIN = (int, float, bool, type(None))


def redact_path(text: str) -> str:
    """`text` with each token of a one-time link and each `next=` value replaced."""
    return _NEXT_VALUE.sub(rf"\1{REDACTED}", _TOKEN_IN_PATH.sub(rf"\1{REDACTED}", text))


def _redact_arg(arg: object) -> object:
    if isinstance(arg, str):
        return redact_path(arg)
    if isinstance(arg, _PLAIN):
        return arg  # keeps %d and friends working
    text = str(arg)  # a URL object, an exception, ...
    redacted = redact_path(text)
    return arg if redacted == text else redacted


def redact_record(record: logging.LogRecord) -> None:
    """Redact the arguments in place (uvicorn's access formatter needs them as a tuple), then
    the rendered message, the traceback and the stack."""
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(arg) for arg in record.args)
    elif isinstance(record.args, Mapping):
        args: Mapping[str, Any] = record.args
        record.args = {key: _redact_arg(value) for key, value in args.items()}
    try:
        message = record.getMessage()
    except (TypeError, ValueError, KeyError):  # a malformed call: the handler reports it
        record.msg = _redact_arg(record.msg)
    else:
        # A token in the template itself, or glued from template and arguments: keep the
        # rendered line (the template is not redacted alone, where it could eat a "%s").
        if redact_path(message) != message:
            record.msg, record.args = redact_path(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact_path(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_path(record.stack_info)


class RedactTokensFilter(logging.Filter):
    """A handler filter: whatever logger wrote the record, no token leaves the process."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


class RequestIdFilter(logging.Filter):
    """A handler filter: the record gets `request_id` (None outside a request) and, for the
    text layout, `request_tag` (" request_id=…" or nothing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        record.request_id = request_id
        record.request_tag = f" request_id={request_id}" if request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request_id; uvicorn's
    access line also as client, method, path, http_version and status; a traceback as
    `exception`. The redacting filter has run first, so every field is already redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            entry.update(zip(_ACCESS_FIELDS, args, strict=True))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")
LogFormat = Literal["json", "text"]


def log_config(level: str = "INFO", log_format: LogFormat = "text") -> dict[str, Any]:
    """uvicorn's own logging layout with the redacting and request-id filters on every
    handler, and the root logger (every other logger, ours included) writing through one of
    them; `json` makes every handler write JSON lines."""
    filters = {"filters": ["redact_tokens", "request_id"]}
    text_formatters: dict[str, dict[str, str]] = {
        "default": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s%(request_tag)s",
        },
        "named": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(name)s: %(message)s%(request_tag)s",
        },
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
            "%(request_tag)s",
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact_tokens": {"()": "twofold.cli.logging_filters.RedactTokensFilter"},
            "request_id": {"()": "twofold.cli.logging_filters.RequestIdFilter"},
        },
        "formatters": (
            {name: {"()": "twofold.cli.logging_filters.JsonFormatter"} for name in text_formatters}
            if log_format == "json"
            else text_formatters
        ),
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
                **filters,
            },
            "named": {
                "class": "logging.StreamHandler",
                "formatter": "named",
                "stream": "ext://sys.stderr",
                **filters,
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "stream": "ext://sys.stdout",
                **filters,
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            "twofold": {"level": level},
        },
        "root": {"handlers": ["named"], "level": "WARNING"},
    }
