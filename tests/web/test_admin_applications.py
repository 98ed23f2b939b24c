"""/admin/applications through the pages: registering an application shows its secret once,
in the answer to the form and never again; wrong input is marked on its field with nothing
stored; revoking and replacing a secret; and an admin of another organization reaches none
of it."""

from __future__ import annotations

import hashlib
import json
import re

import httpx2 as httpx
import pytest
from sqlalchemy import select

from asgi_client import TestClient
from support import (
    Person,
    csrf_token,
    mail_sent_to,
    make_member,
    make_org,
    post_form,
    sign_in,
    snapshot,
    text_of,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import Role
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, OidcClient

APPS = "/admin/applications?org=acme"
NEW = "/admin/applications/new?org=acme"
APP = "https://grafana.example.org/login/generic_oauth"
CLIENT_ID = re.compile(r'<code id="client-id">([A-Za-z0-9]{24})</code>')
SECRET = re.compile(r'<code id="client-secret">([A-Za-z0-9_-]{43})</code>')


def admin(
    runtime: Runtime, login: str, slug: str, *, superadmin: bool = False, role: Role = Role.ADMIN
) -> Person:
    return make_member(
        runtime,
        login,
        slug,
        role=role,
        superadmin=superadmin,
        with_totp=True,
        email=f"{login}@example.org",
    )


def stored(runtime: Runtime) -> list[OidcClient]:
    with runtime.db() as db:
        return list(db.scalars(select(OidcClient).order_by(OidcClient.id)))


def events(runtime: Runtime, event: AuditEventType) -> list[AuditEvent]:
    with runtime.db() as db:
        return list(
            db.scalars(
                select(AuditEvent).where(AuditEvent.event == event.value).order_by(AuditEvent.id)
            )
        )


def register(client: TestClient, **fields: str) -> httpx.Response:
    data = {"name": "Grafana", "redirect_uris": APP, "client_type": "confidential", **fields}
    return post_form(client, NEW, data)


def registered(response: httpx.Response) -> tuple[str, str | None]:
    assert response.status_code == 200, response.text
    client_id = CLIENT_ID.search(response.text)
    assert client_id is not None
    secret = SECRET.search(response.text)
    return client_id.group(1), secret.group(1) if secret else None


@pytest.fixture
def boss(runtime: Runtime, clock: FixedClock) -> Person:
    make_org(runtime, "acme", name="Acme Inc.")
    make_org(runtime, "globex", name="Globex")
    person = admin(runtime, "boss", "acme")
    clock.advance(30)
    return person


@pytest.fixture
def as_boss(client: TestClient, clock: FixedClock, boss: Person) -> TestClient:
    sign_in(client, boss, clock)
    return client


# --- registering ---------------------------------------------------------------------------


def test_the_console_has_an_applications_tab(as_boss: TestClient) -> None:
    page = as_boss.get("/admin/members?org=acme")
    assert f'href="{APPS}"' in page.text
    listing = as_boss.get(APPS)
    assert listing.status_code == 200
    assert 'aria-current="page">Applications</a>' in listing.text
    assert "No applications are registered for Acme Inc. yet." in text_of(listing)


def test_registering_shows_the_client_id_and_secret_once(
    as_boss: TestClient, runtime: Runtime
) -> None:
    response = register(as_boss)
    client_id, secret = registered(response)
    assert secret is not None
    assert "Copy the client secret now: it is shown only this once." in text_of(response)
    [row] = stored(runtime)
    assert row.client_id == client_id
    assert row.secret_digest == hashlib.sha256(secret.encode()).digest()
    assert secret not in json.dumps(snapshot(runtime), default=repr)
    for later in (APPS, NEW, f"/admin/applications/{client_id}/rotate?org=acme"):
        page = as_boss.get(later)
        assert page.status_code == 200
        assert secret not in page.text
    assert client_id in as_boss.get(APPS).text


def test_posting_the_registration_again_registers_nothing_twice(
    as_boss: TestClient, runtime: Runtime
) -> None:
    """Reloading the "registered" page makes the browser post the form again."""
    token = csrf_token(as_boss, NEW)
    data = {"name": "Grafana", "redirect_uris": APP, "client_type": "confidential"}
    first = as_boss.post(NEW, data={**data, "csrf_token": token})
    client_id, _secret = registered(first)
    again = as_boss.post(NEW, data={**data, "csrf_token": token})
    assert again.status_code == 400
    assert "This organization already has an application named 'Grafana'" in text_of(again)
    assert [row.client_id for row in stored(runtime)] == [client_id]


def test_a_public_client_is_shown_without_a_secret(as_boss: TestClient, runtime: Runtime) -> None:
    response = register(as_boss, client_type="public", require_2fa="1")
    _client_id, secret = registered(response)
    assert secret is None
    assert "A public client has no secret" in text_of(response)
    [row] = stored(runtime)
    assert row.is_public
    assert row.require_two_factor
    listing = text_of(as_boss.get(APPS))
    assert "Public" in listing
    assert "Always 2FA" in listing
    assert "Replace the secret of" not in listing


def test_several_redirect_uris_are_given_one_per_line(
    as_boss: TestClient, runtime: Runtime
) -> None:
    registered(
        register(
            as_boss,
            redirect_uris=f"{APP}\r\n\r\n  http://localhost:3000/cb  \r\n",
            post_logout_redirect_uris="https://grafana.example.org/",
        )
    )
    [row] = stored(runtime)
    assert json.loads(row.redirect_uris) == [APP, "http://localhost:3000/cb"]
    assert json.loads(row.post_logout_redirect_uris) == ["https://grafana.example.org/"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"redirect_uris": "http://grafana.example.org/cb"}, "redirect_uris", "not a usable"),
        ({"redirect_uris": "https://*.example.org/cb"}, "redirect_uris", "not a usable"),
        ({"redirect_uris": ""}, "redirect_uris", "Give at least one redirect URI."),
        ({"name": "  "}, "name", "Give the application a name"),
        (
            {"post_logout_redirect_uris": "http://example.org/"},
            "post_logout_redirect_uris",
            "not a usable",
        ),
    ],
)
def test_wrong_input_is_marked_on_its_field_and_nothing_is_stored(
    as_boss: TestClient, runtime: Runtime, fields: dict[str, str], field: str, message: str
) -> None:
    before = snapshot(runtime, skip=("auth_sessions",))
    response = register(as_boss, **fields)
    assert response.status_code == 400
    error = re.search(
        rf'<p class="field-error" id="{field}-error" role="alert">([^<]+)</p>', text_of(response)
    )
    assert error is not None
    assert message in error.group(1)
    control = re.search(rf'<(?:input|textarea) id="{field}"[^>]*>', response.text)
    assert control is not None
    assert "autofocus" in control.group(0)
    assert 'aria-invalid="true"' in control.group(0)
    assert 'value="Grafana"' in response.text or fields.get("name") == "  "
    assert snapshot(runtime, skip=("auth_sessions",)) == before


def test_an_application_may_choose_es256_id_tokens(as_boss: TestClient, runtime: Runtime) -> None:
    form = as_boss.get(NEW).text
    assert re.search(r'<input type="radio" id="id_token_alg_rs256"[^>]* checked', form)
    registered(register(as_boss, id_token_alg="ES256"))
    [row] = stored(runtime)
    assert row.id_token_signed_response_alg == "ES256"
    assert "<dt>ID token signature</dt><dd>ES256</dd>" in as_boss.get(APPS).text


def test_an_algorithm_not_offered_is_refused_on_its_field(
    as_boss: TestClient, runtime: Runtime
) -> None:
    before = snapshot(runtime, skip=("auth_sessions",))
    response = register(as_boss, id_token_alg="HS256")
    assert response.status_code == 400
    assert (
        '<p class="field-error" id="id_token_alg-error" role="alert">'
        "&#39;HS256&#39; is not an ID token signing algorithm Twofold offers: choose RS256 or "
        "ES256.</p>"
    ) in response.text
    assert re.search(r'<input type="radio" id="id_token_alg_rs256"[^>]* autofocus', response.text)
    assert snapshot(runtime, skip=("auth_sessions",)) == before


# --- who may -------------------------------------------------------------------------------


def test_an_admin_of_another_organization_can_neither_see_nor_revoke(
    client: TestClient, runtime: Runtime, clock: FixedClock, boss: Person
) -> None:
    sign_in(client, boss, clock)
    client_id, _secret = registered(register(client))
    outsider = admin(runtime, "outsider", "globex")
    clock.advance(30)
    client.cookies.clear()
    sign_in(client, outsider, clock)
    assert client.get(APPS).status_code == 403
    assert client_id not in client.get("/admin/applications?org=globex").text
    before = snapshot(runtime, skip=("audit_events", "auth_sessions"))
    token = csrf_token(client, "/admin/applications?org=globex")
    for action in ("revoke", "rotate"):
        page = client.get(f"/admin/applications/{client_id}/{action}?org=globex")
        assert page.status_code == 403
        done = client.post(
            f"/admin/applications/{client_id}/{action}?org=globex", data={"csrf_token": token}
        )
        assert done.status_code == 403
        assert "You don't administer that organization." in text_of(done)
    assert snapshot(runtime, skip=("audit_events", "auth_sessions")) == before
    refusals = events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)
    assert {json.loads(e.detail)["action"] for e in refusals} >= {
        "open_organization",
        "revoke_client",
        "rotate_client_secret",
    }


def test_a_superadmin_manages_any_organizations_applications(
    client: TestClient, runtime: Runtime, clock: FixedClock, boss: Person
) -> None:
    root = admin(runtime, "root", "globex", superadmin=True)
    clock.advance(30)
    sign_in(client, root, clock)
    client_id, secret = registered(register(client))
    assert secret is not None
    [row] = stored(runtime)
    assert row.created_by_id == root.id
    assert client_id in client.get(APPS).text


# --- revoking and replacing the secret ------------------------------------------------------


def test_revoking_asks_first_then_revokes_and_tells_the_admins(
    as_boss: TestClient, runtime: Runtime
) -> None:
    client_id, secret = registered(register(as_boss))
    mail_sent_to(runtime, "boss@example.org")  # the registration's message
    confirm = as_boss.get(f"/admin/applications/{client_id}/revoke?org=acme")
    assert "every token it holds stops working at once" in text_of(confirm)
    assert stored(runtime)[0].revoked_at is None
    done = post_form(as_boss, f"/admin/applications/{client_id}/revoke?org=acme", {})
    assert done.status_code == 303
    assert done.headers["location"] == f"{APPS}&notice=client_revoked"
    listing = text_of(as_boss.get(done.headers["location"]))
    assert "The application was revoked" in listing
    assert "Revoked" in listing
    assert stored(runtime)[0].revoked_at is not None
    [message] = mail_sent_to(runtime, "boss@example.org")
    assert "The administrator boss revoked the application 'Grafana'" in message
    assert secret is not None
    assert secret not in message
    audit_page = text_of(as_boss.get("/admin/audit?org=acme"))
    assert "Application registered" in audit_page
    assert "Application revoked" in audit_page


def test_revoking_twice_says_so_and_changes_nothing(as_boss: TestClient, runtime: Runtime) -> None:
    client_id, _secret = registered(register(as_boss))
    action = f"/admin/applications/{client_id}/revoke?org=acme"
    token = csrf_token(as_boss, action)
    assert as_boss.post(action, data={"csrf_token": token}).status_code == 303
    before = snapshot(runtime)
    again = as_boss.post(action, data={"csrf_token": token})
    assert again.status_code == 400
    assert "was already revoked. Nothing was changed." in text_of(again)
    assert snapshot(runtime) == before


def test_replacing_the_secret_shows_the_new_one_once(as_boss: TestClient, runtime: Runtime) -> None:
    client_id, old = registered(register(as_boss))
    response = post_form(as_boss, f"/admin/applications/{client_id}/rotate?org=acme", {})
    same_id, new = registered(response)
    assert same_id == client_id
    assert new is not None
    assert new != old
    assert "The old secret no longer works." in text_of(response)
    assert stored(runtime)[0].secret_digest == hashlib.sha256(new.encode()).digest()
    assert new not in as_boss.get(APPS).text


def test_a_public_client_has_no_secret_to_replace(as_boss: TestClient, runtime: Runtime) -> None:
    client_id, _none = registered(register(as_boss, client_type="public"))
    page = as_boss.get(f"/admin/applications/{client_id}/rotate?org=acme")
    assert "is public: it has no secret to rotate" in text_of(page)
    before = snapshot(runtime)
    token = csrf_token(as_boss, APPS)
    refused = as_boss.post(
        f"/admin/applications/{client_id}/rotate?org=acme", data={"csrf_token": token}
    )
    assert refused.status_code == 400
    assert "is public: it has no secret to rotate" in text_of(refused)
    assert snapshot(runtime) == before


def test_an_unknown_client_id_is_a_404(as_boss: TestClient) -> None:
    response = as_boss.get("/admin/applications/nope/revoke?org=acme")
    assert response.status_code == 404
    assert "There is no application with client ID 'nope'." in text_of(response)
