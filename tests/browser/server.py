"""A real `twofold serve` for the browser tests: started, waited for, and always stopped."""

from __future__ import annotations

import http.client
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from launcher import Launched, launch

TWOFOLD = Path(sys.executable).parent / "twofold"
CHEAP_ARGON2 = {
    "TWOFOLD_ARGON2_TIME_COST": "1",
    "TWOFOLD_ARGON2_MEMORY_KIB": "8",
    "TWOFOLD_ARGON2_PARALLELISM": "1",
}
# With no SMTP configured the server writes each message into <data dir>/outbox/; its sender
# looks at the queue this often (seconds), so a test's mail arrives in a fraction of a second.
MAIL_POLL_SECONDS = "0.2"
STARTUP_TIMEOUT = 30.0  # seconds until "Serving on" and a healthy /healthz
STOP_TIMEOUT = 10.0

SETUP_LINK = re.compile(r"one-time link[^:]*:\s*(\S+/setup/\S+)")
SERVING_ON = re.compile(r"Serving on (http://\S+)")


@dataclass(frozen=True)
class Server:
    """A running `twofold serve` on an empty data directory."""

    base_url: str
    setup_url: str
    data_dir: Path
    output: list[str]

    @property
    def outbox(self) -> Path:
        """Where the development mailer writes every message as an .eml file."""
        return self.data_dir / "outbox"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path) -> dict[str, str]:
    """The caller's environment without any TWOFOLD_* setting, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOFOLD_")}
    return {
        **env,
        **CHEAP_ARGON2,
        "TWOFOLD_DATA_DIR": str(data_dir),
        "TWOFOLD_MAIL_POLL_SECONDS": MAIL_POLL_SECONDS,
        # Where an organization allows SMS, numbers from these countries may be enrolled;
        # texts go to the development outbox (<data dir>/outbox/sms/, tests/browser/texts.py).
        "TWOFOLD_SMS_ALLOWED_COUNTRIES": "GB,US",
        # A module's tests click through pages faster than people do, all from 127.0.0.1:
        # the per-address request limit (tests/web/test_request_rate_limits.py) is off.
        "TWOFOLD_RATE_LIMIT_PER_IP": "off",
        "PYTHONUNBUFFERED": "1",
    }


def _healthy(base_url: str) -> bool:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "localhost", parts.port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _read_startup(lines: queue.Queue[str | None], deadline: float) -> tuple[str, str | None]:
    """Read the server's output until "Serving on": (base URL, setup link if printed)."""
    setup_url = None
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            raise RuntimeError("twofold serve exited before it was serving")
        if match := SETUP_LINK.search(line):
            setup_url = match.group(1)
        if match := SERVING_ON.search(line):
            return match.group(1), setup_url
    raise TimeoutError(f"twofold serve did not say 'Serving on' within {STARTUP_TIMEOUT:.0f} s")


def _wait_until_healthy(process: Launched, base_url: str, deadline: float) -> None:
    while not _healthy(base_url):
        if process.poll() is not None:
            raise RuntimeError(f"twofold serve exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError("/healthz did not answer 200")
        time.sleep(0.05)  # polling the server's start-up, not waiting for a TOTP step


@contextmanager
def running_server(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """Start `twofold serve` (with `extra_env` settings), wait until /healthz answers 200, and
    always stop it afterwards."""
    port = _free_port()
    process = launch(
        ["serve", "--data-dir", str(data_dir), "--port", str(port)],
        env={**server_env(data_dir), **(extra_env or {})},
    )
    assert process.stdout is not None
    stdout = process.stdout
    output: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:  # also keeps the pipe from filling up while the tests run
        for line in stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=drain, name="twofold-serve-output", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        try:
            base_url, setup_url = _read_startup(lines, deadline)
            _wait_until_healthy(process, base_url, deadline)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"{exc}. Server output:\n{''.join(output)}")
        if setup_url is None:
            pytest.fail(f"no setup link on an empty database. Server output:\n{''.join(output)}")
        yield Server(base_url=base_url, setup_url=setup_url, data_dir=data_dir, output=output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        reader.join(timeout=STOP_TIMEOUT)
        stdout.close()
