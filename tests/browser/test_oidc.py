"""Signing in to an application through Twofold, in Chromium, against a real relying party.

The relying party is a tiny web app in a thread of this process. It uses Authlib's OAuth 2.0
client (PKCE S256, state, nonce) to send the browser to Twofold and to exchange the code,
then checks the ID token as any application would: its signature against the published
JWKS, and its issuer, audience, nonce and expiry (Authlib's CodeIDToken). The browser goes
through Twofold's own sign-in pages, and comes back over our Content-Security-Policy.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Page, expect

from browser.flows import (
    PhoneApp,
    at_path,
    enter_code,
    enter_password,
    expect_security_page,
    finish_setup,
    shoot,
    sign_out,
)
from browser.operator_cli import Operator
from browser.server import Server, running_server, server_env
from support import STRONG_PASSWORD

# Registers an application the way `twofold client create` will, against the server's data.
_REGISTER = """
import sys
from twofold.services import oidc_clients
from twofold.services.runtime import build_runtime
from twofold.settings import Settings

runtime = build_runtime(Settings())
with runtime.db() as db:
    made = oidc_clients.create_client(
        db, runtime, sys.argv[1], name=sys.argv[2], redirect_uris=[sys.argv[3]]
    )
    print(made.client.client_id)
    print(made.secret)
"""


def register_application(server: Server, org: str, name: str, redirect_uri: str) -> tuple[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", _REGISTER, org, name, redirect_uri],
        capture_output=True,
        text=True,
        env=server_env(server.data_dir),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    client_id, secret = result.stdout.split()
    return client_id, secret


@dataclass
class RelyingParty:
    """The application: its settings, and what it learnt at its callback."""

    issuer: str
    client_id: str
    client_secret: str
    base_url: str
    pending: dict[str, dict[str, str]] = field(default_factory=dict)  # state -> verifier, nonce
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def redirect_uri(self) -> str:
        return self.base_url + "/callback"

    def metadata(self) -> dict[str, Any]:
        document: dict[str, Any] = requests.get(
            self.issuer + "/.well-known/openid-configuration", timeout=10
        ).json()
        return document

    def session(self) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope="openid profile email",
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )

    def start(self) -> str:
        """The authorization URL, with PKCE, state and nonce kept for the callback."""
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = self.session().create_authorization_url(
            self.metadata()["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        self.pending[state] = {"verifier": verifier, "nonce": nonce}
        return str(url)

    def callback(self, url: str) -> dict[str, Any]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        kept = self.pending.pop(query.get("state", ""), None)
        if kept is None:
            return {"error": "unknown state"}
        if "error" in query:
            return {"error": query["error"]}
        metadata = self.metadata()
        token = self.session().fetch_token(
            metadata["token_endpoint"],
            authorization_response=self.base_url + url,
            code_verifier=kept["verifier"],
        )
        keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
        decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256", "ES256"])
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"values": [metadata["issuer"]]}, "aud": {"values": [self.client_id]}},
            {
                "nonce": kept["nonce"],
                "client_id": self.client_id,
                "access_token": token["access_token"],
            },
        )
        claims.validate()  # signature checked above; issuer, audience, nonce, expiry, at_hash
        return {"claims": dict(claims), "alg": decoded.header["alg"]}


def _handler(rp: RelyingParty) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/start":
                self.send_response(302)
                self.send_header("Location", rp.start())
                self.end_headers()
                return
            if self.path.startswith("/callback"):
                try:
                    result = rp.callback(self.path)
                except Exception as exc:
                    result = {"error": f"{type(exc).__name__}: {exc}"}
                rp.results.append(result)
                body = (
                    '<!doctype html><link rel="icon" href="data:,"><title>Example app</title>'
                    "<h1>Example app</h1>"
                    f'<pre id="result">{html.escape(json.dumps(result, sort_keys=True))}</pre>'
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body.encode())
                return
            if self.path == PROTECTED:  # behind a forward-auth proxy, in a real deployment
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(
                    b'<!doctype html><link rel="icon" href="data:,"><title>Protected</title>'
                    b"<h1>Protected</h1>"
                )
                return
            self.send_response(404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


PROTECTED = "/protected?a=1&b=2"


@pytest.fixture(scope="module")
def app_socket() -> Iterator[ThreadingHTTPServer]:
    """The example application's loopback port, bound before Twofold starts so that Twofold
    may send a forward-auth sign-in back to it (TWOFOLD_ALLOWED_REDIRECT_HOSTS)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    yield httpd
    httpd.server_close()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, app_socket: ThreadingHTTPServer
) -> Iterator[Server]:
    allowed = f"http://127.0.0.1:{app_socket.server_address[1]}"
    with running_server(
        tmp_path_factory.mktemp("twofold-data"), {"TWOFOLD_ALLOWED_REDIRECT_HOSTS": allowed}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def relying_party(
    server: Server, operator: Operator, app_socket: ThreadingHTTPServer
) -> Iterator[RelyingParty]:
    """The example application of organization "acme", serving on a loopback port."""
    operator.create_org("acme", "Acme")
    httpd = app_socket
    base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    client_id, secret = register_application(server, "acme", "Example app", base_url + "/callback")
    rp = RelyingParty(
        issuer=server.base_url, client_id=client_id, client_secret=secret, base_url=base_url
    )
    httpd.RequestHandlerClass = _handler(rp)
    thread = threading.Thread(target=httpd.serve_forever, name="relying-party", daemon=True)
    thread.start()
    try:
        yield rp
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def result_shown(page: Page) -> dict[str, Any]:
    expect(page.get_by_role("heading", name="Example app")).to_be_visible()
    shown: dict[str, Any] = json.loads(page.locator("#result").inner_text())
    return shown


def test_password_and_code_sign_in_ends_back_at_the_application_with_mfa(
    page: Page, server: Server, operator: Operator, relying_party: RelyingParty, shots: Path
) -> None:
    operator.create_user("mia", org="acme")
    enter_password(page, "mia")
    expect_security_page(page, two_factor_on=False)
    page.get_by_role("link", name="Set up two-factor authentication").click()
    phone: PhoneApp = finish_setup(page)
    sign_out(page)

    page.goto(relying_party.base_url + "/start")
    expect(page).to_have_url(at_path("/login"))
    expect(page.locator("#signing-in-to")).to_have_text("Sign in to continue to Example app")
    shoot(page, shots / "oidc-sign-in.png")
    page.get_by_label("Login name or email").fill("mia")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(at_path("/login/code"))
    shoot(page, shots / "oidc-code.png")
    enter_code(page, phone.next_code())
    # Back at the application, across origins, after a form: the CSP did not stop it.
    result = result_shown(page)
    assert "claims" in result, result
    claims = result["claims"]
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "urn:twofold:acr:mfa"
    assert claims["iss"] == server.base_url
    assert claims["preferred_username"] == "mia"
    assert result["alg"] == "RS256"
    shoot(page, shots / "oidc-back-at-the-application.png")

    # Signed in already: the application gets its code without a page in between.
    page.goto(relying_party.base_url + "/start")
    assert result_shown(page)["claims"]["sub"] == claims["sub"]


def test_someone_outside_the_organization_sees_why_and_the_application_is_told(
    page: Page, operator: Operator, relying_party: RelyingParty, shots: Path
) -> None:
    operator.create_user("otto")
    page.goto(relying_party.base_url + "/start")
    enter_password_here(page, "otto")
    expect(
        page.get_by_role("heading", name="This application is not available to you")
    ).to_be_visible()
    expect(page.locator("main")).to_contain_text("is not a member of the organization that uses")
    shoot(page, shots / "oidc-not-a-member.png")
    page.get_by_role("link", name="Back to Example app").click()
    assert result_shown(page) == {"error": "access_denied"}


def enter_password_here(page: Page, login: str) -> None:
    """On the sign-in page the application sent the browser to."""
    expect(page).to_have_url(at_path("/login"))
    page.get_by_label("Login name or email").fill(login)
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Continue").click()


def test_a_forward_auth_sign_in_ends_at_the_rd_address_after_the_code_form(
    page: Page, server: Server, operator: Operator, relying_party: RelyingParty
) -> None:
    """/login?rd=URL (an allowed host on another origin): after the password and the code
    forms, the browser is at URL — the CSP's form-action let the redirects through."""
    operator.create_user("fay", org="acme")
    enter_password(page, "fay")
    page.get_by_role("link", name="Set up two-factor authentication").click()
    phone: PhoneApp = finish_setup(page)
    sign_out(page)

    target = relying_party.base_url + PROTECTED
    page.goto(f"{server.base_url}/login?rd={quote(target, safe='')}")
    enter_password_here(page, "fay")
    expect(page).to_have_url(at_path("/login/code"))
    enter_code(page, phone.next_code())
    expect(page).to_have_url(target)
    expect(page.get_by_role("heading", name="Protected")).to_be_visible()
