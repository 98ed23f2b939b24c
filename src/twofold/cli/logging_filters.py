"""Keeps one-time link tokens out of the server's access log."""

from __future__ import annotations

import logging
import re

_TOKEN_IN_PATH = re.compile(r"(/setup/)[^/?\s]+")


def redact_path(path: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1[redacted]", path)


class RedactTokensFilter(logging.Filter):
    """uvicorn's access log prints each request path; a setup link's token is a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_path(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True
