"""The OpenID Provider's single-use promises, attacked the way a thief holding a copy would:
the same authorization code, or the same refresh token, sent many times at once through two
server processes sharing one database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from functools import partial
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import select

from attack.servers import Answer, Browser, describe, serve_many, until_answered
from support import Person, make_member, make_org
from twofold.core.audit_events import AuditEventType
from twofold.services import oidc_clients
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import AuditEvent, OidcGrant

pytestmark = pytest.mark.attack

CALLBACK = "https://app.example/callback"
BURST = 20


class Application:
    """A confidential client's side of the protocol (client_secret_post, PKCE S256)."""

    def __init__(self, runtime: Runtime) -> None:
        with runtime.db() as db:
            created = oidc_clients.create_client(
                db, runtime, "acme", name="Grafana", redirect_uris=[CALLBACK]
            )
            self.client_id = created.client.client_id
            assert created.secret is not None
            self.secret = created.secret
        self.verifier = secrets.token_urlsafe(48)

    def authorize_path(self, scope: str) -> str:
        challenge = hashlib.sha256(self.verifier.encode()).digest()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": CALLBACK,
            "scope": scope,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        return "/oidc/authorize?" + urlencode(params)

    def token_request(self, base_url: str, **form: str) -> Answer:
        """No cookies: the application's back channel, not the person's browser."""
        form |= {"client_id": self.client_id, "client_secret": self.secret}
        return Browser().request(base_url, "POST", "/oidc/token", form)

    def exchange(self, base_url: str, code: str) -> Answer:
        return self.token_request(
            base_url,
            grant_type="authorization_code",
            code=code,
            redirect_uri=CALLBACK,
            code_verifier=self.verifier,
        )

    def refresh(self, base_url: str, refresh_token: str) -> Answer:
        return self.token_request(base_url, grant_type="refresh_token", refresh_token=refresh_token)


@pytest.fixture
def member(live_runtime: Runtime) -> Person:
    """A member of acme who signs in with a password (acme's policy: 2FA optional)."""
    make_org(live_runtime, "acme", name="Acme")
    return make_member(live_runtime, "pam", "acme")


@pytest.fixture
def application(live_runtime: Runtime, member: Person) -> Application:
    return Application(live_runtime)


def code_for(base_url: str, application: Application, person: Person, scope: str) -> str:
    """Sign in on the server's own pages, then ask for a code: already signed in, a GET of
    /oidc/authorize goes straight back to the application with it."""
    browser = Browser()
    token = browser.csrf(base_url, "/login")
    form = {"login": person.login, "password": person.password, "csrf_token": token}
    signed_in = browser.request(base_url, "POST", "/login", form)
    assert signed_in.status == 303, signed_in.body
    answer = browser.request(base_url, "GET", application.authorize_path(scope))
    assert answer.status == 303, answer.body
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    return parse_qs(urlsplit(location).query)["code"][0]


def userinfo_status(base_url: str, access_token: str) -> int:
    form = {"access_token": access_token}
    return Browser().request(base_url, "POST", "/oidc/userinfo", form).status


def events(runtime: Runtime, person: Person) -> list[tuple[str, str | None]]:
    """The person's OIDC audit events, each with the reason it gives (if any)."""
    with runtime.db() as db:
        rows = db.scalars(
            select(AuditEvent)
            .where(AuditEvent.user_id == person.id, AuditEvent.event.like("oidc.%"))
            .order_by(AuditEvent.id)
        )
        return [(row.event, json.loads(row.detail).get("reason")) for row in rows]


def the_grant(runtime: Runtime) -> OidcGrant:
    with runtime.db() as db:
        grants = list(db.scalars(select(OidcGrant)))
    assert len(grants) == 1
    return grants[0]


def refused_invalid_grant(results: list[Answer]) -> list[Answer]:
    refused = [a for a in results if a.status != 200]
    assert all(a.status == 400 for a in refused), describe(results)
    assert {json.loads(a.body)["error"] for a in refused} == {"invalid_grant"}
    return refused


def test_a_code_sent_twenty_times_at_once_through_two_servers_gives_tokens_once_and_ends_the_grant(
    live_runtime: Runtime,
    settings: Settings,
    database_url: str,
    member: Person,
    application: Application,
) -> None:
    with serve_many(2, settings.data_dir, database_url) as servers:
        urls = [s.base_url for s in servers]
        code = code_for(urls[0], application, member, "openid profile")
        results = until_answered(
            [partial(application.exchange, urls[i % 2], code) for i in range(BURST)]
        )
        assert all(a.status < 500 for a in results), describe(results)
        issued = [a for a in results if a.status == 200]
        assert len(issued) == 1, describe(results)
        assert len(refused_invalid_grant(results)) == BURST - 1
        access_token = json.loads(issued[0].body)["access_token"]
        # The replay revoked what was issued: the thief's copy and the client's are worth
        # the same, so neither works any more.
        assert [userinfo_status(url, access_token) for url in urls] == [401, 401]

    grant = the_grant(live_runtime)
    assert grant.revoked_at is not None
    assert grant.revoked_reason == "code_replayed"
    seen = events(live_runtime, member)
    assert seen.count((AuditEventType.OIDC_TOKEN_ISSUED.value, None)) == 1
    assert seen.count((AuditEventType.OIDC_TOKEN_REFUSED.value, "code_replayed")) == BURST - 1
    assert seen.count((AuditEventType.OIDC_GRANTS_REVOKED.value, "code_replayed")) == 1
    assert len(seen) == BURST + 1


def test_a_refresh_token_sent_twenty_times_at_once_rotates_at_most_once_and_ends_the_grant(
    live_runtime: Runtime,
    settings: Settings,
    database_url: str,
    member: Person,
    application: Application,
) -> None:
    with serve_many(2, settings.data_dir, database_url) as servers:
        urls = [s.base_url for s in servers]
        code = code_for(urls[0], application, member, "openid profile offline_access")
        first = application.exchange(urls[1], code)
        assert first.status == 200, first.body
        tokens = json.loads(first.body)
        assert userinfo_status(urls[0], tokens["access_token"]) == 200
        results = until_answered(
            [
                partial(application.refresh, urls[i % 2], tokens["refresh_token"])
                for i in range(BURST)
            ]
        )
        assert all(a.status < 500 for a in results), describe(results)
        rotated = [json.loads(a.body) for a in results if a.status == 200]
        assert len(rotated) <= 1, describe(results)
        refused = len(refused_invalid_grant(results))
        assert refused == BURST - len(rotated)
        # After the burst nothing of the grant works: not the tokens it started with, not
        # the ones a rotation may have handed out.
        access_tokens = [tokens["access_token"], *(r["access_token"] for r in rotated)]
        refresh_tokens = [tokens["refresh_token"], *(r["refresh_token"] for r in rotated)]
        for url in urls:
            assert [userinfo_status(url, t) for t in access_tokens] == [401] * len(access_tokens)
            for refresh_token in refresh_tokens:
                again = application.refresh(url, refresh_token)
                assert again.status == 400, again.body
                assert json.loads(again.body)["error"] == "invalid_grant"

    grant = the_grant(live_runtime)
    assert grant.revoked_at is not None
    assert grant.revoked_reason == "refresh_token_reused"
    seen = events(live_runtime, member)
    assert seen.count((AuditEventType.OIDC_TOKEN_ISSUED.value, None)) == 1
    assert seen.count((AuditEventType.OIDC_TOKEN_REFRESHED.value, None)) == len(rotated)
    assert seen.count((AuditEventType.OIDC_GRANTS_REVOKED.value, "refresh_token_reused")) == 1
    # Every refusal recorded, each reuse as a reuse (the burst's, then one per server after
    # it); a rotated token, unused but of a revoked grant, as that.
    refused_event = AuditEventType.OIDC_TOKEN_REFUSED.value
    assert seen.count((refused_event, "refresh_token_reused")) == refused + len(servers)
    assert seen.count((refused_event, "grant_revoked")) == len(servers) * len(rotated)
    assert len(seen) == 1 + len(rotated) + 1 + refused + len(servers) * len(refresh_tokens)
