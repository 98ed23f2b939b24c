"""The admin console's policy page and the allowed second factors: SMS turned on and off
through the preview, the SMS-only count and grace when it is turned off, and the refusals
(no countries configured, the outbox in production, not an admin)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx2 as httpx
import pytest
from sqlalchemy import select

from asgi_client import TestClient
from support import (
    SMS_COUNTRIES,
    Person,
    allow_sms,
    csrf_token,
    enroll_sms,
    make_member,
    make_person,
    sign_in,
    snapshot,
    text_of,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import Role
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, Organization

POLICY = "/admin/policy?org=default"
KEEP_OPTIONAL = {"two_factor": "optional", "grace_days": "7"}


def words(response: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text_of(response)))


def org(runtime: Runtime) -> Organization:
    with runtime.db() as db:
        organization = db.scalar(select(Organization).where(Organization.slug == "default"))
        assert organization is not None
        db.expunge(organization)
        return organization


def allow_countries(runtime: Runtime, countries: str = SMS_COUNTRIES, **more: str) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"sms_allowed_countries": countries, **more}
    )


def post_methods(
    client: TestClient, methods: list[str] | None, *, confirm: bool, **fields: str
) -> httpx.Response:
    token = csrf_token(client, POLICY)
    data: dict[str, str | list[str]] = {**KEEP_OPTIONAL, **fields, "csrf_token": token}
    if methods is not None:
        data["methods"] = methods
    if confirm:
        data["confirm"] = "yes"
    return client.post(POLICY, data=data)


@pytest.fixture
def boss(runtime: Runtime, clock: FixedClock) -> Person:
    person = make_member(runtime, "boss", "default", role=Role.ADMIN, with_totp=True)
    clock.advance(30)
    return person


@pytest.fixture
def as_boss(client: TestClient, clock: FixedClock, boss: Person) -> TestClient:
    sign_in(client, boss, clock)
    return client


def test_the_page_shows_the_methods_with_totp_always_allowed_and_the_sms_warning(
    as_boss: TestClient, runtime: Runtime
) -> None:
    allow_countries(runtime)
    page = text_of(as_boss.get(POLICY))
    assert "Allowed second factors" in page
    assert re.search(r'<input type="checkbox" id="method_totp" checked disabled', page)
    assert "Always allowed, and the method we recommend." in page
    assert '<label class="choice" for="method_sms">' in page
    assert "SIM swap" in page
    assert "intercepted" in page
    assert "costs money" in page
    sms_box = re.search(r'<input type="checkbox" id="method_sms"[^>]*>', page)
    assert sms_box is not None
    assert "disabled" not in sms_box.group(0)
    assert "checked" not in sms_box.group(0)


def test_turning_sms_on_is_previewed_then_applied_and_recorded(
    as_boss: TestClient, runtime: Runtime, boss: Person
) -> None:
    allow_countries(runtime)
    before = snapshot(runtime)
    preview = post_methods(as_boss, ["totp", "sms"], confirm=False)
    assert preview.status_code == 200
    assert "Members may set up text messages (SMS) as a second factor from now on." in words(
        preview
    )
    assert snapshot(runtime) == before  # a preview changes nothing
    applied = post_methods(as_boss, ["totp", "sms"], confirm=True)
    assert applied.status_code == 303
    organization = org(runtime)
    assert organization.allowed_methods == "totp,sms"
    assert organization.methods_changed_at is None
    with runtime.db() as db:
        event = db.scalar(
            select(AuditEvent).where(
                AuditEvent.event == AuditEventType.ORGANIZATION_POLICY_CHANGED.value
            )
        )
        assert event is not None
        assert event.actor_id == boss.id
        assert '"methods_after": "totp,sms"' in event.detail
    page = text_of(as_boss.get(POLICY))
    assert re.search(r'<input type="checkbox" id="method_sms"[^>]*checked', page)


def test_turning_sms_off_shows_the_sms_only_count_and_starts_the_grace_period(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    allow_sms(runtime)
    boss = make_member(runtime, "boss", "default", role=Role.ADMIN, with_totp=True)
    for login, phone in (("carol", "+447400123456"), ("dave", "+447400123457")):
        enroll_sms(runtime, make_person(runtime, login), phone)
    make_person(runtime, "erin", with_totp=True)  # an app only: not counted
    clock.advance(30)
    sign_in(client, boss, clock)
    page = text_of(client.get(POLICY))
    assert re.search(r'<input type="checkbox" id="method_sms"[^>]*checked', page)
    preview = post_methods(client, ["totp"], confirm=False)
    text = words(preview)
    assert "Text messages (SMS) will no longer be allowed." in text
    assert "2 members use SMS only." in text
    grace_end = clock.now() + timedelta(days=7)
    assert f"They may keep using it until {grace_end:%Y-%m-%d %H:%M} UTC" in text
    assert org(runtime).allowed_methods == "totp,sms"
    applied = post_methods(client, ["totp"], confirm=True)
    assert applied.status_code == 303
    organization = org(runtime)
    assert organization.allowed_methods == "totp"
    assert organization.grace_days == 7
    assert organization.methods_changed_at is not None
    assert organization.methods_changed_at.replace(tzinfo=None) == clock.now().replace(tzinfo=None)


def test_without_grace_the_sms_only_members_must_add_an_app_at_once(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    allow_sms(runtime)
    boss = make_member(runtime, "boss", "default", role=Role.ADMIN, with_totp=True)
    enroll_sms(runtime, make_person(runtime, "carol"))
    clock.advance(30)
    sign_in(client, boss, clock)
    preview = post_methods(client, ["totp"], confirm=False, grace_days="0")
    text = words(preview)
    assert "1 member uses SMS only." in text
    assert "They will have to set up an authenticator app at their next sign-in" in text


def test_sms_is_refused_next_to_its_box_when_no_countries_are_configured(
    as_boss: TestClient, runtime: Runtime
) -> None:
    page = text_of(as_boss.get(POLICY))
    sms_box = re.search(r'<input type="checkbox" id="method_sms"[^>]*>', page)
    assert sms_box is not None
    assert "disabled" in sms_box.group(0)
    assert "SMS cannot be turned on here" in page
    assert "TWOFOLD_SMS_ALLOWED_COUNTRIES is empty" in page
    before = snapshot(runtime)
    for confirm in (False, True):  # a forged form: refused at the preview and at the apply
        refused = post_methods(as_boss, ["totp", "sms"], confirm=confirm)
        assert refused.status_code == 400
        error = re.search(
            r'<p class="field-error" id="methods-error"[^>]*>([^<]*)</p>', refused.text
        )
        assert error is not None
        assert "TWOFOLD_SMS_ALLOWED_COUNTRIES is empty" in error.group(1)
    assert snapshot(runtime) == before


def test_sms_is_refused_in_production_with_the_outbox(
    as_boss: TestClient, runtime: Runtime
) -> None:
    allow_countries(runtime, env="production", sms_provider="outbox")
    page = text_of(as_boss.get(POLICY))
    sms_box = re.search(r'<input type="checkbox" id="method_sms"[^>]*>', page)
    assert sms_box is not None
    assert "disabled" in sms_box.group(0)
    refused = post_methods(as_boss, ["totp", "sms"], confirm=True)
    assert refused.status_code == 400
    assert "TWOFOLD_SMS_PROVIDER to twilio or webhook" in text_of(refused)
    assert org(runtime).allowed_methods == "totp"


def test_totp_cannot_be_left_out(as_boss: TestClient, runtime: Runtime) -> None:
    allow_countries(runtime)
    refused = post_methods(as_boss, ["sms"], confirm=True)
    assert refused.status_code == 400
    assert 'id="methods-error"' in refused.text
    assert org(runtime).allowed_methods == "totp"


def test_a_form_without_the_methods_leaves_them_as_they_are(
    as_boss: TestClient, runtime: Runtime
) -> None:
    allow_sms(runtime)
    applied = post_methods(as_boss, None, confirm=True, two_factor="required")
    assert applied.status_code == 303
    organization = org(runtime)
    assert organization.two_factor_policy == "required"
    assert organization.allowed_methods == "totp,sms"


def test_a_plain_member_cannot_change_the_methods(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    allow_countries(runtime)
    carol = make_member(runtime, "carol", "default", with_totp=True)
    clock.advance(30)
    sign_in(client, carol, clock)
    assert client.get(POLICY).status_code == 403
    token = csrf_token(client, "/account/security")
    refused = client.post(
        POLICY,
        data={**KEEP_OPTIONAL, "methods": ["totp", "sms"], "confirm": "yes", "csrf_token": token},
    )
    assert refused.status_code == 403
    assert org(runtime).allowed_methods == "totp"
