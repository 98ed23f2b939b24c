"""A real `twofold serve` decides the client's address by TWOFOLD_TRUSTED_PROXIES alone:
uvicorn's own proxy headers are off (its default trusts 127.0.0.1 by a rule of its own), and
the deprecated TWOFOLD_TRUST_PROXY_HEADERS still works and says what to set instead."""

from __future__ import annotations

import http.client
import shutil
import time
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from attack.servers import Served, serve

FORWARDED = "198.51.100.7"
LOG_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05  # polling the server's output


def get_forwarded(served: Served, path: str) -> None:
    parts = urlsplit(served.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", path, headers={"X-Forwarded-For": FORWARDED})
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def access_line(served: Served, path: str) -> str:
    """uvicorn's access-log line for `path`: it prints the scope's client, as the app saw it."""
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while not (lines := [line for line in served.output if f"GET {path} " in line]):
        if time.monotonic() > deadline:
            pytest.fail(f"no access-log line for {path}:\n{''.join(served.output)}")
        time.sleep(POLL_SECONDS)
    return lines[-1]


def run(
    tmp_path: Path, sqlite_template: Path, env: dict[str, str]
) -> AbstractContextManager[Served]:
    database = tmp_path / "twofold.db"
    shutil.copy(sqlite_template, database)
    return serve(tmp_path / "data", f"sqlite:///{database}", env)


def test_uvicorn_no_longer_trusts_localhost_on_its_own(
    tmp_path: Path, sqlite_template: Path
) -> None:
    with run(tmp_path, sqlite_template, {"TWOFOLD_TRUSTED_PROXIES": "10.0.0.0/8"}) as served:
        get_forwarded(served, "/healthz?untrusted")
        assert FORWARDED not in access_line(served, "/healthz?untrusted")
        assert "127.0.0.1:" in access_line(served, "/healthz?untrusted")
        assert "deprecated" not in "".join(served.output)


def test_the_deprecated_switch_trusts_localhost_and_says_what_to_set(
    tmp_path: Path, sqlite_template: Path
) -> None:
    with run(tmp_path, sqlite_template, {"TWOFOLD_TRUST_PROXY_HEADERS": "true"}) as served:
        get_forwarded(served, "/healthz?trusted")
        assert f"{FORWARDED}:0 " in access_line(served, "/healthz?trusted")
        said = (
            "TWOFOLD_TRUST_PROXY_HEADERS is deprecated; "
            "set TWOFOLD_TRUSTED_PROXIES=127.0.0.1/32,::1/128 instead"
        )
        output = "".join(served.output)
        assert f"Warning: {said}" in output  # the command's start-up lines
        assert output.count(said) == 2  # and once in the log
