"""`twofold serve --workers N`: several processes on PostgreSQL (refused on SQLite), one of
which holds the lease for the background work; on SIGTERM a request in flight finishes, the
background workers stop (the lease is released) and the command exits 0.

Two real servers: the shutdown is about signals, and the workers are processes."""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from browser.server import _free_port, server_env
from cli.commands import twofold
from launcher import Launched, launch
from support import TEST_KEYS
from twofold.services.crash_points import PAUSE_AT_ENV, PAUSE_UNTIL_ENV
from twofold.store.models import Lease

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
POLL_SECONDS = 0.05  # polling a server's output or start-up, not waiting for a TOTP step
WORKER_PIDS = re.compile(r"Started server process \[(\d+)\]")


@dataclass
class Running:
    process: Launched
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{text!r} never appeared:\n{self.output()}")
            time.sleep(POLL_SECONDS)

    def get(self, path: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=STOP_TIMEOUT)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()


@contextmanager
def running(tmp_path: Path, args: list[str], env: dict[str, str]) -> Iterator[Running]:
    """`twofold serve ARGS…` on a free port, until it says "Serving on"; killed at the end
    if the test has not stopped it."""
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = launch(["serve", "--port", str(port), *args], env=env, stdout=out)
    server = Running(process, port, log)
    try:
        server.wait_for("Serving on")
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def lease_rows(database_url: str) -> list[tuple[str, str]]:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(select(Lease.name, Lease.holder))]
    finally:
        engine.dispose()


@pytest.mark.usefixtures("cli_environment")
@pytest.mark.parametrize("how", ["option", "environment"])
def test_several_workers_on_sqlite_are_refused_with_a_pointer_to_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    data_dir = tmp_path / "data"
    if how == "option":
        status, output = twofold(data_dir, "serve", "--workers", "2")
    else:
        monkeypatch.setenv("TWOFOLD_WORKERS", "3")
        status, output = twofold(data_dir, "serve")
    assert status == 1
    workers = "2" if how == "option" else "3"
    assert f"{workers} workers need PostgreSQL" in output
    assert "TWOFOLD_DATABASE_URL" in output
    assert "Serving on" not in output
    assert not data_dir.exists()  # refused before anything was made


def test_on_sigterm_a_request_in_flight_finishes_and_the_server_exits_0(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    release = tmp_path / "release"
    env = {
        **server_env(data_dir),
        PAUSE_AT_ENV: "readiness",  # GET /readyz waits until `release` exists
        PAUSE_UNTIL_ENV: str(release),
        "TWOFOLD_SHUTDOWN_GRACE_SECONDS": "60",
    }
    with running(tmp_path, [], env) as server:
        assert lease_rows(f"sqlite:///{data_dir / 'twofold.db'}") != []  # the workers run
        answers: list[tuple[int, str]] = []
        request = threading.Thread(target=lambda: answers.append(server.get("/readyz")))
        request.start()
        server.wait_for("test hook: paused at readiness")

        server.process.terminate()  # SIGTERM, as systemd or docker stop send it
        server.wait_for("Waiting for connections to close")
        with pytest.raises(ConnectionRefusedError):
            server.get("/healthz")  # no new requests once shutting down
        release.touch()

        request.join(timeout=STOP_TIMEOUT)
        assert answers == [(200, '{"status":"ok","database":"ok","migrations":"ok"}')], (
            server.output()
        )
        assert server.process.wait(timeout=STOP_TIMEOUT) == 0, server.output()
    output = server.output()
    assert "Finished server process" in output
    assert "timeout graceful shutdown exceeded" not in output
    assert lease_rows(f"sqlite:///{data_dir / 'twofold.db'}") == []  # released on the way out


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_serve_and_one_holds_the_lease(
    tmp_path: Path, database_url: str
) -> None:
    env = {
        **server_env(tmp_path / "data"),
        "TWOFOLD_DATABASE_URL": database_url,
        "TWOFOLD_SECRET_KEYS": TEST_KEYS.to_text(),
    }
    with running(tmp_path, ["--workers", "2"], env) as server:
        output = server.output()
        workers = {int(pid) for pid in WORKER_PIDS.findall(output)}
        assert len(workers) == 2, output
        assert server.process.pid not in workers
        assert "Processes: 2 workers" in output
        assert output.rindex("Serving on") > output.rindex("Application startup complete")
        assert server.get("/healthz")[0] == 200

        rows = lease_rows(database_url)
        assert len(rows) == 1, rows
        holder_pid = int(rows[0][1].split(":")[-2])
        assert holder_pid in workers

        server.process.terminate()
        assert server.process.wait(timeout=STOP_TIMEOUT) == 0, server.output()
    assert server.output().count("Finished server process") == 2
    assert lease_rows(database_url) == []
