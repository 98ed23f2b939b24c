"""The access log never repeats a setup link's token."""

from __future__ import annotations

import logging

from twofold.cli.logging_filters import RedactTokensFilter, redact_path


def test_a_setup_token_in_a_path_is_redacted() -> None:
    assert redact_path("/setup/abcDEF123_-xyz") == "/setup/[redacted]"
    assert redact_path("/setup/abc?x=1") == "/setup/[redacted]?x=1"
    assert redact_path("/login") == "/login"


def test_the_filter_rewrites_uvicorn_access_log_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/setup/s3cr3tT0ken", "1.1", 200),
        None,
    )
    assert RedactTokensFilter().filter(record)
    assert "s3cr3tT0ken" not in record.getMessage()
    assert "/setup/[redacted]" in record.getMessage()
