"""No log line repeats a one-time link's token, whatever logger writes it and however the
message is built (see also test_serve_log.py, which reads a real server's output)."""

from __future__ import annotations

import io
import logging
import logging.config
from collections.abc import Iterator

import pytest

from twofold.cli.logging_filters import RedactTokensFilter, log_config, redact_path

TOKEN = "s3cr3tT0ken_-AbC"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"/setup/{TOKEN}", "/setup/[redacted]"),
        (f"/setup/{TOKEN}?x=1", "/setup/[redacted]?x=1"),
        (f"/password/reset/{TOKEN}", "/password/reset/[redacted]"),
        (f"/reenroll/{TOKEN}", "/reenroll/[redacted]"),
        (f"/invite/{TOKEN}", "/invite/[redacted]"),
        (f"/email/verify/{TOKEN}", "/email/verify/[redacted]"),
        (f"https://id.example.org/reenroll/{TOKEN}", "https://id.example.org/reenroll/[redacted]"),
        (f"/login?next=/reenroll/{TOKEN}", "/login?next=[redacted]"),
        (f"/login?next=%2Freenroll%2F{TOKEN}", "/login?next=[redacted]"),
        (f"/login?notice=x&next=%2Finvite%2F{TOKEN}&a=b", "/login?notice=x&next=[redacted]&a=b"),
        (f"/Password/Reset/{TOKEN}", "/Password/Reset/[redacted]"),
        ("/login", "/login"),
        ("/account/security/setup", "/account/security/setup"),
        ("/admin/invite?org=acme", "/admin/invite?org=acme"),
        ("/setup/%s", "/setup/%s"),  # a logging template keeps working
    ],
)
def test_every_kind_of_token_is_redacted(text: str, expected: str) -> None:
    assert redact_path(text) == expected


def record(
    msg: object, args: tuple[object, ...] | None, name: str = "twofold.web"
) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, None)


def test_uvicorn_access_log_arguments_are_redacted_and_keep_their_shape() -> None:
    access = record(
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/password/reset/{TOKEN}", "1.1", 200),
        "uvicorn.access",
    )
    assert RedactTokensFilter().filter(access)
    assert isinstance(access.args, tuple)
    assert len(access.args) == 5
    assert access.getMessage() == '127.0.0.1:5000 - "GET /password/reset/[redacted] HTTP/1.1" 200'


def test_a_token_in_the_message_itself_or_split_across_template_and_arguments_is_redacted() -> None:
    in_template = record(f"opened /invite/{TOKEN} from %s", ("192.0.2.1",))
    split = record("opened /reenroll/%s", (TOKEN,))
    glued = record("opened /email/verify%s", (f"/{TOKEN}",))
    for each in (in_template, split, glued):
        RedactTokensFilter().filter(each)
        assert TOKEN not in each.getMessage()
        assert "[redacted]" in each.getMessage()


def test_a_traceback_naming_a_token_is_redacted() -> None:
    try:
        raise ValueError(f"no such link /setup/{TOKEN}")
    except ValueError:
        import sys

        failed = logging.LogRecord(
            "twofold.web", logging.ERROR, __file__, 1, "unexpected error", None, sys.exc_info()
        )
    RedactTokensFilter().filter(failed)
    assert failed.exc_text is not None
    assert TOKEN not in logging.Formatter().format(failed)
    assert "/setup/[redacted]" in logging.Formatter().format(failed)


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """The server's logging setup, writing into one buffer; the previous setup restored."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "twofold", "some.library"]
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in names
        for logger in [logging.getLogger(name)]
    }
    stream = io.StringIO()
    config = log_config()
    for handler in config["handlers"].values():
        handler["stream"] = stream
    logging.config.dictConfig(config)
    yield stream
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def test_the_server_log_setup_redacts_whatever_logger_writes(configured: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", f"/invite/{TOKEN}", "1.1", 200
    )
    logging.getLogger("twofold.web").warning("CSRF token refused for POST /reenroll/%s", TOKEN)
    logging.getLogger("some.library").error("fetching /email/verify/%s failed", TOKEN)
    logging.getLogger("uvicorn.error").info("odd request /login?next=/setup/%s", TOKEN)
    try:
        raise RuntimeError(f"/password/reset/{TOKEN}")
    except RuntimeError:
        logging.getLogger("twofold.web").exception("unexpected error")
    written = configured.getvalue()
    assert TOKEN not in written
    for shown in (
        "GET /invite/[redacted]",
        "POST /reenroll/[redacted]",
        "some.library: fetching /email/verify/[redacted] failed",
        "next=[redacted]",
        "RuntimeError: /password/reset/[redacted]",
    ):
        assert shown in written
