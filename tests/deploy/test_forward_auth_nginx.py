"""Forward-auth behind a real nginx (`auth_request`), configured with the server block of
docs/forward-auth.md (with `org=acme` added as the docs say): signed out -> the sign-in
page -> password + code -> back at the application, which sees the X-Twofold-* headers;
headers forged by the client never reach it; signing out ends access; a non-member gets a
403, not a loop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.forward_flow import (
    ORG,
    Stage,
    docs_block,
    non_member_is_refused,
    round_trip,
    running,
    stage,
)
from deploy.nginx_config import NGINX, nginx_config
from support import require_or_skip


def server_block(at: Stage) -> str:
    server = (
        docs_block("nginx")
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{at.proxy_port};")
        .replace("/auth/forward;", f"/auth/forward?org={ORG};")
        .replace("/auth/forward?redirect=1;", f"/auth/forward?redirect=1&org={ORG};")
        .replace("http://twofold.internal:8000", at.twofold)
        .replace("id.example.com", at.twofold_host)
        .replace("http://app.internal:3000", f"http://{at.app}")
    )
    return "\n".join(line for line in server.splitlines() if "ssl_" not in line)


@pytest.fixture(scope="module")
def behind_nginx(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Stage]:
    require_or_skip(Path(NGINX).exists(), "nginx (Debian package nginx-light)")
    tmp = tmp_path_factory.mktemp("nginx")
    with stage(tmp, sqlite_template) as at:
        prefix = tmp / "nginx"
        prefix.mkdir()
        config = prefix / "nginx.conf"
        config.write_text(nginx_config(prefix, server_block(at)))
        command = [NGINX, "-p", str(prefix), "-c", str(config), "-g", "daemon off;"]
        with running(command, f"{at.proxy}/", "nginx"):
            yield at


def test_signing_in_through_nginx_reaches_the_app_with_true_headers_only(
    behind_nginx: Stage,
) -> None:
    round_trip(behind_nginx)


def test_a_non_member_gets_a_403_through_nginx(behind_nginx: Stage) -> None:
    non_member_is_refused(behind_nginx)
