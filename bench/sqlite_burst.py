"""Benchmark: a burst of parallel form posts against one `twofold serve` on the embedded
SQLite default, with unrelated page views arriving meanwhile (issue #8, item 3).

Each round: a fresh person with 2FA signs in with the password, then BURST parallel POSTs
of wrong codes to /login/code arrive at once (the lock stops them after ten), while READS
parallel GET /login come from another browser. Reported: latency p50/p99 of each kind,
HTTP 5xx answers (503 counted apart: "busy, try again") and connection errors.

Run with `make bench-burst` (or `.venv/bin/python bench/sqlite_burst.py [ROUNDS]`).
BENCH_SRC=<path to another checkout's src> serves that code instead, for a before/after.
"""

from __future__ import annotations

import http.client
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

BURST = 60
READS = 10
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CHEAP_ARGON2 = {
    "TWOFOLD_ARGON2_TIME_COST": "1",
    "TWOFOLD_ARGON2_MEMORY_KIB": "8",
    "TWOFOLD_ARGON2_PARALLELISM": "1",
}
PASSWORD = "correct horse battery staple"


@dataclass
class Result:
    kind: str
    status: int  # 0: the connection failed
    seconds: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(
    port: int, method: str, path: str, cookies: dict[str, str], form: dict[str, str] | None
) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Host": f"127.0.0.1:{port}"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                jar: SimpleCookie = SimpleCookie()
                jar.load(value)
                for key, morsel in jar.items():
                    cookies[key] = morsel.value
        return response.status, dict(response.getheaders()), text
    finally:
        connection.close()


def csrf(port: int, path: str, cookies: dict[str, str]) -> str:
    _status, _headers, text = request(port, "GET", path, cookies, None)
    match = CSRF_FIELD.search(text)
    assert match, f"no form on {path}"
    return match.group(1)


def make_person(env: dict[str, str], login: str) -> None:
    """A person with TOTP on, made with the same services the CLI uses."""
    script = (
        "import pyotp\n"
        "from twofold.settings import Settings\n"
        "from twofold.services.runtime import build_runtime\n"
        "from twofold.services import users, account\n"
        "from twofold.services.runtime import ClientInfo\n"
        "from twofold.otp.clock import unix_time\n"
        "rt = build_runtime(Settings())\n"
        "with rt.db() as db:\n"
        f"    u = users.create_user(db, rt, login={login!r}, password={PASSWORD!r})\n"
        "    db.commit()\n"
        "    p = account.begin_totp_enrollment(db, rt, u)\n"
        "    code = pyotp.TOTP(p.secret_b32).at(unix_time(rt.now()))\n"
        "    account.confirm_totp_enrollment(db, rt, u, code, ClientInfo())\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True)


def one_round(port: int, env: dict[str, str], number: int) -> list[Result]:
    login = f"person{number}"
    make_person(env, login)
    cookies: dict[str, str] = {}
    token = csrf(port, "/login", cookies)
    status, headers, _ = request(
        port, "POST", "/login", cookies, {"login": login, "password": PASSWORD, "csrf_token": token}
    )
    assert status == 303, status
    assert headers.get("location") == "/login/code", headers
    token = csrf(port, "/login/code", cookies)
    results: list[Result] = []
    lock = threading.Lock()
    barrier = threading.Barrier(BURST + READS)

    def post() -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            status, _h, _t = request(
                port, "POST", "/login/code", dict(cookies), {"code": "000000", "csrf_token": token}
            )
        except OSError:
            status = 0
        with lock:
            results.append(Result("POST /login/code", status, time.perf_counter() - started))

    def read() -> None:
        barrier.wait()
        time.sleep(0.05)  # arrive while the burst is being handled
        started = time.perf_counter()
        try:
            status, _h, _t = request(port, "GET", "/login", {}, None)
        except OSError:
            status = 0
        with lock:
            results.append(Result("GET /login", status, time.perf_counter() - started))

    threads = [threading.Thread(target=post) for _ in range(BURST)]
    threads += [threading.Thread(target=read) for _ in range(READS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWOFOLD_")}
        env.update(CHEAP_ARGON2)
        env["TWOFOLD_DATA_DIR"] = str(Path(tmp) / "data")
        if os.environ.get("BENCH_SRC"):
            env["PYTHONPATH"] = os.environ["BENCH_SRC"]
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from twofold.cli.main import main; main()",
                "serve",
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output: list[str] = []
        assert server.stdout is not None
        stream = server.stdout
        reader = threading.Thread(target=lambda: output.extend(stream), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if request(port, "GET", "/healthz", {}, None)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("server did not start:\n" + "".join(output))
                time.sleep(0.1)
            results: list[Result] = []
            for number in range(rounds):
                results += one_round(port, env, number)
        finally:
            server.terminate()
            server.wait(timeout=20)
        print(f"# SQLite burst: {rounds} rounds of {BURST} POST + {READS} GET in parallel")
        machine = f"{platform.platform()}, {os.cpu_count()} cores"
        print(f"# {machine}, Python {platform.python_version()}")
        print("| request | n | p50 ms | p99 ms | max ms | 5xx (503) | failed |")
        print("|---|---|---|---|---|---|---|")
        for kind in ("POST /login/code", "GET /login"):
            mine = [r for r in results if r.kind == kind]
            times = [r.seconds * 1000 for r in mine]
            errors = sum(1 for r in mine if r.status >= 500)
            busy = sum(1 for r in mine if r.status == 503)
            failed = sum(1 for r in mine if r.status == 0)
            print(
                f"| {kind} | {len(mine)} | {statistics.median(times):.0f} | "
                f"{percentile(times, 0.99):.0f} | {max(times):.0f} | {errors} ({busy}) | {failed} |"
            )
        locked = sum("database is locked" in line for line in output)
        print(f"# server log lines with 'database is locked': {locked}")


if __name__ == "__main__":
    main()
