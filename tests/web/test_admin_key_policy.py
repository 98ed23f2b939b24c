"""The security-key settings on the admin policy page (passkeys, phishing-resistant,
remember this browser; decision 0029), the members table's "Security key" column and filter,
and where the phishing-resistant requirement sends members in the browser.

A session that "used a security key" is given the hwk method through
`sessions.step_up(…, Method.HARDWARE_KEY)`, the service the passkey prompt calls, and a
registered key is a `webauthn_credentials` row (tests/passkey_steps.py); the ceremony itself
is tested in tests/web/test_passkey_pages.py and tests/oidc/test_passkey_end_to_end.py."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx2 as httpx
import pytest
from sqlalchemy import select

from asgi_client import TestClient
from passkey_steps import give_key, use_key
from support import (
    Person,
    csrf_token,
    make_member,
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
MEMBERS = "/admin/members?org=default"
KEEP_OPTIONAL = {"two_factor": "optional", "grace_days": "0"}


def words(response: httpx.Response) -> str:
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text_of(response)))
    return re.sub(r" ([.,;])", r"\1", text)


def org(runtime: Runtime) -> Organization:
    with runtime.db() as db:
        organization = db.scalar(select(Organization).where(Organization.slug == "default"))
        assert organization is not None
        db.expunge(organization)
        return organization


def set_keys(runtime: Runtime, **values: object) -> None:
    with runtime.db() as db:
        organization = db.scalar(select(Organization).where(Organization.slug == "default"))
        assert organization is not None
        for name, value in values.items():
            setattr(organization, name, value)
        db.commit()


def post_policy(client: TestClient, *, confirm: bool = False, **fields: str) -> httpx.Response:
    token = csrf_token(client, POLICY)
    data = {**KEEP_OPTIONAL, **fields, "csrf_token": token}
    if confirm:
        data["confirm"] = "yes"
    return client.post(POLICY, data=data)


def policy_events(runtime: Runtime) -> list[dict[str, object]]:
    with runtime.db() as db:
        rows = db.scalars(
            select(AuditEvent).where(
                AuditEvent.event == AuditEventType.ORGANIZATION_POLICY_CHANGED.value
            )
        )
        return [json.loads(row.detail) for row in rows]


@pytest.fixture
def boss(runtime: Runtime, clock: FixedClock) -> Person:
    person = make_member(runtime, "boss", "default", role=Role.ADMIN, with_totp=True)
    clock.advance(30)
    return person


@pytest.fixture
def as_boss(client: TestClient, clock: FixedClock, boss: Person) -> TestClient:
    sign_in(client, boss, clock)
    return client


@pytest.fixture
def staff(runtime: Runtime, clock: FixedClock) -> dict[str, Person]:
    """Another admin `ann` (with a key) and members `bob` (with a key) and `cat`."""
    people = {
        "ann": make_member(runtime, "ann", "default", role=Role.ADMIN, with_totp=True),
        "bob": make_member(runtime, "bob", "default", with_totp=True),
        "cat": make_member(runtime, "cat", "default", with_totp=True),
    }
    give_key(runtime, people["ann"])
    give_key(runtime, people["bob"])
    clock.advance(30)
    return people


# --- the policy page -----------------------------------------------------------------------


def test_the_page_shows_the_three_settings_labelled_with_the_current_values(
    as_boss: TestClient,
) -> None:
    page = text_of(as_boss.get(POLICY))
    assert "<legend>Security keys and passkeys</legend>" in page
    assert "<legend>Require a security key or passkey (phishing-resistant)</legend>" in page
    assert '<label for="remember_days">Remember this browser (days)</label>' in page
    assert 'id="remember_days" name="remember_days"' in page
    for name, value in [
        ("passkeys", "off"),
        ("passkeys", "second-factor"),
        ("passkeys", "passwordless"),
        ("phishing_resistant", "off"),
        ("phishing_resistant", "admins"),
        ("phishing_resistant", "all"),
    ]:
        # Every radio sits inside its own label.
        assert re.search(
            rf'<label class="choice"><input type="radio" name="{name}" value="{value}"[^>]*>'
            r" [^<]+</label>",
            page,
        ), (name, value)
    assert re.search(r'name="passkeys" value="second-factor" checked', page)
    assert re.search(r'name="phishing_resistant" value="off" checked', page)
    assert 'value="0"' in page.split('id="remember_days"')[1].split(">")[0]


def test_requiring_keys_is_previewed_with_who_lacks_one_and_changes_nothing(
    as_boss: TestClient, runtime: Runtime, staff: dict[str, Person]
) -> None:
    before = snapshot(runtime)
    preview = post_policy(
        as_boss, grace_days="7", phishing_resistant="admins", passkeys="second-factor"
    )
    assert preview.status_code == 200
    text = words(preview)
    assert "Security key required of: off → admins." in text
    assert "1 of 2 admins it covers have no security key or passkey yet." in text
    assert re.search(
        r"Those already here may put off adding one until \d{4}-\d\d-\d\d \d\d:\d\d UTC", text
    )
    assert "a code alone will not be enough" in text
    assert "Apply this policy" in text
    assert snapshot(runtime) == before


def test_the_preview_without_grace_says_at_the_next_sign_in(
    as_boss: TestClient, staff: dict[str, Person]
) -> None:
    text = words(post_policy(as_boss, phishing_resistant="all"))
    assert "2 of 4 members it covers have no security key or passkey yet." in text
    assert "They will have to add one at their next sign-in or page view" in text


def test_the_preview_says_remember_days_and_passkeys_changes(
    as_boss: TestClient, staff: dict[str, Person]
) -> None:
    text = words(post_policy(as_boss, passkeys="off", remember_days="14"))
    assert "Security keys and passkeys: second-factor → off." in text
    assert "2 members have one and will no longer be able to use it here." in text
    assert "Remember this browser: off → 14 days." in text


def test_confirming_applies_every_setting_and_records_before_and_after(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    response = post_policy(
        as_boss,
        confirm=True,
        passkeys="passwordless",
        phishing_resistant="all",
        remember_days="30",
        grace_days="10",
    )
    assert response.status_code == 303
    assert response.headers["location"] == MEMBERS + "&notice=policy"
    organization = org(runtime)
    assert organization.passkeys == "passwordless"
    assert organization.phishing_resistant == "all"
    assert organization.remember_days == 30
    assert organization.phishing_resistant_since == clock.now()
    [event] = policy_events(runtime)
    assert (event["passkeys_before"], event["passkeys_after"]) == ("second-factor", "passwordless")
    assert (event["phishing_resistant_before"], event["phishing_resistant_after"]) == ("off", "all")
    assert (event["remember_days_before"], event["remember_days_after"]) == ("0", "30")


def test_a_form_without_the_key_fields_leaves_them_as_they_are(
    as_boss: TestClient, runtime: Runtime
) -> None:
    set_keys(runtime, passkeys="passwordless", remember_days=5)
    response = post_policy(as_boss, confirm=True)  # only the 2FA policy and grace days
    assert response.status_code == 303
    organization = org(runtime)
    assert (organization.passkeys, organization.remember_days) == ("passwordless", 5)
    [event] = policy_events(runtime)
    assert "passkeys_before" not in event


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"passkeys": "on"},
            "passkeys",
            "Passkeys must be one of: off, second-factor, passwordless.",
        ),
        (
            {"phishing_resistant": "everyone"},
            "phishing_resistant",
            "Phishing-resistant must be one of: off, admins, all.",
        ),
        (
            {"remember_days": "31"},
            "remember_days",
            "Remember-this-browser days are a whole number from 0 (off) to 30.",
        ),
        (
            {"remember_days": "a week"},
            "remember_days",
            "Remember-this-browser days are a whole number from 0 (off) to 30.",
        ),
        (
            {"passkeys": "off", "phishing_resistant": "admins"},
            "phishing_resistant",
            "Security keys and passkeys cannot be required while they are turned off",
        ),
    ],
)
@pytest.mark.parametrize("confirm", [False, True])
def test_a_bad_value_is_refused_next_to_its_field_and_nothing_is_stored(
    as_boss: TestClient,
    runtime: Runtime,
    fields: dict[str, str],
    field: str,
    message: str,
    confirm: bool,
) -> None:
    before = snapshot(runtime)
    response = post_policy(as_boss, confirm=confirm, **fields)
    assert response.status_code == 400
    page = text_of(response)
    error = re.search(rf'id="{field}-error"[^>]*>(.*?)<', page, re.S)
    assert error is not None, page
    assert message in error.group(1)
    assert "Apply this policy" not in page  # back to the form, no preview
    assert snapshot(runtime) == before


def test_a_bad_remember_days_value_is_shown_back_in_its_field(as_boss: TestClient) -> None:
    page = text_of(post_policy(as_boss, remember_days="99"))
    field = page.split('id="remember_days"')[1].split(">")[0]
    assert 'value="99"' in field
    assert 'aria-invalid="true"' in field


# --- the members table ---------------------------------------------------------------------


def rows_of(response: httpx.Response) -> dict[str, list[str]]:
    body = text_of(response).split("<tbody>")[1].split("</tbody>")[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        cells = [
            re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
            for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
        ]
        rows[cells[0].split()[0]] = cells
    return rows


def test_the_members_table_shows_who_has_a_security_key(
    as_boss: TestClient, staff: dict[str, Person]
) -> None:
    page = as_boss.get(MEMBERS)
    assert '<th scope="col">Security key</th>' in page.text
    rows = rows_of(page)
    assert rows["ann"][-1] == "Yes"
    assert rows["bob"][-1] == "Yes"
    assert rows["cat"][-1] == "No"
    assert rows["boss"][-1] == "No"


def test_the_members_table_says_whom_the_requirement_covers_and_their_grace(
    as_boss: TestClient, runtime: Runtime, staff: dict[str, Person], clock: FixedClock
) -> None:
    since = clock.now()
    set_keys(runtime, phishing_resistant="admins", phishing_resistant_since=since, grace_days=5)
    rows = rows_of(as_boss.get(MEMBERS))
    grace = (since + timedelta(days=5)).strftime("%Y-%m-%d")
    assert rows["boss"][-1] == f"No — required, grace until {grace}"
    assert rows["cat"][-1] == "No"  # not an admin: not covered
    assert "A security key or passkey is required of admins." in words(as_boss.get(MEMBERS))


@pytest.mark.parametrize(
    ("status", "shown"),
    [("security_key", {"ann", "bob"}), ("no_security_key", {"boss", "cat"})],
)
def test_the_members_table_filters_by_security_key(
    as_boss: TestClient, staff: dict[str, Person], status: str, shown: set[str]
) -> None:
    page = as_boss.get(f"{MEMBERS}&status={status}")
    assert set(rows_of(page)) == shown
    assert f'<option value="{status}" selected>' in page.text
    assert f"{len(shown)} members" in words(page)


def test_a_members_page_says_whether_they_have_a_key(
    as_boss: TestClient, runtime: Runtime, staff: dict[str, Person]
) -> None:
    # The boss, here before, has 30 days to add theirs: the admin pages stay open.
    set_keys(
        runtime, phishing_resistant="all", phishing_resistant_since=runtime.now(), grace_days=30
    )
    bob = words(as_boss.get(f"/admin/members/{staff['bob'].id}?org=default"))
    assert "Security key Yes — a security key or passkey is registered" in bob
    cat = words(as_boss.get(f"/admin/members/{staff['cat'].id}?org=default"))
    assert "Security key No — required here" in cat


# --- where the requirement sends members in the browser ------------------------------------


def test_a_member_without_a_key_is_sent_to_add_one_once_the_grace_is_over(
    client: TestClient, runtime: Runtime, clock: FixedClock, staff: dict[str, Person]
) -> None:
    set_keys(runtime, phishing_resistant="all", phishing_resistant_since=clock.now())
    cat = staff["cat"]
    response = client.post(
        "/login",
        data={
            "login": cat.login,
            "password": cat.password,
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    assert response.headers["location"] == "/login/code"
    code = client.post(
        "/login/code",
        data={"code": cat.totp(clock), "csrf_token": csrf_token(client, "/login/code")},
    )
    assert code.headers["location"] == "/account/security/passkeys/new"
    page = client.get("/account/security")
    assert page.status_code == 303
    assert page.headers["location"] == "/account/security/passkeys/new"


def test_a_member_in_their_grace_is_told_until_when_and_may_go_on(
    client: TestClient, runtime: Runtime, clock: FixedClock, staff: dict[str, Person]
) -> None:
    set_keys(runtime, phishing_resistant="all", phishing_resistant_since=clock.now(), grace_days=7)
    clock.advance(86400)
    sign_in_code = staff["cat"]
    client.post(
        "/login",
        data={
            "login": sign_in_code.login,
            "password": sign_in_code.password,
            "csrf_token": csrf_token(client, "/login"),
        },
    )
    response = client.post(
        "/login/code",
        data={"code": sign_in_code.totp(clock), "csrf_token": csrf_token(client, "/login/code")},
    )
    assert response.headers["location"] == "/account/security/passkeys/new"  # offered first
    page = client.get("/account/security")
    assert page.status_code == 200
    text = words(page)
    assert "requires a security key or passkey. You have 6 days left to add one" in text
    assert 'href="/account/security/passkeys/new"' in page.text


def test_a_member_with_a_key_who_passed_only_a_code_must_use_the_key(
    client: TestClient, runtime: Runtime, clock: FixedClock, staff: dict[str, Person]
) -> None:
    set_keys(runtime, phishing_resistant="all", phishing_resistant_since=clock.now())
    bob = staff["bob"]
    token = csrf_token(client, "/login")  # the browser's token: the code prompt sends it on
    client.post("/login", data={"login": bob.login, "password": bob.password, "csrf_token": token})
    response = client.post("/login/code", data={"code": bob.totp(clock), "csrf_token": token})
    assert response.headers["location"] == "/login/passkey"
    for path in ("/account/security", "/login/code"):
        again = client.get(path)
        assert again.status_code == 303
        assert again.headers["location"] == "/login/passkey"
    use_key(client, runtime)
    assert client.get("/account/security").status_code == 200


def test_the_requirement_for_admins_leaves_members_alone(
    client: TestClient, runtime: Runtime, clock: FixedClock, staff: dict[str, Person]
) -> None:
    set_keys(runtime, phishing_resistant="admins", phishing_resistant_since=clock.now())
    sign_in(client, staff["bob"], clock)  # a member with a key, by code: fine
    assert client.get("/account/security").status_code == 200


@pytest.mark.parametrize("days", ["²", "٣"])
def test_a_grace_period_in_other_digits_is_refused_not_a_500(
    as_boss: TestClient, runtime: Runtime, days: str
) -> None:
    before = snapshot(runtime)
    response = post_policy(as_boss, grace_days=days, confirm=True)
    assert response.status_code == 400
    assert "The grace period is a whole number of days." in text_of(response)
    assert snapshot(runtime) == before
