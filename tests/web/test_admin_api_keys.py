"""/admin/api-keys through the pages: creating a key shows it once, in the answer to the form
and never again; revoking asks first, then the key answers 401 at the verify endpoint; the
admins are told by email; wrong input is marked on its field with nothing stored; and
nobody but the organization's admins reaches any of it."""

from __future__ import annotations

import json
import re

import httpx2 as httpx
import pytest
from sqlalchemy import select

from asgi_client import TestClient
from support import (
    CapturingMailer,
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
from twofold.crypto.tokens import token_digest
from twofold.otp.clock import FixedClock
from twofold.services import api_keys, mail
from twofold.services.runtime import Runtime
from twofold.store.models import ApiKey, AuditEvent

KEYS = "/admin/api-keys?org=acme"
NEW = "/admin/api-keys/new?org=acme"
SECRET = re.compile(r'<code id="api-key">(tfk_[A-Za-z0-9_-]{43})</code>')
STABLE = ("auth_sessions",)


def admin(runtime: Runtime, login: str, slug: str, *, superadmin: bool = False) -> Person:
    return make_member(
        runtime,
        login,
        slug,
        role=Role.ADMIN,
        superadmin=superadmin,
        with_totp=True,
        email=f"{login}@example.org",
    )


def stored(runtime: Runtime) -> list[ApiKey]:
    with runtime.db() as db:
        return list(db.scalars(select(ApiKey).order_by(ApiKey.id)))


def refused_actions(runtime: Runtime) -> set[str]:
    with runtime.db() as db:
        rows = db.scalars(
            select(AuditEvent).where(AuditEvent.event == AuditEventType.ADMIN_ACTION_REFUSED.value)
        )
        return {json.loads(row.detail)["action"] for row in rows}


def create(client: TestClient, name: str = "VPN gateway", per_minute: str = "60") -> httpx.Response:
    return post_form(client, NEW, {"name": name, "requests_per_minute": per_minute})


def created(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    secret = SECRET.search(response.text)
    assert secret is not None
    return secret.group(1)


def verify(client: TestClient, key: str) -> httpx.Response:
    return client.post(
        "/api/v1/verify",
        json={"user": "nobody", "code": "123456"},
        headers={"Authorization": f"Bearer {key}"},
    )


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


# --- listing and creating -------------------------------------------------------------------


def test_the_console_has_an_api_keys_tab_next_to_applications(as_boss: TestClient) -> None:
    page = as_boss.get("/admin/members?org=acme").text
    assert re.search(r'>Applications</a>\s*<a href="/admin/api-keys\?org=acme"', page)
    listing = as_boss.get(KEYS)
    assert listing.status_code == 200
    assert 'aria-current="page">API keys</a>' in listing.text
    assert "<title>API keys · admin" in listing.text
    assert "Acme Inc. has no API keys yet." in text_of(listing)


def test_creating_shows_the_key_once_and_it_works_at_the_verify_endpoint(
    as_boss: TestClient, runtime: Runtime
) -> None:
    response = create(as_boss, per_minute="120")
    secret = created(response)
    assert "Copy this key now: it is shown only once." in text_of(response)
    assert f'data-copy="{secret}"' in response.text
    [row] = stored(runtime)
    assert row.name == "VPN gateway"
    assert row.requests_per_minute == 120
    assert row.key_digest == token_digest(secret)
    assert secret not in json.dumps(snapshot(runtime), default=repr)
    for later in (KEYS, NEW, f"/admin/api-keys/{row.id}/revoke?org=acme", "/admin/audit?org=acme"):
        page = as_boss.get(later)
        assert page.status_code == 200
        assert secret not in page.text
    assert verify(as_boss, secret).json() == {"ok": False}  # the key is accepted
    listing = text_of(as_boss.get(KEYS))
    assert "VPN gateway" in listing
    assert "Active" in listing
    assert "<dt>Requests per minute</dt><dd>120</dd>" in listing
    assert "<dt>Last used</dt><dd>Never</dd>" not in listing  # it was just used


def test_the_admins_are_told_of_a_new_key_without_it(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    admin(runtime, "other", "acme")
    mail_sent_to(runtime, "boss@example.org")  # whatever came before
    secret = created(create(as_boss))
    mailer = CapturingMailer()
    mail.deliver_pending(runtime, mailer)
    assert sorted(m["To"] for m in mailer.messages) == ["boss@example.org", "other@example.org"]
    for message in mailer.messages:
        assert message["Subject"] == "Twofold: API key 'VPN gateway' created for Acme Inc."
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()  # type: ignore[attr-defined]
        link = re.search(r"https?://\S+(/admin/api-keys\?org=acme)", text)
        assert link is not None
        assert "VPN gateway" in text_of(as_boss.get(link.group(1)))  # the link opens the tab
        assert secret not in message.as_string()


def test_posting_the_form_again_makes_no_second_key(as_boss: TestClient, runtime: Runtime) -> None:
    """Reloading the "created" page makes the browser post the form again."""
    token = csrf_token(as_boss, NEW)
    data = {"name": "VPN gateway", "requests_per_minute": "60", "csrf_token": token}
    secret = created(as_boss.post(NEW, data=data))
    again = as_boss.post(NEW, data=data)
    assert again.status_code == 400
    assert "already has an active API key named 'VPN gateway'" in text_of(again)
    assert secret not in again.text
    assert len(stored(runtime)) == 1


@pytest.mark.parametrize(
    ("name", "per_minute", "field", "message"),
    [
        ("  ", "60", "name", "Give the key a name (at most 200 characters)."),
        ("x" * 201, "60", "name", "Give the key a name (at most 200 characters)."),
        ("tab\there", "60", "name", "Give the key a name"),
        ("VPN", "0", "requests_per_minute", "a whole number from 1 to 100000"),
        ("VPN", "100001", "requests_per_minute", "a whole number from 1 to 100000"),
        ("VPN", "ten", "requests_per_minute", "a whole number from 1 to 100000"),
        ("VPN", "-5", "requests_per_minute", "a whole number from 1 to 100000"),
        ("VPN", "9" * 5000, "requests_per_minute", "a whole number from 1 to 100000"),
    ],
)
def test_wrong_input_is_marked_on_its_field_and_nothing_is_stored(
    as_boss: TestClient, runtime: Runtime, name: str, per_minute: str, field: str, message: str
) -> None:
    before = snapshot(runtime, skip=STABLE)
    response = create(as_boss, name, per_minute)
    assert response.status_code == 400
    error = re.search(
        rf'<p class="field-error" id="{field}-error" role="alert">([^<]+)</p>', text_of(response)
    )
    assert error is not None
    assert message in error.group(1)
    control = re.search(rf'<input id="{field}"[^>]*>', response.text)
    assert control is not None
    assert "autofocus" in control.group(0)
    assert 'aria-invalid="true"' in control.group(0)
    assert snapshot(runtime, skip=STABLE) == before


# --- revoking -------------------------------------------------------------------------------


def test_revoking_asks_first_then_the_key_answers_401_and_the_admins_are_told(
    as_boss: TestClient, runtime: Runtime
) -> None:
    secret = created(create(as_boss))
    mail_sent_to(runtime, "boss@example.org")  # the creation's message
    [row] = stored(runtime)
    confirm = as_boss.get(f"/admin/api-keys/{row.id}/revoke?org=acme")
    assert "stops working at once" in text_of(confirm)
    assert stored(runtime)[0].revoked_at is None
    assert verify(as_boss, secret).status_code == 200
    done = post_form(as_boss, f"/admin/api-keys/{row.id}/revoke?org=acme", {})
    assert done.status_code == 303
    assert done.headers["location"] == f"{KEYS}&notice=api_key_revoked"
    listing = text_of(as_boss.get(done.headers["location"]))
    assert "The API key was revoked: it stopped working at once." in listing
    assert "Revoked" in listing
    assert "Revoke VPN gateway…" not in listing
    assert stored(runtime)[0].revoked_at is not None
    refused = verify(as_boss, secret)
    assert refused.status_code == 401
    [message] = mail_sent_to(runtime, "boss@example.org")
    assert "The administrator boss revoked the API key 'VPN gateway'" in message
    assert secret not in message
    audit_page = text_of(as_boss.get("/admin/audit?org=acme"))
    assert "API key created" in audit_page
    assert "API key revoked" in audit_page


def test_revoking_twice_says_so_and_changes_nothing(as_boss: TestClient, runtime: Runtime) -> None:
    created(create(as_boss))
    [row] = stored(runtime)
    action = f"/admin/api-keys/{row.id}/revoke?org=acme"
    token = csrf_token(as_boss, action)
    assert as_boss.post(action, data={"csrf_token": token}).status_code == 303
    assert "is already revoked" in text_of(as_boss.get(action))
    before = snapshot(runtime)
    again = as_boss.post(action, data={"csrf_token": token})
    assert again.status_code == 400
    assert "The API key &#39;VPN gateway&#39; (ID" in again.text
    assert "is already revoked." in text_of(again)
    assert snapshot(runtime) == before


def test_revoking_without_the_form_token_changes_nothing(
    as_boss: TestClient, runtime: Runtime
) -> None:
    created(create(as_boss))
    [row] = stored(runtime)
    response = as_boss.post(f"/admin/api-keys/{row.id}/revoke?org=acme", data={})
    assert response.status_code in (400, 403)
    assert stored(runtime)[0].revoked_at is None


@pytest.mark.parametrize("key_id", ["999999", "0", "-1", "99999999999999999999"])
def test_an_unknown_key_id_is_a_404(as_boss: TestClient, runtime: Runtime, key_id: str) -> None:
    before = snapshot(runtime, skip=STABLE)
    response = as_boss.get(f"/admin/api-keys/{key_id}/revoke?org=acme")
    assert response.status_code == 404
    assert f"There is no API key with ID {key_id}." in text_of(response)
    token = csrf_token(as_boss, KEYS)
    done = as_boss.post(f"/admin/api-keys/{key_id}/revoke?org=acme", data={"csrf_token": token})
    assert done.status_code == 404
    assert snapshot(runtime, skip=STABLE) == before


def test_a_key_id_that_is_no_number_is_refused(as_boss: TestClient) -> None:
    response = as_boss.get("/admin/api-keys/abc/revoke?org=acme")
    assert response.status_code in (400, 404)


# --- who may --------------------------------------------------------------------------------


def test_an_admin_of_another_organization_can_neither_see_nor_revoke(
    client: TestClient, runtime: Runtime, clock: FixedClock, boss: Person
) -> None:
    sign_in(client, boss, clock)
    created(create(client))
    [row] = stored(runtime)
    outsider = admin(runtime, "outsider", "globex")
    clock.advance(30)
    client.cookies.clear()
    sign_in(client, outsider, clock)
    assert client.get(KEYS).status_code == 403
    assert "VPN gateway" not in client.get("/admin/api-keys?org=globex").text
    before = snapshot(runtime, skip=("audit_events", *STABLE))
    token = csrf_token(client, "/admin/api-keys?org=globex")
    page = client.get(f"/admin/api-keys/{row.id}/revoke?org=globex")
    assert page.status_code == 403
    done = client.post(f"/admin/api-keys/{row.id}/revoke?org=globex", data={"csrf_token": token})
    assert done.status_code == 403
    assert "You don't administer that organization." in text_of(done)
    sneaked = client.post(NEW, data={"name": "Mine", "csrf_token": token})
    assert sneaked.status_code == 403
    assert snapshot(runtime, skip=("audit_events", *STABLE)) == before
    assert refused_actions(runtime) >= {"open_organization", "revoke_api_key"}


def test_a_key_of_another_organization_is_not_found_through_this_one(
    client: TestClient, runtime: Runtime, clock: FixedClock, boss: Person
) -> None:
    """An admin of both organizations: a globex key is not revoked through acme's page."""
    with runtime.db() as db:
        other = api_keys.create_key(db, runtime, "globex", name="Globex app").key.id
    root = admin(runtime, "root", "globex", superadmin=True)
    clock.advance(30)
    sign_in(client, root, clock)
    before = snapshot(runtime, skip=STABLE)
    assert client.get(f"/admin/api-keys/{other}/revoke?org=acme").status_code == 404
    token = csrf_token(client, KEYS)
    done = client.post(f"/admin/api-keys/{other}/revoke?org=acme", data={"csrf_token": token})
    assert done.status_code == 404
    assert snapshot(runtime, skip=STABLE) == before


def test_a_plain_member_is_refused(client: TestClient, runtime: Runtime, clock: FixedClock) -> None:
    make_org(runtime, "acme", name="Acme Inc.")
    member = make_member(runtime, "mona", "acme", with_totp=True)
    clock.advance(30)
    sign_in(client, member, clock)
    before = snapshot(runtime, skip=("audit_events", *STABLE))
    assert client.get(KEYS).status_code == 403
    assert client.get(NEW).status_code == 403
    token = csrf_token(client, "/account/security")
    refused = client.post(NEW, data={"name": "Mine", "csrf_token": token})
    assert refused.status_code == 403
    assert snapshot(runtime, skip=("audit_events", *STABLE)) == before


def test_a_superadmin_manages_any_organizations_keys(
    client: TestClient, runtime: Runtime, clock: FixedClock, boss: Person
) -> None:
    root = admin(runtime, "root", "globex", superadmin=True)
    clock.advance(30)
    sign_in(client, root, clock)
    created(create(client))
    [row] = stored(runtime)
    assert row.created_by_id == root.id
    assert "VPN gateway" in client.get(KEYS).text
