"""An organization with applications, people in and out of it, and a relying party's side of
the protocol driven through the TestClient: what a browser and a client application do."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2 as httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from asgi_client import TestClient
from support import START, Person, make_member, make_org, post_form, settings_for
from twofold.otp.clock import FixedClock
from twofold.services import oidc_clients, signing_keys
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import OidcSigningKey

ISSUER = "http://testserver"
CALLBACK = "https://app.example/callback"
AFTER_LOGOUT = "https://app.example/signed-out"
ORG = "acme"

# RSA keys take a while to generate: made once per worker, copied into each test's database.
_KEY_ROWS: list[OidcSigningKey] = []


def _key_rows(runtime: Runtime) -> list[OidcSigningKey]:
    if not _KEY_ROWS:
        _KEY_ROWS.extend(
            signing_keys.new_key_row(runtime, alg, activates_at=START - timedelta(days=1))
            for alg in signing_keys.ALGORITHMS
        )
    return [
        OidcSigningKey(
            kid=row.kid,
            alg=row.alg,
            public_jwk=row.public_jwk,
            private_kid=row.private_kid,
            private_sealed=row.private_sealed,
            created_at=START - timedelta(days=1),
            activates_at=START - timedelta(days=1),
        )
        for row in _KEY_ROWS
    ]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for(tmp_path / "data", database_url, base_url=ISSUER)


@dataclass
class Rp:
    """A registered application, as its own configuration knows it."""

    client_id: str
    secret: str | None
    redirect_uri: str = CALLBACK
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def authorize_url(self, *, pkce: bool = True, **extra: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email",
            "state": self.state,
            "nonce": self.nonce,
        }
        if pkce:
            params |= {"code_challenge": self.challenge, "code_challenge_method": "S256"}
        params |= extra
        return "/oidc/authorize?" + urlencode(params)


@pytest.fixture
def keys(runtime: Runtime) -> None:
    with runtime.db() as db:
        db.add_all(_key_rows(runtime))
        db.commit()


def _register(runtime: Runtime, **options: Any) -> Rp:
    with runtime.db() as db:
        created = oidc_clients.create_client(
            db,
            runtime,
            options.pop("org", ORG),
            name=options.pop("name", "Grafana"),
            redirect_uris=[CALLBACK],
            post_logout_redirect_uris=[AFTER_LOGOUT],
            **options,
        )
        return Rp(client_id=created.client.client_id, secret=created.secret)


@pytest.fixture
def org(runtime: Runtime, keys: None) -> str:
    make_org(runtime, ORG, name="Acme")
    return ORG


@pytest.fixture
def rp(runtime: Runtime, org: str) -> Rp:
    return _register(runtime)


@pytest.fixture
def public_rp(runtime: Runtime, org: str) -> Rp:
    return _register(runtime, name="Mobile app", public=True)


@pytest.fixture
def register(runtime: Runtime, org: str) -> Any:
    return lambda **options: _register(runtime, **options)


@pytest.fixture
def member(runtime: Runtime, org: str, clock: FixedClock) -> Person:
    """A member of acme with an authenticator app."""
    person = make_member(runtime, "mia", ORG, with_totp=True)
    clock.advance(30)
    return person


@pytest.fixture
def password_member(runtime: Runtime, org: str) -> Person:
    """A member of acme without 2FA (acme's policy: optional)."""
    return make_member(runtime, "pam", ORG)


@pytest.fixture
def outsider(runtime: Runtime, org: str) -> Person:
    """Someone with an account, but only in the default organization."""
    return make_member(runtime, "otto", "default")


def onward_target(response: httpx.Response) -> str:
    """The address the "continuing to the application" page moves on to."""
    assert response.status_code == 200, response.text
    marker = 'id="onward" href="'
    start = response.text.index(marker) + len(marker)
    return html.unescape(response.text[start : response.text.index('"', start)])


def callback_params(url: str, rp: Rp) -> dict[str, str]:
    """The query the application receives at its redirect URI."""
    assert url.startswith(rp.redirect_uri + "?"), url
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def sign_in_for(
    client: TestClient, person: Person, clock: FixedClock | None = None, *, recovery: bool = False
) -> httpx.Response:
    """At the sign-in page an application sent the person to: password, then the code;
    the response that comes after (the way back to /oidc/continue)."""
    response = post_form(
        client, "/login?oidc=1", {"login": person.login, "password": person.password}, "/login"
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/oidc/continue"
    response = client.get("/oidc/continue")
    if response.status_code == 303 and response.headers["location"] == "/login/code":
        if recovery:
            assert person.recovery_codes
            code = person.recovery_codes.pop()
            response = post_form(client, "/login/recovery", {"code": code})
        else:
            assert clock is not None
            # ?other=1: the code form itself, also for a person whom a security key would
            # be offered first
            code = {"code": person.totp(clock)}
            response = post_form(client, "/login/code?other=1", code, "/login/code")
        assert response.headers["location"] == "/oidc/continue"
        response = client.get("/oidc/continue")
    return response


def sign_in_through(
    client: TestClient,
    rp: Rp,
    person: Person,
    clock: FixedClock | None = None,
    **extra: str,
) -> dict[str, str]:
    """The whole front channel: the application's request, the sign-in, back at the
    application with a code; the callback's query."""
    response = client.get(rp.authorize_url(**extra))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/login?oidc=1"
    return callback_params(onward_target(sign_in_for(client, person, clock)), rp)


def exchange(
    client: TestClient, rp: Rp, code: str, *, how: str = "basic", **overrides: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.redirect_uri,
        "code_verifier": rp.verifier,
    }
    auth = None
    if how == "basic":
        assert rp.secret is not None
        auth = (rp.client_id, rp.secret)
    elif how == "post":
        data |= {"client_id": rp.client_id, "client_secret": rp.secret or ""}
    else:
        data["client_id"] = rp.client_id
    data |= overrides
    data = {k: v for k, v in data.items() if v is not None}
    return client.post("/oidc/token", data=data, auth=auth)


def refresh(client: TestClient, rp: Rp, token: str) -> httpx.Response:
    assert rp.secret is not None
    return client.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(rp.client_id, rp.secret),
    )


def id_claims(client: TestClient, id_token: str) -> dict[str, Any]:
    """The ID token's claims, its signature checked against the published JWKS."""
    key_set = KeySet.import_key_set(client.get("/oidc/jwks").json())
    return dict(jwt.decode(id_token, key_set, algorithms=["RS256", "ES256"]).claims)
