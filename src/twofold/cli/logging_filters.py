"""Keeps one-time link tokens out of every log line the server writes.

The filter sits on the handlers themselves (configured once by `log_config()`, which `serve`
hands to uvicorn), so it covers uvicorn's access log, our own loggers, other libraries and
exception tracebacks alike — not only the loggers someone remembered to decorate."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

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


def log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's own logging layout with the redacting filter on every handler, and the root
    logger (every other logger, ours included) writing through one of them."""
    redact = {"filters": ["redact_tokens"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_tokens": {"()": "twofold.cli.logging_filters.RedactTokensFilter"}},
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "named": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(name)s: %(message)s",
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
                **redact,
            },
            "named": {
                "class": "logging.StreamHandler",
                "formatter": "named",
                "stream": "ext://sys.stderr",
                **redact,
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "stream": "ext://sys.stdout",
                **redact,
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
