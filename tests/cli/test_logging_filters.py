"""No log line repeats a one-time link's token, whatever logger writes it and however the
message is built (see also test_serve_log.py, which reads a real server's output)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
from collections.abc import Iterator

import pytest

from apps import app_for
from asgi_client import TestClient
from twofold.cli.logging_filters import RedactTokensFilter, log_config, redact_path
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.web.app import create_app

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


@pytest.fixture(params=["text"])
def configured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The server's logging setup (text unless a test asks for json), writing into one
    buffer; the previous setup restored."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "twofold", "some.library"]
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in names
        for logger in [logging.getLogger(name)]
    }
    stream = io.StringIO()
    config = log_config(log_format=request.param)
    for handler in config["handlers"].values():
        handler["stream"] = stream
    logging.config.dictConfig(config)
    yield stream
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def write_a_token_through_every_logger() -> None:
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


def test_the_server_log_setup_redacts_whatever_logger_writes(configured: io.StringIO) -> None:
    write_a_token_through_every_logger()
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


@pytest.mark.parametrize("configured", ["json"], indirect=True)
def test_json_lines_parse_and_are_redacted_field_by_field(configured: io.StringIO) -> None:
    write_a_token_through_every_logger()
    written = configured.getvalue()
    assert TOKEN not in written
    lines = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
    assert len(lines) == 5, written  # the traceback is inside its line, not on lines of its own
    access, csrf, library, odd, failure = lines
    assert access == {
        "time": access["time"],
        "level": "INFO",
        "logger": "uvicorn.access",
        "message": '127.0.0.1:1 - "GET /invite/[redacted] HTTP/1.1" 200',
        "client": "127.0.0.1:1",
        "method": "GET",
        "path": "/invite/[redacted]",
        "http_version": "1.1",
        "status": 200,
    }
    assert access["time"].endswith("+00:00")
    assert csrf["message"] == "CSRF token refused for POST /reenroll/[redacted]"
    assert (library["logger"], library["level"]) == ("some.library", "ERROR")
    assert "next=[redacted]" in odd["message"]
    assert "RuntimeError: /password/reset/[redacted]" in failure["exception"]
    assert "request_id" not in access  # written outside any request


@pytest.mark.parametrize("configured", ["json"], indirect=True)
def test_every_line_of_a_request_carries_the_id_it_came_with(
    configured: io.StringIO, runtime: Runtime
) -> None:
    """The id from X-Request-Id is in the answer and in the request's log lines (here our
    CSRF refusal, logged in a worker thread); an unusable one is replaced by a new id."""
    with TestClient(app_for(runtime), follow_redirects=False) as client:
        refused = client.post(f"/invite/{TOKEN}", data={}, headers={"X-Request-Id": "req-42.a:b"})
        assert refused.status_code == 403
        assert refused.headers["x-request-id"] == "req-42.a:b"
        for unusable in ("x" * 129, "has space", "new\u00e9", "/setup/x", "-leading"):
            answer = client.get("/healthz", headers={"X-Request-Id": unusable.encode()})
            made = answer.headers["x-request-id"]
            assert made != unusable
            assert re.fullmatch(r"[0-9a-f]{32}", made)
        assert client.get("/healthz").headers["x-request-id"] != made  # one per request
    lines = [json.loads(line) for line in configured.getvalue().splitlines()]
    refusal = [line for line in lines if "CSRF token refused" in line["message"]]
    assert len(refusal) == 1
    assert refusal[0]["request_id"] == "req-42.a:b"
    assert TOKEN not in configured.getvalue()


def test_text_lines_of_a_request_end_with_its_id(configured: io.StringIO, runtime: Runtime) -> None:
    with TestClient(app_for(runtime), follow_redirects=False) as client:
        client.post(f"/invite/{TOKEN}", data={}, headers={"X-Request-Id": "trace-7"})
    assert "CSRF token refused for POST /invite/[redacted] request_id=trace-7" in (
        configured.getvalue()
    )


def test_the_log_format_defaults_to_json_in_production_and_text_otherwise() -> None:
    assert Settings(env="production").resolved_log_format == "json"
    assert Settings(env="development").resolved_log_format == "text"
    assert Settings(env="production", log_format="text").resolved_log_format == "text"
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="yaml")  # type: ignore[arg-type]


@pytest.mark.parametrize("configured", ["json"], indirect=True)
def test_an_unexpected_error_is_logged_and_answered_with_the_request_id(
    configured: io.StringIO, runtime: Runtime
) -> None:
    """Starlette answers a bug outside every middleware; its line and page keep the id."""
    app = create_app(runtime=runtime, mail_worker=False, purge_worker=False)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"a bug near /invite/{TOKEN}")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom", headers={"X-Request-Id": "bug-report-1"})
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "bug-report-1"
    lines = [json.loads(line) for line in configured.getvalue().splitlines()]
    failure = next(line for line in lines if line["message"].startswith("unexpected error"))
    assert failure["request_id"] == "bug-report-1"
    assert "RuntimeError: a bug near /invite/[redacted]" in failure["exception"]
