"""Forward-auth behind a real nginx (`auth_request`), configured as docs/forward-auth.md
shows, in front of a small application that echoes the headers it got: signed out -> the
sign-in page -> password + code -> back at the application, which sees the X-Twofold-*
headers; headers forged by the client never reach it; signing out ends access."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from attack.servers import Browser, serve
from browser.server import _free_port
from support import TEST_KEYS, make_person, require_or_skip
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock, SystemClock
from twofold.services.runtime import build_runtime
from twofold.settings import Settings

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DOCS = Path(__file__).parents[2] / "docs" / "forward-auth.md"

# The server block of docs/forward-auth.md (the test checks the docs carry it verbatim),
# inside the minimal http block a test prefix needs.
WRAPPER = """
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{server}
}}
"""


def docs_block(name: str) -> str:
    """The fenced block of docs/forward-auth.md that follows the marker `<!-- name -->`."""
    text = DOCS.read_text()
    start = text.index(f"<!-- {name} -->")
    body_start = text.index("\n", text.index("```", start)) + 1
    return text[body_start : text.index("```", body_start)]


class Echo(BaseHTTPRequestHandler):
    """The application behind the proxy: answers with the headers it received."""

    def do_GET(self) -> None:
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def echo_app() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextmanager
def nginx(prefix: Path, port: int, server: str) -> Iterator[None]:
    require_or_skip(Path(NGINX).exists(), "nginx (Debian package nginx-light)")
    prefix.mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(WRAPPER.format(prefix=prefix, server=server))
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while get(port, "/").status == 0:
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"nginx did not start: {error}")
            time.sleep(0.05)  # polling nginx's start-up
        yield
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


class Got:
    def __init__(self, status: int, headers: dict[str, str], body: str) -> None:
        self.status, self.headers, self.body = status, headers, body


def get(port: int, path: str, headers: dict[str, str] | None = None) -> Got:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        return Got(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    except OSError:
        return Got(0, {}, "")
    finally:
        connection.close()


FORGED = {
    "X-Twofold-User": "root",
    "X-Twofold-Email": "root@evil.example",
    "X-Twofold-Organization": "evil",
    "X-Twofold-Amr": "pwd,otp,mfa",
}


def test_signing_in_through_nginx_reaches_the_app_with_true_headers_only(
    tmp_path: Path, sqlite_template: Path
) -> None:
    database = tmp_path / "twofold.db"
    shutil.copy(sqlite_template, database)
    proxy_port = _free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{database}",
        secret_keys=TEST_KEYS.to_text(),
    )
    # Enrolled five minutes ago, so the code of now is a fresh one.
    runtime = build_runtime(
        settings,
        clock=FixedClock(SystemClock().now() - timedelta(minutes=5)),
        hashing=PasswordHashingParams.for_tests(),
        apply_migrations=False,
    )
    alice = make_person(runtime, "alice", with_totp=True, email="alice@example.org")
    runtime.engine.dispose()
    env = {"TWOFOLD_ALLOWED_REDIRECT_HOSTS": f"http://127.0.0.1:{proxy_port}"}
    with (
        serve(tmp_path / "data", f"sqlite:///{database}", env) as twofold,
        echo_app() as app,
    ):
        twofold_host = urlsplit(twofold.base_url).netloc
        server = (
            docs_block("nginx")
            .replace("listen 443 ssl;", f"listen 127.0.0.1:{proxy_port};")
            .replace("http://twofold.internal:8000", twofold.base_url)
            .replace("id.example.com", twofold_host)
            .replace("http://app.internal:3000", f"http://{app}")
        )
        server = "\n".join(line for line in server.splitlines() if "ssl_" not in line)
        with nginx(tmp_path / "nginx", proxy_port, server):
            # Signed out, forged headers and all: sent to sign in, the app never reached.
            first = get(proxy_port, "/secret?a=1&b=2", FORGED)
            assert first.status == 302, first.body
            location = urlsplit(first.headers["location"])
            rd = quote(f"http://127.0.0.1:{proxy_port}/secret?a=1&b=2", safe="")
            assert location.path == "/login"
            assert location.query == f"rd={rd}"
            browser = Browser()
            base = twofold.base_url
            step = browser.request(base, "GET", f"/login?{location.query}")
            assert step.headers["location"] == "/auth/continue"
            step = browser.request(base, "GET", "/auth/continue")
            assert step.headers["location"] == "/login?forward=1"
            token = browser.csrf(base, "/login?forward=1")
            step = browser.request(
                base,
                "POST",
                "/login",
                {"login": "alice", "password": alice.password, "csrf_token": token},
            )
            assert step.headers["location"] == "/auth/continue"
            step = browser.request(base, "GET", "/auth/continue")
            assert step.headers["location"] == "/login/code"
            token = browser.csrf(base, "/login/code")
            code = alice.totp(SystemClock())  # type: ignore[arg-type]
            step = browser.request(base, "POST", "/login/code", {"code": code, "csrf_token": token})
            assert step.headers["location"] == "/auth/continue"
            step = browser.request(base, "GET", "/auth/continue")
            assert step.headers["location"] == f"http://127.0.0.1:{proxy_port}/secret?a=1&b=2"
            cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
            # Back at the app: it sees who signed in, never what the client forged.
            reached = get(proxy_port, "/secret?a=1&b=2", {"Cookie": cookie, **FORGED})
            assert reached.status == 200, reached.body
            seen = json.loads(reached.body)
            assert seen["x-twofold-user"] == "alice"
            assert seen["x-twofold-email"] == "alice@example.org"
            assert seen["x-twofold-amr"] == "pwd,otp,mfa"
            assert seen["x-twofold-organization"] == "default"
            # Signing out ends access.
            token = browser.csrf(base, "/account/security")
            out = browser.request(base, "POST", "/logout", {"csrf_token": token})
            assert out.status == 303
            after = get(proxy_port, "/secret", {"Cookie": cookie})
            assert after.status == 302
