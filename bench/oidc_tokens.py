"""Benchmark: what a busy deployment pays per application sign-in (issue #10) — the token
endpoint's code exchange (a code consumed, two tokens stored, an ID token signed with RS256),
userinfo (one indexed lookup) and the JWKS — under a loopback load against one real
`twofold serve` on the embedded SQLite default.

The sign-in pages are not measured: one person signs in once, then GET /oidc/authorize with
that session mints the codes (a 303 each). Codes live 60 s, so they are minted and exchanged
in rounds. Reported per endpoint: requests/s, p50, p99, errors (non-200 or no answer).

Run with `make bench-oidc` (or `.venv/bin/python bench/oidc_tokens.py [CONCURRENCY]`).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import platform
import re
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from twofold.core.policy import TwoFactorPolicy
from twofold.services import oidc_clients, organizations, users
from twofold.services.runtime import build_runtime
from twofold.settings import Settings

CONCURRENCY = int(sys.argv[1]) if len(sys.argv) > 1 else 8
ROUNDS = 5
CODES_PER_ROUND = 200
USERINFO_REQUESTS = 2000
JWKS_REQUESTS = 2000
CALLBACK = "https://app.example/callback"
PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CHEAP_ARGON2 = {
    "TWOFOLD_ARGON2_TIME_COST": "1",
    "TWOFOLD_ARGON2_MEMORY_KIB": "8",
    "TWOFOLD_ARGON2_PARALLELISM": "1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Answer:
    status: int  # 0: no answer
    headers: dict[str, str]
    body: str


def call(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    sent = {"Host": f"localhost:{port}", **(headers or {})}
    if cookies:
        sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if form is not None:
        body = urlencode(form)
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        got = dict(response.getheaders())
        if cookies is not None:
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    jar: SimpleCookie = SimpleCookie()
                    jar.load(value)
                    cookies.update({k: m.value for k, m in jar.items() if m.value})
        return Answer(response.status, got, text)
    except OSError:
        return Answer(0, {}, "")
    finally:
        connection.close()


@dataclass
class Figures:
    name: str
    seconds: list[float]
    errors: int
    wall: float

    def row(self) -> str:
        ordered = sorted(self.seconds)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"| {self.name} | {len(ordered) + self.errors} | {len(ordered) / self.wall:,.0f} | "
            f"{statistics.median(ordered) * 1000:.1f} ms | {p99 * 1000:.1f} ms | {self.errors} |"
        )


def load(name: str, jobs: list[Callable[[], bool]]) -> Figures:
    """Run the jobs on CONCURRENCY threads; each returns whether it succeeded."""
    seconds: list[float] = []
    errors = 0
    lock = threading.Lock()
    queue = list(reversed(jobs))

    def worker() -> None:
        nonlocal errors
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop()
            started = time.perf_counter()
            ok = job()
            took = time.perf_counter() - started
            with lock:
                if ok:
                    seconds.append(took)
                else:
                    errors += 1

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Figures(name, seconds, errors, time.perf_counter() - began)


def seed(data_dir: Path) -> tuple[str, str]:
    """An organization, a member (password only: the pages are not what is measured) and a
    confidential client; returns (client_id, secret)."""
    runtime = build_runtime(Settings(data_dir=data_dir))
    with runtime.db() as db:
        organizations.create_organization(
            db,
            runtime,
            slug="acme",
            name="Acme",
            two_factor=TwoFactorPolicy.OPTIONAL,
            signup_open=False,
        )
        users.create_user(db, runtime, login="mia", password=PASSWORD, organization_slug="acme")
        made = oidc_clients.create_client(
            db, runtime, "acme", name="Bench app", redirect_uris=[CALLBACK]
        )
        db.commit()
        assert made.secret is not None
        result = made.client.client_id, made.secret
    runtime.engine.dispose()
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="twofold-bench-oidc-") as scratch:
        data_dir = Path(scratch)
        client_id, secret = seed(data_dir)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWOFOLD_")}
        env |= CHEAP_ARGON2 | {"TWOFOLD_DATA_DIR": str(data_dir)}
        twofold = Path(sys.executable).parent / "twofold"
        server = subprocess.Popen(
            [str(twofold), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while call(port, "GET", "/healthz").status != 200:
                if time.monotonic() > deadline:
                    raise SystemExit("twofold serve did not start")
                time.sleep(0.1)
            run(port, client_id, secret)
        finally:
            server.terminate()
            server.wait(timeout=10)


def run(port: int, client_id: str, secret: str) -> None:
    cookies: dict[str, str] = {}
    token = CSRF_FIELD.search(call(port, "GET", "/login", cookies=cookies).body)
    assert token is not None
    signed_in = call(
        port,
        "POST",
        "/login",
        form={"login": "mia", "password": PASSWORD, "csrf_token": token.group(1)},
        cookies=cookies,
    )
    assert signed_in.status == 303, signed_in.body
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    authorize = "/oidc/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": "openid profile email",
            "state": "s",
            "nonce": "n",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    access_tokens: list[str] = []

    def exchange(code: str) -> Callable[[], bool]:
        def job() -> bool:
            answer = call(
                port,
                "POST",
                "/oidc/token",
                headers={"Authorization": f"Basic {basic}"},
                form={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": CALLBACK,
                    "code_verifier": verifier,
                },
            )
            if answer.status != 200:
                return False
            access_tokens.append(json.loads(answer.body)["access_token"])
            return True

        return job

    exchanges: list[Figures] = []
    for _ in range(ROUNDS):
        codes = []
        for _ in range(CODES_PER_ROUND):
            location = call(port, "GET", authorize, cookies=dict(cookies)).headers["location"]
            codes.append(parse_qs(urlsplit(location).query)["code"][0])
        exchanges.append(load("POST /oidc/token (code)", [exchange(c) for c in codes]))
    merged = Figures(
        exchanges[0].name,
        [s for f in exchanges for s in f.seconds],
        sum(f.errors for f in exchanges),
        sum(f.wall for f in exchanges),
    )

    def userinfo(access: str) -> Callable[[], bool]:
        return lambda: (
            call(
                port, "GET", "/oidc/userinfo", headers={"Authorization": f"Bearer {access}"}
            ).status
            == 200
        )

    if not access_tokens:
        raise SystemExit(f"no code exchange succeeded ({merged.errors} errors)")
    tokens = [access_tokens[i % len(access_tokens)] for i in range(USERINFO_REQUESTS)]
    info = load("GET /oidc/userinfo", [userinfo(t) for t in tokens])
    keys = load(
        "GET /oidc/jwks",
        [lambda: call(port, "GET", "/oidc/jwks").status == 200 for _ in range(JWKS_REQUESTS)],
    )
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; one `twofold serve`, {CONCURRENCY} client threads"
    )
    print("| request | n | requests/s | p50 | p99 | errors |")
    print("|---|---|---|---|---|---|")
    for figures in (merged, info, keys):
        print(figures.row())


if __name__ == "__main__":
    main()
