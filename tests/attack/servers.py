"""Real `twofold serve` processes sharing one database, and a browser-like HTTP client for
attacking them with parallel requests (the way the issue #8 attack was run)."""

from __future__ import annotations

import http.client
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from browser.server import CHEAP_ARGON2, _free_port, _healthy
from launcher import launch
from support import TEST_KEYS

STARTUP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 60.0
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Served:
    base_url: str
    output: list[str] = field(default_factory=list)


def _env(data_dir: Path, database_url: str, extra: dict[str, str]) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOFOLD_")}
    return {
        **env,
        **CHEAP_ARGON2,
        "TWOFOLD_DATA_DIR": str(data_dir),
        "TWOFOLD_DATABASE_URL": database_url,
        "TWOFOLD_SECRET_KEYS": TEST_KEYS.to_text(),
        "TWOFOLD_MAIL_POLL_SECONDS": "0.5",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@contextmanager
def serve(
    data_dir: Path,
    database_url: str,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[Served]:
    """One server process on `database_url` (on `port`, else a free one); stopped (by its
    PID) when the block ends."""
    port = port or _free_port()
    process = launch(
        ["serve", "--port", str(port)], env=_env(data_dir, database_url, extra_env or {})
    )
    assert process.stdout is not None
    stdout = process.stdout
    served = Served(base_url=f"http://127.0.0.1:{port}")

    def drain() -> None:
        for line in stdout:
            served.output.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(served.base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("twofold serve did not start:\n" + "".join(served.output))
            time.sleep(0.05)  # polling start-up, not waiting for a TOTP step
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=10)
        stdout.close()


@contextmanager
def serve_many(
    count: int, data_dir: Path, database_url: str, extra_env: dict[str, str] | None = None
) -> Iterator[list[Served]]:
    with ExitStack() as stack:
        yield [stack.enter_context(serve(data_dir, database_url, extra_env)) for _ in range(count)]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: str


class Browser:
    """Cookies kept by hand, so that one browser's cookies go to every server process;
    `headers` go with every request (an X-Forwarded-For, for a browser with an address of
    its own behind a trusted proxy)."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.cookies: dict[str, str] = {}
        self.headers = dict(headers or {})
        self._lock = threading.Lock()

    def request(
        self, base_url: str, method: str, path: str, form: dict[str, str] | None = None
    ) -> Answer:
        parts = urlsplit(base_url)
        connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT
        )
        headers = {**self.headers, "Host": parts.netloc}
        with self._lock:
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
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
                    cookie: SimpleCookie = SimpleCookie()
                    cookie.load(value)
                    with self._lock:
                        for key, morsel in cookie.items():
                            if morsel.value and morsel["max-age"] != "0":
                                self.cookies[key] = morsel.value
                            else:
                                self.cookies.pop(key, None)
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
        finally:
            connection.close()

    def csrf(self, base_url: str, path: str) -> str:
        page = self.request(base_url, "GET", path)
        assert page.status == 200, page.body
        match = CSRF_FIELD.search(page.body)
        assert match, f"no form on {path}"
        return match.group(1)


def in_parallel(calls: list[Callable[[], Answer]]) -> list[Answer | BaseException]:
    """Start every call at the same moment; what each returned or raised."""
    barrier = threading.Barrier(len(calls), timeout=30)
    results: list[Answer | BaseException] = [RuntimeError("not run")] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except BaseException as error:  # reported to the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT * 2)
        assert not thread.is_alive(), "a request hung"
    return results


def http_get(base_url: str, path: str) -> int:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def describe(results: list[Answer]) -> str:
    """What a burst got back, for an assertion message: statuses counted, and the start of
    the first few server-error pages (a 503's reason, or a 500's)."""
    counts = Counter(answer.status for answer in results)
    errors = [
        f"{answer.status} (Retry-After {answer.headers.get('retry-after', '-')}): "
        + " ".join(answer.body.split())[:300]
        for answer in results
        if answer.status >= 500
    ]
    return f"{dict(sorted(counts.items()))} {errors[:3]}"


BUSY_ROUNDS = 3


def until_answered(calls: list[Callable[[], Answer]]) -> list[Answer]:
    """until_answered_counting_busy, for a test that only looks at the final answers."""
    return until_answered_counting_busy(calls)[0]


def until_answered_counting_busy(calls: list[Callable[[], Answer]]) -> tuple[list[Answer], int]:
    """A burst as a determined attacker sends it: all at once, and every request answered
    "busy, try again" (503 with Retry-After: a server CPU-starved by the rest of the suite
    may queue a write past its limit) sent again, up to BUSY_ROUNDS times. Returns the final
    answers and how many busy answers came before them."""
    results: list[Answer | BaseException] = in_parallel(calls)
    busy_answers = 0
    for _round in range(BUSY_ROUNDS):
        busy = [i for i, r in enumerate(results) if isinstance(r, Answer) and r.status == 503]
        if not busy:
            break
        busy_answers += len(busy)
        told_when = [r for i in busy if isinstance(r := results[i], Answer)]
        assert all(a.headers.get("retry-after") for a in told_when), describe(told_when)
        for i, again in zip(busy, in_parallel([calls[i] for i in busy]), strict=True):
            results[i] = again
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"requests failed: {failures[:3]}"
    return [r for r in results if isinstance(r, Answer)], busy_answers
