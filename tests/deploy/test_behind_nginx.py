"""A production `twofold serve` behind a real nginx, configured as docs/deploy.md shows: the
original Host passes through and is answered; a forged Host is refused with 400; and a proxy
that forgets `proxy_set_header Host $host` is refused too, which is why the docs insist."""

from __future__ import annotations

import http.client
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from attack.servers import serve
from browser.server import _free_port
from deploy.nginx_config import NGINX, nginx_config
from support import require_or_skip

PUBLIC_HOST = "id.example.test"
SERVER = """
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            {host_line}
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}"""


@contextmanager
def nginx(prefix: Path, upstream: str, *, pass_host: bool) -> Iterator[int]:
    """nginx in the foreground with our own config and prefix, stopped by its PID."""
    require_or_skip(Path(NGINX).exists(), "nginx (Debian package nginx-light)")
    prefix.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config = prefix / "nginx.conf"
    server = SERVER.format(
        port=port,
        upstream=upstream,
        host_line="proxy_set_header Host $host;" if pass_host else "",
    )
    config.write_text(nginx_config(prefix, server))
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while status(port, "/healthz", "localhost") == 0:
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"nginx did not start: {error}")
            time.sleep(0.05)  # polling nginx's start-up
        yield port
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def status(port: int, path: str, host: str) -> int:
    """The status nginx answers for `path` with `Host: host` (0 while nothing listens)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


@pytest.fixture
def production(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A production server on a copy of the migrated SQLite file; yields its upstream URL."""
    database = tmp_path / "twofold.db"
    shutil.copy(sqlite_template, database)
    with serve(
        tmp_path / "data",
        f"sqlite:///{database}",
        {
            "TWOFOLD_ENV": "production",
            "TWOFOLD_BASE_URL": f"https://{PUBLIC_HOST}",
            "TWOFOLD_SMTP_HOST": "127.0.0.1",  # never reached: nothing is sent here
            "TWOFOLD_TRUSTED_PROXIES": "127.0.0.1/32",
        },
    ) as server:
        yield server.base_url


def test_nginx_passing_the_original_host_is_answered_and_a_forged_host_is_refused(
    tmp_path: Path, production: str
) -> None:
    with nginx(tmp_path / "nginx", production, pass_host=True) as port:
        assert status(port, "/login", PUBLIC_HOST) == 200
        assert status(port, "/login", "attacker.example") == 400
        assert status(port, "/readyz", "attacker.example") == 200  # health checks: any Host


def test_nginx_without_proxy_set_header_host_is_refused(tmp_path: Path, production: str) -> None:
    with nginx(tmp_path / "nginx", production, pass_host=False) as port:
        # nginx then sends its upstream address as Host, which is not the public name.
        assert status(port, "/login", PUBLIC_HOST) == 400
        assert status(port, "/healthz", PUBLIC_HOST) == 200
