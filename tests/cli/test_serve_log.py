"""A real `twofold serve`: what it writes to stdout and stderr while people open one-time
links never contains a link's token, and every emailed link uses the address it serves on,
whatever Host header the request carried. It logs in JSON (TWOFOLD_LOG_FORMAT=json), so the
redaction is checked in the format production uses, and counts its metrics in
prometheus-client's multiprocess directory."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote

import httpx2 as httpx
import pytest

from browser.mailbox import Mailbox
from browser.server import CHEAP_ARGON2, Server, running_server
from support import STRONG_PASSWORD
from twofold.crypto.passwords import PasswordHashingParams
from twofold.services import (
    email_addresses,
    invitations,
    links,
    member_actions,
    organizations,
    signing_keys,
    users,
)
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
ALICE = "alice@example.org"
BOB = "bob@example.org"
LOG_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05  # polling the server's output, not waiting for a TOTP step


STALE_METRICS = "counter_1.db"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("serve-log") / "data"
    # A file an earlier run left in the metrics directory (unreadable: it must be removed).
    (data_dir / "metrics").mkdir(parents=True)
    (data_dir / "metrics" / STALE_METRICS).write_bytes(b"left over")
    with running_server(data_dir, {"TWOFOLD_LOG_FORMAT": "json"}) as running:
        yield running


@pytest.fixture(scope="module")
def runtime(server: Server) -> Iterator[Runtime]:
    """The operator's side: services on the server's own data directory and key file."""
    cheap = {k.removeprefix("TWOFOLD_").lower(): int(v) for k, v in CHEAP_ARGON2.items()}
    settings = Settings(data_dir=server.data_dir, **cheap)  # type: ignore[arg-type]
    built = build_runtime(settings, hashing=PasswordHashingParams.for_tests())
    yield built
    built.engine.dispose()


def log_after_startup(server: Server) -> str:
    """Everything the server wrote after it said "Serving on" (before that it shows the first
    administrator's setup link once, on purpose)."""
    output = list(server.output)
    start = next(i for i, line in enumerate(output) if "Serving on" in line)
    return "".join(output[start + 1 :])


def wait_for_log(server: Server, text: str) -> str:
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while text not in (log := log_after_startup(server)):
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} never appeared in the server's log:\n{log}")
        time.sleep(POLL_SECONDS)
    return log


def form_token(browser: httpx.Client, path: str) -> str:
    page = browser.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match, page.text
    return match.group(1)


def issue(runtime: Runtime) -> dict[str, str]:
    """One real, unused token of every kind of link a person is sent."""
    with runtime.db() as db:
        alice = users.create_user(
            db, runtime, login="alice", password=STRONG_PASSWORD, email=ALICE, email_verified=True
        )
        default = organizations.get_organization(db, "default")
        tokens = {
            "reenroll": links.issue(
                db,
                runtime,
                purpose=member_actions.REENROLL_PURPOSE,
                user_id=alice.id,
                lifetime=timedelta(hours=1),
            ),
            "verify": links.issue(
                db,
                runtime,
                purpose=email_addresses.PURPOSE,
                user_id=alice.id,
                lifetime=timedelta(hours=1),
                payload="alice.new@example.org",
            ),
            "invite": links.issue_unbound(
                db,
                runtime,
                purpose=invitations.PURPOSE,
                lifetime=timedelta(hours=1),
                payload="newcomer@example.org",
                organization_id=default.id,
                role="member",
            ),
        }
        db.commit()
    return tokens


def test_no_one_time_token_reaches_the_server_log(server: Server, runtime: Runtime) -> None:
    setup_token = server.setup_url.rsplit("/", 1)[1]
    bogus = secrets.token_urlsafe(32)  # a guessed (or expired) token is a secret-looking path too
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as browser:
        # The first administrator: the setup link opened, submitted, then opened again (used).
        csrf = form_token(browser, f"/setup/{setup_token}")
        created = browser.post(
            f"/setup/{setup_token}",
            data={"csrf_token": csrf, "login": "root", "password": STRONG_PASSWORD},
        )
        assert created.status_code == 303, created.text
        assert browser.get(f"/setup/{setup_token}").status_code == 404
        tokens = issue(runtime)
        browser.cookies.clear()  # the links below are opened by someone not signed in

        # A password reset, following the emailed link as its owner would.
        csrf = form_token(browser, "/password/forgot")
        browser.post("/password/forgot", data={"csrf_token": csrf, "email": ALICE})
        reset_link = (
            Mailbox(server.outbox).wait_for(ALICE, subject="reset").link_to("/password/reset/")
        )
        tokens["reset"] = reset_link.rsplit("/", 1)[1]
        reset_path = f"/password/reset/{tokens['reset']}"
        csrf = form_token(browser, reset_path)
        changed = browser.post(
            reset_path,
            data={"csrf_token": csrf, "new_password": "a", "confirm_password": "b"},
        )
        assert changed.status_code == 400

        # Every other kind of link: opened, posted without a form token (our own warning log
        # names the path), behind the sign-in page's next=, and a bad one of each kind.
        for path, kind in (
            ("/reenroll/", "reenroll"),
            ("/email/verify/", "verify"),
            ("/invite/", "invite"),
        ):
            token = tokens[kind]
            browser.get(f"{path}{token}")
            assert browser.post(f"{path}{token}", data={}).status_code == 403
            browser.get(f"/login?next={path}{token}")
            browser.get(f"/login?next={quote(path + token, safe='')}")
        for path in ("/setup/", "/password/reset/", "/reenroll/", "/email/verify/", "/invite/"):
            assert browser.get(f"{path}{bogus}").status_code == 404
        browser.get("/healthz?all-done")

    log = wait_for_log(server, "/healthz?all-done")
    for kind, token in {"setup": setup_token, "bogus": bogus, **tokens}.items():
        assert token not in log, f"the {kind} token is in the log:\n{log}"
    # Still useful: each request is there, with the token's place marked.
    for path in ("/setup/", "/password/reset/", "/reenroll/", "/email/verify/", "/invite/"):
        assert f"GET {path}[redacted] HTTP/1.1" in log
    assert "POST /password/reset/[redacted] HTTP/1.1" in log
    assert "CSRF token refused for POST /invite/[redacted]" in log
    assert "GET /login?next=[redacted] HTTP/1.1" in log


def test_an_emailed_link_uses_the_served_address_not_the_host_header(
    server: Server, runtime: Runtime
) -> None:
    """The attack that worked: forgot-password sent with `Host: attacker.example`."""
    with runtime.db() as db:
        users.create_user(
            db, runtime, login="bob", password=STRONG_PASSWORD, email=BOB, email_verified=True
        )
        db.commit()
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=30) as browser:
        csrf = form_token(browser, "/password/forgot")
        sent = browser.post(
            "/password/forgot",
            data={"csrf_token": csrf, "email": BOB},
            headers={"Host": "attacker.example", "X-Forwarded-Host": "attacker.example"},
        )
        assert sent.status_code == 200, sent.text
    mail = Mailbox(server.outbox).wait_for(BOB, subject="reset")
    assert "attacker.example" not in mail.text
    assert mail.link_to("/password/reset/").startswith(f"{server.base_url}/password/reset/")


def test_serve_prints_the_address_links_use(server: Server) -> None:
    assert server.base_url.startswith("http://localhost:")
    assert server.setup_url.startswith(f"{server.base_url}/setup/")


def test_serve_prints_the_setup_link_last_once_it_listens(server: Server) -> None:
    """On a first start the setup link comes after uvicorn's start-up lines, just above
    "Serving on", so it is the last thing on screen rather than buried."""
    output = list(server.output)
    serving = next(i for i, line in enumerate(output) if "Serving on" in line)
    link = next(i for i, line in enumerate(output) if server.setup_url in line)
    listening = next(i for i, line in enumerate(output) if "Uvicorn running on" in line)
    assert listening < link < serving, "".join(output)
    between = [line.strip("-\n ") for line in output[link + 1 : serving]]
    assert [line for line in between if line] == [
        "or on the command line: twofold user create LOGIN --superadmin --password-stdin"
    ], "".join(output)


def test_serve_makes_the_signing_keys_on_its_first_start(server: Server, runtime: Runtime) -> None:
    """The JWKS is never empty: one RS256 and one ES256 key sign from the first start."""
    with runtime.read_db() as db:
        listing = signing_keys.list_signing_keys(db, runtime.now())
    assert sorted((key.alg, key.state.value) for key in listing) == [
        ("ES256", "signing"),
        ("RS256", "signing"),
    ]


def test_serve_says_where_text_messages_go(server: Server) -> None:
    """Like the mail line: the development outbox's folder (no secret is ever in it)."""
    output = "".join(server.output)
    assert re.search(r"^Text messages: SMS outbox directory .*outbox/sms$", output, re.M), output


def test_the_log_is_json_lines_and_each_request_line_carries_its_id(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        answer = client.get("/healthz?json-lines", headers={"X-Request-Id": "lb-7f3a.01"})
        assert answer.headers["x-request-id"] == "lb-7f3a.01"
        made = client.get("/healthz?made-here").headers["x-request-id"]
    wait_for_log(server, "/healthz?made-here")
    lines = [json.loads(line) for line in log_after_startup(server).splitlines() if line.strip()]
    access = {line["path"]: line for line in lines if line["logger"] == "uvicorn.access"}
    assert access["/healthz?json-lines"]["request_id"] == "lb-7f3a.01"
    assert access["/healthz?json-lines"]["status"] == 200
    assert access["/healthz?made-here"]["request_id"] == made


def test_metrics_are_counted_in_the_multiprocess_directory_and_served_to_loopback(
    server: Server,
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        scraped = client.get("/metrics")
    assert scraped.status_code == 200, scraped.text
    assert 'twofold_http_requests_total{method="GET",route="/healthz",status="200"}' in (
        scraped.text
    )
    assert "twofold_mail_queue_depth" in scraped.text
    # Read from the per-process files, not from this process's registry alone (which would
    # also list the interpreter's own gc metrics); the stale file of an earlier run is gone.
    assert "python_gc_objects_collected_total" not in scraped.text
    files = sorted(path.name for path in (server.data_dir / "metrics").glob("*.db"))
    assert files, "no per-process metrics file"
    assert STALE_METRICS not in files
