"""/admin through the pages: scope, the members table, resets, unlock, removal, deactivation,
the policy page, the audit log and its CSV export, invitations — and that no admin page ever
shows a member's secret or recovery code."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx2 as httpx
import pytest
from sqlalchemy import func, select, update

from apps import browser as another_browser
from asgi_client import TestClient
from support import (
    STRONG_PASSWORD,
    CapturingMailer,
    Person,
    csrf_token,
    enroll_totp,
    join,
    post_form,
    sign_in,
    snapshot,
    text_of,
)
from twofold.core.audit_events import AuditEventType
from twofold.core.lockout import PERMANENT_LOCK_AT
from twofold.core.policy import Role, TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.otp.secret import encode_secret, group_for_display
from twofold.services import mail, organizations, users
from twofold.services.runtime import Runtime
from twofold.store.models import (
    AuditEvent,
    Authenticator,
    AuthSession,
    Membership,
    Organization,
    OutgoingEmail,
    RecoveryCode,
    User,
)

MEMBERS = "/admin/members?org=acme"
SECURITY = "/account/security"
SETUP = "/account/security/setup"
# Links use the configured public URL (here the `serve` default), never the request's Host.
REENROLL_LINK = re.compile(r"http://localhost:8000/reenroll/[A-Za-z0-9_-]+")
INVITE_LINK = re.compile(r"http://localhost:8000(/invite/[A-Za-z0-9_-]+)")


# --- helpers ---------------------------------------------------------------------------


def make_org(
    runtime: Runtime,
    slug: str,
    policy: TwoFactorPolicy = TwoFactorPolicy.OPTIONAL,
    *,
    name: str | None = None,
) -> None:
    with runtime.db() as db:
        organizations.create_organization(
            db, runtime, slug=slug, name=name or slug.title(), two_factor=policy, signup_open=False
        )
        db.commit()


def member(
    runtime: Runtime,
    login: str,
    slug: str = "acme",
    *,
    role: Role = Role.MEMBER,
    superadmin: bool = False,
    with_totp: bool = False,
    email: str | None = "",
) -> Person:
    """A person whose first organization is `slug`, with a confirmed login@example.org."""
    with runtime.db() as db:
        user = users.create_user(
            db,
            runtime,
            login=login,
            password=STRONG_PASSWORD,
            email=f"{login}@example.org" if email == "" else email,
            organization_slug=slug,
            role=role.value,
            superadmin=superadmin,
            email_verified=True,
        )
        db.commit()
        person = Person(id=user.id, login=user.login, password=STRONG_PASSWORD)
        if with_totp:
            enroll_totp(db, runtime, user, person)
    return person


def set_policy(runtime: Runtime, slug: str, policy: TwoFactorPolicy, grace_days: int) -> None:
    with runtime.db() as db:
        organizations.set_policy(
            db,
            runtime,
            organizations.get_organization(db, slug),
            two_factor=policy,
            grace_days=grace_days,
            sign_out_everyone=False,
        )
        db.commit()


@contextmanager
def browser(runtime: Runtime, **headers: str) -> Iterator[TestClient]:
    """Another person's browser."""
    with another_browser(runtime, headers=headers) as other:
        yield other


def words(response: httpx.Response) -> str:
    """The page's text without tags, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text_of(response)))


def post_with_token(
    client: TestClient, action: str, data: dict[str, str], token_page: str = MEMBERS
) -> httpx.Response:
    """POST to a page that itself refuses (so its own form cannot be read)."""
    return client.post(action, data={**data, "csrf_token": csrf_token(client, token_page)})


def events(runtime: Runtime, event: AuditEventType) -> list[AuditEvent]:
    with runtime.db() as db:
        return list(
            db.scalars(
                select(AuditEvent).where(AuditEvent.event == event.value).order_by(AuditEvent.id)
            )
        )


def load(runtime: Runtime, person: Person) -> User:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        return user


def has_2fa(runtime: Runtime, person: Person) -> bool:
    with runtime.db() as db:
        return users.has_two_factor(db, person.id)


def session_count(runtime: Runtime, person: Person) -> int:
    with runtime.db() as db:
        return int(
            db.scalar(select(func.count(AuthSession.id)).where(AuthSession.user_id == person.id))
            or 0
        )


def mail_to(runtime: Runtime, address: str) -> list[str]:
    """Deliver the queue; the plain-text bodies sent to `address`."""
    mailer = CapturingMailer()
    mail.deliver_pending(runtime, mailer)
    bodies = []
    for message in mailer.messages:
        if message["To"] == address:
            part = message.get_body(("plain",))
            assert part is not None
            bodies.append(str(part.get_content()))  # type: ignore[attr-defined]
    return bodies


def reset_url(person: Person, org: str = "acme") -> str:
    return f"/admin/members/{person.id}/reset?org={org}"


@pytest.fixture
def acme(runtime: Runtime) -> None:
    make_org(runtime, "acme", name="Acme Inc.")


@pytest.fixture
def boss(runtime: Runtime, clock: FixedClock, acme: None) -> Person:
    """Acme's administrator, with 2FA."""
    person = member(runtime, "boss", role=Role.ADMIN, with_totp=True)
    clock.advance(30)
    return person


@pytest.fixture
def bob(runtime: Runtime, clock: FixedClock, acme: None) -> Person:
    """A member of Acme only, with 2FA and a confirmed address."""
    person = member(runtime, "bob", with_totp=True)
    clock.advance(30)
    return person


@pytest.fixture
def root(runtime: Runtime, clock: FixedClock) -> Person:
    """A super-admin (in the default organization)."""
    person = member(runtime, "root", "default", superadmin=True, with_totp=True)
    clock.advance(30)
    return person


@pytest.fixture
def as_boss(client: TestClient, clock: FixedClock, boss: Person) -> TestClient:
    sign_in(client, boss, clock)
    return client


@pytest.fixture
def as_root(client: TestClient, clock: FixedClock, root: Person) -> TestClient:
    sign_in(client, root, clock)
    return client


# --- scope ---------------------------------------------------------------------------------


def test_a_plain_member_opening_admin_gets_a_403_page(
    client: TestClient, clock: FixedClock, bob: Person
) -> None:
    sign_in(client, bob, clock)
    response = client.get("/admin")
    assert response.status_code == 403
    assert "The admin console is for organization administrators." in text_of(response)


def test_a_plain_member_opening_admin_is_recorded(
    client: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    sign_in(client, bob, clock)
    client.get("/admin/members")
    [event] = events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)
    assert event.actor_id == bob.id
    assert '"action": "open_console"' in event.detail


def test_signed_out_admin_pages_lead_to_sign_in(client: TestClient) -> None:
    response = client.get("/admin/members")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_admin_opens_on_the_members_of_the_current_organization(as_boss: TestClient) -> None:
    response = as_boss.get("/admin")
    assert response.status_code == 303
    assert response.headers["location"] == MEMBERS


def test_an_org_admin_sees_only_the_organizations_they_administer(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    make_org(runtime, "bank")
    member(runtime, "eve", "bank")
    page = as_boss.get("/admin/members")
    assert page.status_code == 200
    assert "Acme Inc. — admin" in text_of(page)
    assert ">bob<" in page.text
    assert ">eve<" not in page.text
    assert 'value="bank"' not in page.text


def test_an_org_admin_asking_for_another_organization_is_refused_and_recorded(
    as_boss: TestClient, runtime: Runtime, boss: Person
) -> None:
    make_org(runtime, "bank")
    member(runtime, "eve", "bank")
    response = as_boss.get("/admin/members?org=bank")
    assert response.status_code == 403
    assert "You don't administer that organization." in text_of(response)
    assert ">eve<" not in response.text
    [event] = events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)
    assert event.actor_id == boss.id
    assert '"action": "open_organization"' in event.detail


def test_an_admin_of_two_organizations_can_pick_either(
    client: TestClient, runtime: Runtime, clock: FixedClock, boss: Person
) -> None:
    make_org(runtime, "bank", name="Bank Ltd.")
    join(runtime, boss, "bank", Role.ADMIN)
    member(runtime, "eve", "bank")
    sign_in(client, boss, clock)
    page = client.get("/admin/members?org=bank")
    assert page.status_code == 200
    assert "Bank Ltd. — admin" in text_of(page)
    assert ">eve<" in page.text
    assert 'value="acme"' in page.text
    assert 'value="bank"' in page.text


def test_a_superadmin_sees_every_organization(
    as_root: TestClient, runtime: Runtime, bob: Person
) -> None:
    make_org(runtime, "bank")
    member(runtime, "eve", "bank")
    picker = as_root.get("/admin/members?org=acme").text
    for slug in ("acme", "bank", "default"):
        assert f'<option value="{slug}"' in picker
    assert ">eve<" in as_root.get("/admin/members?org=bank").text


# --- members table -------------------------------------------------------------------------


ROW = re.compile(
    r"<tr>\s*<td><a href=\"/admin/members/\d+\?org=[^\"]+\">([^<]+)</a>(.*?)</tr>", re.S
)


def rows(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [login for login, _rest in ROW.findall(response.text)]


def row_cells(response: httpx.Response, login: str) -> list[str]:
    for found, rest in ROW.findall(response.text):
        if found == login:
            cells = re.findall(r"<td>(.*?)</td>", rest, re.S)
            return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]
    raise AssertionError(f"{login} is not in the table")


def test_the_table_search_matches_login_or_email(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    member(runtime, "carol", email="carol@corp.example")
    assert rows(as_boss.get(MEMBERS + "&q=CAR")) == ["carol"]
    assert rows(as_boss.get(MEMBERS + "&q=corp.example")) == ["carol"]
    assert "No members match." in as_boss.get(MEMBERS + "&q=zzz").text


@pytest.mark.parametrize(
    ("status", "expected"),
    [("enabled", ["bob", "boss"]), ("not_enabled", ["carol", "dave"]), ("locked", ["dave"])],
)
def test_the_table_filters_by_status(
    as_boss: TestClient, runtime: Runtime, bob: Person, status: str, expected: list[str]
) -> None:
    member(runtime, "carol")
    dave = member(runtime, "dave")
    with runtime.db() as db:
        db.execute(
            update(User).where(User.id == dave.id).values(failed_code_count=PERMANENT_LOCK_AT)
        )
        db.commit()
    assert rows(as_boss.get(f"{MEMBERS}&status={status}")) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=login", ["anne", "boss", "zoe"]),
        ("sort=login&desc=true", ["zoe", "boss", "anne"]),
        ("sort=email", ["zoe", "boss", "anne"]),
        ("sort=email&desc=true", ["anne", "boss", "zoe"]),
        ("sort=role", ["boss", "anne", "zoe"]),
        ("sort=two_factor", ["anne", "zoe", "boss"]),
        ("sort=two_factor&desc=true", ["boss", "anne", "zoe"]),
    ],
)
def test_the_table_sorts_by_column_and_direction(
    as_boss: TestClient, runtime: Runtime, query: str, expected: list[str]
) -> None:
    member(runtime, "anne", email="x-anne@example.org")
    member(runtime, "zoe", email="a-zoe@example.org")
    assert rows(as_boss.get(f"{MEMBERS}&{query}")) == expected


def test_the_table_sorts_by_last_sign_in(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    anne = member(runtime, "anne")
    zoe = member(runtime, "zoe")
    clock.advance(60)
    for person in (zoe, anne):
        with browser(runtime) as other:
            sign_in(other, person)
        clock.advance(60)
    # boss signed in first, then zoe, then anne
    assert rows(as_boss.get(f"{MEMBERS}&sort=last_sign_in")) == ["boss", "zoe", "anne"]
    assert rows(as_boss.get(f"{MEMBERS}&sort=last_sign_in&desc=true")) == ["anne", "zoe", "boss"]


@pytest.mark.parametrize(
    "query",
    ["status=admins&sort=password_hash", "sort=login;drop", "status=%27", "q=%25%25%25"],
)
def test_a_forged_status_or_sort_falls_back_instead_of_failing(
    as_boss: TestClient, query: str
) -> None:
    response = as_boss.get(f"{MEMBERS}&{query}")
    assert response.status_code == 200
    assert rows(response) == ["boss"]


def test_a_malformed_page_number_is_a_clear_400(as_boss: TestClient) -> None:
    response = as_boss.get(f"{MEMBERS}&page=two")
    assert response.status_code == 400
    assert "missing or malformed" in text_of(response)


def fifty_five_more(runtime: Runtime) -> None:
    with runtime.db() as db:
        for i in range(55):
            users.create_user(
                db,
                runtime,
                login=f"user{i:02d}",
                password=STRONG_PASSWORD,
                organization_slug="acme",
            )
        db.commit()


def test_the_table_pages_by_50(as_boss: TestClient, runtime: Runtime) -> None:
    fifty_five_more(runtime)
    first = as_boss.get(MEMBERS)
    assert "56 members — page 1 of 2" in words(first)
    assert len(rows(first)) == 50
    assert "Next →" in first.text
    assert "← Previous" not in first.text
    second = as_boss.get(MEMBERS + "&page=2")
    assert rows(second) == [f"user{i}" for i in range(49, 55)]
    assert "← Previous" in second.text
    assert "Next →" not in second.text


def test_a_page_beyond_the_last_shows_the_last(as_boss: TestClient, runtime: Runtime) -> None:
    fifty_five_more(runtime)
    response = as_boss.get(MEMBERS + "&page=99")
    assert "page 2 of 2" in words(response)
    assert rows(response) == [f"user{i}" for i in range(49, 55)]
    assert "page 1 of 2" in words(as_boss.get(MEMBERS + "&page=-3"))


def test_the_page_links_keep_the_filters_and_the_sort_direction(
    as_boss: TestClient, runtime: Runtime
) -> None:
    fifty_five_more(runtime)
    first = as_boss.get(MEMBERS + "&q=user&sort=login&desc=true")
    assert rows(first)[0] == "user54"
    [next_link] = re.findall(r'<a href="([^"]+)">Next →</a>', first.text)
    second = as_boss.get(next_link.replace("&amp;", "&"))
    assert rows(second) == ["user04", "user03", "user02", "user01", "user00"]


def test_the_filter_form_offers_the_sort_direction(as_boss: TestClient) -> None:
    page = as_boss.get(MEMBERS + "&desc=true")
    assert re.search(r'<select id="desc" name="desc">', page.text)
    assert re.search(r'<option value="true"\s+selected>', page.text)


def test_the_adoption_numbers_and_chart(as_boss: TestClient, runtime: Runtime, bob: Person) -> None:
    member(runtime, "carol")
    member(runtime, "dave")
    page = as_boss.get(MEMBERS)
    assert "2 of 4 members (50%) have two-factor authentication." in words(page)
    assert '<svg role="img"' in page.text
    assert 'width="200.0"' in page.text


def test_the_2fa_column_says_enabled_or_disabled(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    member(runtime, "carol")
    page = as_boss.get(MEMBERS)
    assert row_cells(page, "bob")[2] == "Enabled"
    assert row_cells(page, "carol")[2] == "Disabled"


def test_the_2fa_column_says_not_set_up_with_the_grace_end(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    member(runtime, "carol")
    clock.advance(60)
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=10)
    page = as_boss.get(MEMBERS)
    assert row_cells(page, "carol")[2] == "Not set up — grace until 2026-03-11"
    assert "grace until 2026-03-11" in words(page)


def test_the_2fa_column_says_not_set_up_without_a_grace_period(
    as_boss: TestClient, runtime: Runtime
) -> None:
    member(runtime, "carol")
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=0)
    assert row_cells(as_boss.get(MEMBERS), "carol")[2] == "Not set up"


def test_the_2fa_column_gives_no_grace_to_someone_who_joined_after_enforcement(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=10)
    clock.advance(60)
    member(runtime, "carol")
    assert row_cells(as_boss.get(MEMBERS), "carol")[2] == "Not set up"


def test_the_2fa_column_says_reset_waiting(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    assert post_form(as_boss, reset_url(bob), {"reason": "lost phone"}).status_code == 303
    assert row_cells(as_boss.get(MEMBERS), "bob")[2] == "Reset — waiting for the member"


def test_the_table_shows_recovery_codes_left_and_locks(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    carol = member(runtime, "carol")
    with runtime.db() as db:
        first = db.scalar(select(RecoveryCode.id).where(RecoveryCode.user_id == bob.id).limit(1))
        db.execute(update(RecoveryCode).where(RecoveryCode.id == first).values(used_at=clock.now()))
        db.execute(
            update(User)
            .where(User.id == bob.id)
            .values(failed_code_count=10, code_locked_until=clock.now() + timedelta(minutes=15))
        )
        db.commit()
    page = as_boss.get(MEMBERS)
    assert row_cells(page, "bob")[3:5] == ["9", "Locked"]
    assert row_cells(page, "carol")[3:5] == ["—", "No"]
    assert carol.login in rows(page)


def test_the_table_shows_the_last_sign_in(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    carol = member(runtime, "carol")
    with browser(runtime) as other:
        sign_in(other, carol)
    page = as_boss.get(MEMBERS)
    assert row_cells(page, "carol")[5] == "2026-03-01 12:01"
    assert row_cells(page, "bob")[5] == "never"


def test_the_member_page_shows_the_status_and_the_event_log(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    page = as_boss.get(f"/admin/members/{bob.id}?org=acme")
    assert page.status_code == 200
    text = words(page)
    assert "Two-factor Enabled" in text
    assert "Recovery codes left 10" in text
    assert "Two-factor authentication turned on" in text
    assert "Reset 2FA (lost phone)…" in text


def test_the_member_page_of_someone_outside_the_organization_is_404(
    as_boss: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "bank")
    eve = member(runtime, "eve", "bank")
    assert as_boss.get(f"/admin/members/{eve.id}?org=acme").status_code == 404
    assert as_boss.get("/admin/members/999999?org=acme").status_code == 404


# --- reset ---------------------------------------------------------------------------------


def test_the_reset_page_says_what_will_happen(as_boss: TestClient, bob: Person) -> None:
    page = as_boss.get(reset_url(bob))
    assert page.status_code == 200
    text = words(page)
    assert "Reset two-factor authentication for bob" in text
    assert (
        "delete every second factor they have (authenticator apps, and their phone for text "
        "messages with any code sent to it) and all their recovery codes"
    ) in text
    assert "sign them out everywhere" in text
    assert "email them a link (single use, 24 hours)" in text
    assert "until then they can reach nothing" in text
    assert 'name="reason"' in page.text


def test_a_reset_without_a_reason_is_refused_and_changes_nothing(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    token = csrf_token(as_boss, reset_url(bob))
    before = snapshot(runtime)
    response = as_boss.post(reset_url(bob), data={"reason": "  ", "csrf_token": token})
    assert response.status_code == 400
    assert "Say why you are resetting (it goes into the audit log)." in text_of(response)
    assert snapshot(runtime) == before


def test_a_reset_deletes_the_members_2fa(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    response = post_form(as_boss, reset_url(bob), {"reason": "lost phone"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/members/{bob.id}?org=acme&notice=reset"
    assert not has_2fa(runtime, bob)
    with runtime.db() as db:
        assert not db.scalar(select(func.count()).where(Authenticator.user_id == bob.id))
        assert not db.scalar(select(func.count()).where(RecoveryCode.user_id == bob.id))
    page = as_boss.get(response.headers["location"])
    assert "Two-factor authentication was reset." in text_of(page)
    assert "Reset — waiting for the member to set it up again" in text_of(page)


def test_a_reset_signs_the_member_out_at_once(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    with browser(runtime) as bobs:
        sign_in(bobs, bob, clock)
        post_form(as_boss, reset_url(bob), {"reason": "lost phone"})
        response = bobs.get(SECURITY)
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
    assert session_count(runtime, bob) == 0


def test_a_reset_is_recorded_with_the_admin_the_reason_and_the_member(
    as_boss: TestClient, runtime: Runtime, boss: Person, bob: Person
) -> None:
    post_form(as_boss, reset_url(bob), {"reason": "called from the help desk"})
    [event] = events(runtime, AuditEventType.TWO_FACTOR_RESET_BY_ADMIN)
    assert (event.user_id, event.actor_id) == (bob.id, boss.id)
    assert '"reason": "called from the help desk"' in event.detail


def test_a_reset_emails_the_member_a_reenroll_link(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    post_form(as_boss, reset_url(bob), {"reason": "lost phone"})
    bodies = [b for b in mail_to(runtime, "bob@example.org") if "/reenroll/" in b]
    assert len(bodies) == 1
    assert REENROLL_LINK.search(bodies[0])


def test_a_member_without_a_confirmed_address_cannot_be_reset_from_the_console(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    dave = member(runtime, "dave", email=None, with_totp=True)
    response = post_form(as_boss, reset_url(dave), {"reason": "lost phone"})
    assert response.status_code == 400
    assert "has no confirmed email address" in text_of(response)
    assert has_2fa(runtime, dave)


def test_within_10_minutes_of_the_admins_code_none_is_asked(
    as_boss: TestClient, clock: FixedClock, bob: Person
) -> None:
    clock.advance(9 * 60)
    assert 'name="code"' not in as_boss.get(reset_url(bob)).text


def test_after_10_minutes_the_reset_page_asks_for_the_admins_code(
    as_boss: TestClient, clock: FixedClock, bob: Person
) -> None:
    clock.advance(11 * 60)
    page = as_boss.get(reset_url(bob))
    assert 'name="code"' in page.text
    assert "You passed your second factor more than 10 minutes ago" in text_of(page)


def test_an_old_second_factor_without_a_code_refuses_the_reset(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    clock.advance(11 * 60)
    response = post_form(as_boss, reset_url(bob), {"reason": "lost phone"})
    assert response.status_code == 400
    assert "Enter the code from your authenticator app." in text_of(response)
    assert has_2fa(runtime, bob)
    assert events(runtime, AuditEventType.TWO_FACTOR_RESET_BY_ADMIN) == []


def test_an_old_second_factor_with_a_wrong_code_refuses_and_counts_it(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    clock.advance(11 * 60)
    near = {boss.totp(clock, offset) for offset in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in near)
    response = post_form(as_boss, reset_url(bob), {"reason": "lost phone", "code": wrong})
    assert response.status_code == 400
    assert "That code didn't match." in text_of(response)
    assert 'value="lost phone"' in response.text
    assert has_2fa(runtime, bob)
    assert load(runtime, boss).failed_code_count == 1
    [failure] = events(runtime, AuditEventType.SECOND_FACTOR_FAILED)
    assert failure.user_id == boss.id


def test_an_old_second_factor_with_the_right_code_allows_the_reset(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    clock.advance(11 * 60)
    response = post_form(
        as_boss, reset_url(bob), {"reason": "lost phone", "code": boss.totp(clock)}
    )
    assert response.status_code == 303
    assert not has_2fa(runtime, bob)


def test_the_right_code_counts_as_fresh_for_the_next_10_minutes(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    carol = member(runtime, "carol", with_totp=True)
    clock.advance(11 * 60)
    post_form(as_boss, reset_url(bob), {"reason": "lost phone", "code": boss.totp(clock)})
    clock.advance(5 * 60)
    assert 'name="code"' not in as_boss.get(reset_url(carol)).text


def test_resetting_someone_also_in_another_organization_is_refused_and_recorded(
    as_boss: TestClient, runtime: Runtime, boss: Person, bob: Person
) -> None:
    make_org(runtime, "bank")
    join(runtime, bob, "bank")
    assert as_boss.get(reset_url(bob)).status_code == 403
    token = csrf_token(as_boss, MEMBERS)
    before = snapshot(runtime)
    response = as_boss.post(reset_url(bob), data={"reason": "lost phone", "csrf_token": token})
    assert response.status_code == 403
    assert "Ask a super-admin." in text_of(response)
    assert snapshot(runtime, skip=("audit_events",)) == {
        k: v for k, v in before.items() if k != "audit_events"
    }
    refused = events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)
    assert [(e.user_id, e.actor_id) for e in refused] == [(bob.id, boss.id), (bob.id, boss.id)]


def test_a_superadmin_may_reset_someone_in_several_organizations(
    as_root: TestClient, runtime: Runtime, bob: Person
) -> None:
    make_org(runtime, "bank")
    join(runtime, bob, "bank")
    assert post_form(as_root, reset_url(bob), {"reason": "lost phone"}).status_code == 303
    assert not has_2fa(runtime, bob)


def test_an_org_admin_cannot_reset_a_superadmin(
    as_boss: TestClient, runtime: Runtime, root: Person
) -> None:
    join(runtime, root, "acme")
    response = post_with_token(as_boss, reset_url(root), {"reason": "lost phone"})
    assert response.status_code == 403
    assert has_2fa(runtime, root)
    assert len(events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)) == 1


def test_an_admin_cannot_reset_themselves(
    as_boss: TestClient, runtime: Runtime, boss: Person
) -> None:
    response = post_with_token(as_boss, reset_url(boss), {"reason": "lost phone"})
    assert response.status_code == 403
    assert has_2fa(runtime, boss)


def test_a_superadmin_cannot_reset_themselves(
    as_root: TestClient, runtime: Runtime, root: Person
) -> None:
    response = post_with_token(
        as_root, reset_url(root, "default"), {"reason": "x"}, "/admin/members?org=default"
    )
    assert response.status_code == 403
    assert has_2fa(runtime, root)


def test_a_forged_member_id_is_refused_and_recorded(
    as_boss: TestClient, runtime: Runtime, boss: Person
) -> None:
    assert as_boss.get("/admin/members/424242/reset?org=acme").status_code == 403
    response = post_with_token(as_boss, "/admin/members/424242/reset?org=acme", {"reason": "x"})
    assert response.status_code == 403
    assert "There is no such member." in text_of(response)
    refused = events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)
    assert [(e.user_id, e.actor_id) for e in refused] == [(None, boss.id), (None, boss.id)]


def test_a_reset_without_the_csrf_token_is_refused(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    response = as_boss.post(reset_url(bob), data={"reason": "lost phone"})
    assert response.status_code == 403
    assert has_2fa(runtime, bob)


# --- unlock, removal, deactivation ---------------------------------------------------------


# --- a fellow admin: only a super-admin may act on an admin ---------------------------------


@pytest.fixture
def ada(runtime: Runtime, clock: FixedClock, acme: None) -> Person:
    """A second administrator of Acme, with 2FA, locked out after too many wrong codes."""
    person = member(runtime, "ada", role=Role.ADMIN, with_totp=True)
    clock.advance(30)
    with runtime.db() as db:
        db.execute(update(User).where(User.id == person.id).values(failed_code_count=100))
        db.commit()
    return person


FELLOW_ADMIN = (
    "This person is an administrator: only a super-admin can reset, unlock or remove an "
    "administrator. Ask a super-admin."
)


def test_the_page_of_a_fellow_admin_offers_no_action(as_boss: TestClient, ada: Person) -> None:
    page = as_boss.get(f"/admin/members/{ada.id}?org=acme")
    assert page.status_code == 200
    text = words(page)
    assert FELLOW_ADMIN in text
    for button in ("Reset 2FA", "Unlock second factor", "Remove from", "Deactivate account"):
        assert button not in text
    assert f"/admin/members/{ada.id}/" not in page.text


@pytest.mark.parametrize(
    ("action", "data"),
    [("reset", {"reason": "lost phone"}), ("unlock", {}), ("remove", {})],
)
def test_an_org_admin_acting_on_a_fellow_admin_is_refused_and_changes_nothing(
    as_boss: TestClient,
    runtime: Runtime,
    boss: Person,
    ada: Person,
    action: str,
    data: dict[str, str],
) -> None:
    url = f"/admin/members/{ada.id}/{action}?org=acme"
    if action != "unlock":
        page = as_boss.get(url)
        assert page.status_code == 403
        assert FELLOW_ADMIN in words(page)
    before = snapshot(runtime, skip=("audit_events",))
    response = post_with_token(as_boss, url, data)
    assert response.status_code == 403
    assert FELLOW_ADMIN in words(response)
    assert snapshot(runtime, skip=("audit_events",)) == before  # no email queued, nothing
    with runtime.db() as db:
        recorded = {e.event for e in db.scalars(select(AuditEvent)) if e.user_id == ada.id}
    assert "two_factor.reset_by_admin" not in recorded
    assert "second_factor.unlocked" not in recorded
    assert "membership.removed" not in recorded
    refused = events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)
    assert {(e.user_id, e.actor_id) for e in refused} == {(ada.id, boss.id)}


def test_a_superadmin_may_reset_unlock_and_remove_an_admin(
    as_root: TestClient, runtime: Runtime, ada: Person
) -> None:
    page = f"/admin/members/{ada.id}?org=acme"
    assert "Reset 2FA (lost phone)…" in text_of(as_root.get(page))
    action = f"/admin/members/{ada.id}/unlock?org=acme"
    assert post_form(as_root, page, {}, action=action).status_code == 303
    assert load(runtime, ada).failed_code_count == 0
    assert post_form(as_root, reset_url(ada), {"reason": "lost phone"}).status_code == 303
    assert not has_2fa(runtime, ada)
    assert mail_to(runtime, "ada@example.org")
    remove = f"/admin/members/{ada.id}/remove?org=acme"
    assert post_form(as_root, remove, {}).status_code == 303
    with runtime.db() as db:
        assert not db.scalar(select(func.count()).where(Membership.user_id == ada.id))
    assert events(runtime, AuditEventType.ADMIN_ACTION_REFUSED) == []


def test_the_page_of_a_member_still_offers_the_actions(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    lock(runtime, clock, bob)
    text = words(as_boss.get(f"/admin/members/{bob.id}?org=acme"))
    for button in ("Reset 2FA (lost phone)…", "Unlock second factor", "Remove from Acme Inc.…"):
        assert button in text


# --- resetting someone without 2FA ---------------------------------------------------------


NOTHING_TO_RESET = (
    "carol has not set up two-factor authentication, so there is nothing to reset: they sign "
    "in with their password alone. Nothing was changed."
)


def test_the_page_of_a_member_without_2fa_offers_no_reset(
    as_boss: TestClient, runtime: Runtime
) -> None:
    carol = member(runtime, "carol")
    text = words(as_boss.get(f"/admin/members/{carol.id}?org=acme"))
    assert "Two-factor Not enabled" in text
    assert "Reset 2FA" not in text
    assert "Remove from Acme Inc.…" in text


def test_the_reset_page_of_a_member_without_2fa_says_there_is_nothing_to_reset(
    as_boss: TestClient, runtime: Runtime
) -> None:
    carol = member(runtime, "carol")
    page = as_boss.get(reset_url(carol))
    assert page.status_code == 200
    assert NOTHING_TO_RESET in words(page)
    assert 'name="reason"' not in page.text


def test_resetting_a_member_without_2fa_is_refused_and_changes_nothing(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    carol = member(runtime, "carol")
    with browser(runtime) as carols:
        sign_in(carols, carol, clock)
        before = snapshot(runtime)
        response = post_with_token(as_boss, reset_url(carol), {"reason": "lost phone"})
        assert response.status_code == 400
        assert NOTHING_TO_RESET in words(response)
        assert snapshot(runtime) == before  # no link, no email, no event, still signed in
        assert carols.get(SECURITY).status_code == 200


def test_a_waiting_reset_can_be_sent_again_from_the_member_page(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    post_form(as_boss, reset_url(bob), {"reason": "lost phone"})
    page = f"/admin/members/{bob.id}?org=acme"
    assert "Send a new link to set up 2FA…" in words(as_boss.get(page))
    assert post_form(as_boss, reset_url(bob), {"reason": "link expired"}).status_code == 303
    links = [REENROLL_LINK.findall(body) for body in mail_to(runtime, "bob@example.org")]
    assert len([found for found in links if found]) == 2


def lock(runtime: Runtime, clock: FixedClock, person: Person) -> None:
    with runtime.db() as db:
        db.execute(
            update(User)
            .where(User.id == person.id)
            .values(failed_code_count=10, code_locked_until=clock.now() + timedelta(minutes=15))
        )
        db.commit()


def test_the_member_page_offers_unlock_only_when_locked(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    page = f"/admin/members/{bob.id}?org=acme"
    assert "Unlock second factor" not in as_boss.get(page).text
    lock(runtime, clock, bob)
    assert "Unlock second factor" in as_boss.get(page).text


def test_unlocking_from_the_console_clears_the_lock_and_records_the_admin(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, boss: Person, bob: Person
) -> None:
    lock(runtime, clock, bob)
    page = f"/admin/members/{bob.id}?org=acme"
    response = post_form(as_boss, page, {}, action=f"/admin/members/{bob.id}/unlock?org=acme")
    assert response.status_code == 303
    assert "second factor is unlocked" in text_of(as_boss.get(response.headers["location"]))
    user = load(runtime, bob)
    assert (user.failed_code_count, user.code_locked_until) == (0, None)
    [event] = events(runtime, AuditEventType.SECOND_FACTOR_UNLOCKED)
    assert (event.user_id, event.actor_id) == (bob.id, boss.id)


def test_unlocking_someone_in_another_organization_is_refused(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "bank")
    eve = member(runtime, "eve", "bank")
    lock(runtime, clock, eve)
    response = post_with_token(as_boss, f"/admin/members/{eve.id}/unlock?org=acme", {})
    assert response.status_code == 403
    assert load(runtime, eve).failed_code_count == 10
    assert len(events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)) == 1


def test_the_remove_page_says_what_will_happen(as_boss: TestClient, bob: Person) -> None:
    page = as_boss.get(f"/admin/members/{bob.id}/remove?org=acme")
    assert "Remove bob from Acme Inc." in text_of(page)
    assert "signed out everywhere at once" in text_of(page)


def test_removing_a_member_ends_their_sessions_at_once(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    remove = f"/admin/members/{bob.id}/remove?org=acme"
    with browser(runtime) as bobs:
        sign_in(bobs, bob, clock)
        response = post_form(as_boss, remove, {})
        assert response.status_code == 303
        assert response.headers["location"] == MEMBERS + "&notice=removed"
        assert bobs.get(SECURITY).headers["location"] == "/login"
    assert session_count(runtime, bob) == 0


def test_removing_a_member_removes_the_membership_and_is_recorded(
    as_boss: TestClient, runtime: Runtime, boss: Person, bob: Person
) -> None:
    post_form(as_boss, f"/admin/members/{bob.id}/remove?org=acme", {})
    with runtime.db() as db:
        assert not db.scalar(select(func.count()).where(Membership.user_id == bob.id))
    [event] = events(runtime, AuditEventType.MEMBERSHIP_REMOVED)
    assert (event.user_id, event.actor_id) == (bob.id, boss.id)
    assert "bob" not in rows(as_boss.get(MEMBERS))


def test_an_org_admin_cannot_deactivate_and_the_refusal_is_recorded(
    as_boss: TestClient, runtime: Runtime, boss: Person, bob: Person
) -> None:
    page = as_boss.get(f"/admin/members/{bob.id}?org=acme")
    assert "Deactivate account" not in page.text
    response = post_with_token(as_boss, f"/admin/members/{bob.id}/deactivate?org=acme", {})
    assert response.status_code == 403
    assert "Only a super-admin can deactivate an account." in text_of(response)
    assert load(runtime, bob).is_active
    [event] = events(runtime, AuditEventType.ADMIN_ACTION_REFUSED)
    assert '"action": "deactivate"' in event.detail


def test_a_superadmin_deactivation_signs_out_everywhere(
    as_root: TestClient, runtime: Runtime, clock: FixedClock, root: Person, bob: Person
) -> None:
    with browser(runtime) as bobs:
        sign_in(bobs, bob, clock)
        page = f"/admin/members/{bob.id}?org=acme"
        response = post_form(
            as_root, page, {}, action=f"/admin/members/{bob.id}/deactivate?org=acme"
        )
        assert response.status_code == 303
        assert bobs.get(SECURITY).headers["location"] == "/login"
    assert session_count(runtime, bob) == 0
    [event] = events(runtime, AuditEventType.USER_DEACTIVATED)
    assert (event.user_id, event.actor_id) == (bob.id, root.id)


def test_a_deactivated_user_cannot_sign_in(
    as_root: TestClient, runtime: Runtime, bob: Person
) -> None:
    page = f"/admin/members/{bob.id}?org=acme"
    post_form(as_root, page, {}, action=f"/admin/members/{bob.id}/deactivate?org=acme")
    with browser(runtime) as bobs:
        response = post_form(bobs, "/login", {"login": bob.login, "password": bob.password})
        assert response.status_code == 400
        assert "That login name or password is not right." in text_of(response)


# --- policy --------------------------------------------------------------------------------


POLICY = "/admin/policy?org=acme"


def org_row(runtime: Runtime) -> tuple[str, int]:
    with runtime.db() as db:
        organization = db.scalar(select(Organization).where(Organization.slug == "acme"))
        assert organization is not None
        return organization.two_factor_policy, organization.grace_days


def test_the_policy_page_shows_the_current_policy(as_boss: TestClient) -> None:
    page = as_boss.get(POLICY)
    assert page.status_code == 200
    assert "Now: optional" in words(page)


def test_the_policy_preview_says_what_will_happen_and_changes_nothing(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    member(runtime, "carol")
    member(runtime, "dave")
    token = csrf_token(as_boss, POLICY)
    before = snapshot(runtime)
    response = as_boss.post(
        POLICY,
        data={"two_factor": "required", "grace_days": "7", "csrf_token": token},
    )
    assert response.status_code == 200
    text = words(response)
    assert "What will happen: 2FA becomes required for Acme Inc." in text
    assert "2 of 4 members have no two-factor authentication yet." in text
    assert "They may put off setting it up until 2026-03-08 12:01 UTC" in text
    assert "Apply this policy" in text
    assert snapshot(runtime) == before


def test_the_policy_preview_without_grace_says_at_the_next_sign_in(
    as_boss: TestClient, runtime: Runtime
) -> None:
    member(runtime, "carol")
    response = post_form(as_boss, POLICY, {"two_factor": "required", "grace_days": "0"})
    assert "They will have to set it up at their next sign-in or page view" in words(response)


def test_the_policy_preview_says_everyone_will_be_signed_out(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    response = post_form(
        as_boss,
        POLICY,
        {"two_factor": "optional", "grace_days": "0", "sign_out_everyone": "1"},
    )
    assert "All 2 members will be signed out at once" in words(response)


def test_confirming_applies_the_policy_and_records_it(
    as_boss: TestClient, runtime: Runtime, boss: Person
) -> None:
    response = post_form(
        as_boss, POLICY, {"two_factor": "required", "grace_days": "7", "confirm": "yes"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == MEMBERS + "&notice=policy"
    assert org_row(runtime) == ("required", 7)
    [event] = events(runtime, AuditEventType.ORGANIZATION_POLICY_CHANGED)
    assert event.actor_id == boss.id
    assert '"after": "required (grace 7 days)"' in event.detail


def test_confirming_with_sign_out_ends_the_members_sessions(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    with browser(runtime) as bobs:
        sign_in(bobs, bob, clock)
        post_form(
            as_boss,
            POLICY,
            {
                "two_factor": "optional",
                "grace_days": "0",
                "sign_out_everyone": "1",
                "confirm": "yes",
            },
        )
        assert bobs.get(SECURITY).headers["location"] == "/login"
    assert len(events(runtime, AuditEventType.ORGANIZATION_MEMBERS_SIGNED_OUT)) == 1


def test_signing_everyone_out_keeps_the_admin_who_did_it_signed_in(
    as_boss: TestClient, runtime: Runtime, boss: Person
) -> None:
    response = post_form(
        as_boss,
        POLICY,
        {"two_factor": "optional", "grace_days": "0", "sign_out_everyone": "1", "confirm": "yes"},
    )
    assert response.status_code == 303
    page = as_boss.get(response.headers["location"])
    assert page.status_code == 200
    assert "The 2FA policy was applied." in text_of(page)
    assert session_count(runtime, boss) == 1


@pytest.mark.parametrize(
    ("two_factor", "grace_days", "message"),
    [
        ("sometimes", "0", "The 2FA policy must be one of: off, optional, required."),
        ("", "0", "The 2FA policy must be one of: off, optional, required."),
        ("required", "abc", "The grace period is a whole number of days."),
        ("required", "-1", "The grace period is a whole number of days."),
        ("required", "400", "The grace period is 0 to 365 days."),
    ],
)
def test_a_bad_policy_or_grace_is_refused_and_changes_nothing(
    as_boss: TestClient, runtime: Runtime, two_factor: str, grace_days: str, message: str
) -> None:
    token = csrf_token(as_boss, POLICY)
    before = snapshot(runtime)
    response = as_boss.post(
        POLICY,
        data={
            "two_factor": two_factor,
            "grace_days": grace_days,
            "confirm": "yes",
            "csrf_token": token,
        },
    )
    assert response.status_code == 400
    assert message in text_of(response)
    assert snapshot(runtime) == before


def test_an_org_admin_cannot_change_another_organizations_policy(
    as_boss: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "bank")
    response = post_with_token(
        as_boss,
        "/admin/policy?org=bank",
        {"two_factor": "off", "grace_days": "0", "confirm": "yes"},
    )
    assert response.status_code == 403
    with runtime.db() as db:
        bank = db.scalar(select(Organization).where(Organization.slug == "bank"))
        assert bank is not None
        assert bank.two_factor_policy == "optional"


# --- audit log -----------------------------------------------------------------------------


AUDIT = "/admin/audit?org=acme"
AUDIT_ROW = re.compile(
    r"<tr>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>"
)


def audit_table(response: httpx.Response) -> list[tuple[str, str, str]]:
    """(event label, member, by) of each row."""
    assert response.status_code == 200, response.text
    return [(label, who, by) for _when, label, who, by in AUDIT_ROW.findall(text_of(response))]


@pytest.fixture
def history(runtime: Runtime, clock: FixedClock, bob: Person) -> None:
    """carol signs in on day 1, dave types a wrong password on day 3."""
    carol = member(runtime, "carol")
    dave = member(runtime, "dave")
    with browser(runtime) as other:
        sign_in(other, carol)
    clock.advance(2 * 24 * 3600)
    with browser(runtime) as other:
        post_form(other, "/login", {"login": dave.login, "password": "not the password"})


def test_the_audit_log_filters_by_member(history: None, as_boss: TestClient) -> None:
    table = audit_table(as_boss.get(AUDIT + "&member=carol"))
    assert {who for _label, who, _by in table} == {"carol"}
    assert ("Signed in", "carol", "—") in table


def test_the_audit_log_filters_by_event_type(history: None, as_boss: TestClient) -> None:
    table = audit_table(as_boss.get(AUDIT + "&event=sign_in.password_failed"))
    assert table == [("Wrong password entered", "dave", "—")]
    assert "1 event ·" in words(as_boss.get(AUDIT + "&event=sign_in.password_failed"))


def test_an_unknown_event_type_shows_everything(history: None, as_boss: TestClient) -> None:
    all_rows = audit_table(as_boss.get(AUDIT))
    assert audit_table(as_boss.get(AUDIT + "&event=no.such")) == all_rows


def test_the_audit_log_filters_by_date_range(history: None, as_boss: TestClient) -> None:
    later = audit_table(as_boss.get(AUDIT + "&since=2026-03-02"))
    assert ("Wrong password entered", "dave", "—") in later
    assert all(who in {"dave", "boss"} for _label, who, _by in later)
    earlier = audit_table(as_boss.get(AUDIT + "&until=2026-03-02"))
    assert ("Signed in", "carol", "—") in earlier
    assert all(who != "dave" or label == "Account created" for label, who, _by in earlier)
    assert audit_table(as_boss.get(AUDIT + "&since=2026-03-02&until=2026-03-02")) == []


@pytest.mark.parametrize("bad", ["since=yesterday", "until=2026-13-45", "since=%3Cscript%3E"])
def test_a_bad_date_is_a_message_not_a_crash(history: None, as_boss: TestClient, bad: str) -> None:
    response = as_boss.get(f"{AUDIT}&{bad}")
    assert response.status_code == 200
    assert "Dates are written YYYY-MM-DD." in text_of(response)
    assert "<script>" not in response.text


def test_a_bad_date_in_the_export_is_a_clear_400(as_boss: TestClient) -> None:
    response = as_boss.get("/admin/audit.csv?org=acme&since=tomorrow")
    assert response.status_code == 400
    assert "Dates are written YYYY-MM-DD." in text_of(response)


def read_csv(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


def test_the_csv_export_has_a_header_and_the_filtered_rows(
    history: None, as_boss: TestClient
) -> None:
    response = as_boss.get("/admin/audit.csv?org=acme&event=sign_in.password_failed")
    assert (
        'attachment; filename="twofold-audit-acme.csv"' in response.headers["content-disposition"]
    )
    [header, *body] = read_csv(response)
    assert header == ["time_utc", "event", "member", "actor", "ip", "user_agent", "detail"]
    assert [(row[0][:10], row[1], row[2]) for row in body] == [
        ("2026-03-03", "sign_in.password_failed", "dave")
    ]


def test_the_csv_export_follows_the_member_filter(history: None, as_boss: TestClient) -> None:
    [_header, *body] = read_csv(as_boss.get("/admin/audit.csv?org=acme&member=carol"))
    assert body
    assert {row[2] for row in body} == {"carol"}


def test_the_csv_export_neutralises_a_formula(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    carol = member(runtime, "carol")
    with browser(runtime, **{"user-agent": '=HYPERLINK("http://evil.example","x")'}) as evil:
        sign_in(evil, carol)
    [_header, *body] = read_csv(as_boss.get("/admin/audit.csv?org=acme&event=sign_in.succeeded"))
    agents = {row[2]: row[5] for row in body}
    assert agents["carol"] == '\'=HYPERLINK("http://evil.example","x")'
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in body for cell in row)


def test_an_org_admins_log_holds_only_their_organizations_members(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    make_org(runtime, "bank")
    eve = member(runtime, "eve", "bank")
    with browser(runtime) as other:
        sign_in(other, eve)
    page = as_boss.get(AUDIT)
    assert all(who != "eve" for _label, who, _by in audit_table(page))
    assert "0 events" in words(as_boss.get(AUDIT + "&member=eve"))
    [_header, *body] = read_csv(as_boss.get("/admin/audit.csv?org=acme"))
    assert body
    assert all(row[2] != "eve" for row in body)
    assert read_csv(as_boss.get("/admin/audit.csv?org=acme&member=eve"))[1:] == []


@pytest.fixture
def shared_bob(runtime: Runtime, bob: Person) -> Person:
    """bob, of Acme, also joins Bank, leaves it and joins again: Bank's events alone."""
    make_org(runtime, "bank")
    join(runtime, bob, "bank")
    with runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        organizations.remove_member(db, runtime, user, organizations.get_organization(db, "bank"))
        db.commit()
    join(runtime, bob, "bank")
    return bob


def test_an_org_admin_sees_none_of_another_organizations_events_about_a_shared_member(
    as_boss: TestClient, shared_bob: Person
) -> None:
    for url in (AUDIT, AUDIT + "&member=bob"):
        labels = {label for label, _who, _by in audit_table(as_boss.get(url))}
        assert labels
        assert not labels & {"Added to an organization", "Removed from an organization"}
    assert "0 events" in words(as_boss.get(AUDIT + "&member=bob&event=membership.added"))
    for url in ("/admin/audit.csv?org=acme", "/admin/audit.csv?org=acme&member=bob"):
        [_header, *body] = read_csv(as_boss.get(url))
        assert body
        assert not {"membership.added", "membership.removed"} & {row[1] for row in body}


def test_a_superadmin_sees_every_event_of_a_shared_member(
    as_root: TestClient, shared_bob: Person
) -> None:
    assert "2 events" in words(as_root.get(AUDIT + "&member=bob&event=membership.added"))
    [_header, *body] = read_csv(as_root.get("/admin/audit.csv?org=acme&member=bob"))
    kinds = [row[1] for row in body]
    assert (kinds.count("membership.added"), kinds.count("membership.removed")) == (2, 1)


def test_the_audit_page_names_members_and_actors(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    post_form(as_boss, reset_url(bob), {"reason": "lost phone"})
    table = audit_table(as_boss.get(AUDIT + "&event=two_factor.reset_by_admin"))
    assert [(who, by) for _label, who, by in table] == [("bob", "boss")]


def test_the_csv_export_is_streamed(as_boss: TestClient, runtime: Runtime, bob: Person) -> None:
    with as_boss.stream("GET", "/admin/audit.csv?org=acme") as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers  # sent as it is read, in chunks
        body = "".join(response.iter_text())
    assert body.startswith("time_utc,event,member,actor,ip,user_agent,detail")
    assert "two_factor.enabled" in body


def test_the_export_of_another_organizations_log_is_refused(
    as_boss: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "bank")
    assert as_boss.get("/admin/audit.csv?org=bank").status_code == 403
    assert as_boss.get("/admin/audit?org=bank").status_code == 403


# --- admins never see a secret or a code ---------------------------------------------------


def test_no_admin_page_shows_a_members_secret_or_recovery_codes(
    as_root: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    assert bob.secret is not None
    assert bob.recovery_codes is not None
    with browser(runtime) as bobs:  # bob signs in with a recovery code: an event of its own
        post_form(bobs, "/login", {"login": bob.login, "password": bob.password})
        post_form(bobs, "/login/recovery", {"code": bob.recovery_codes[0]})
    plain = encode_secret(bob.secret)
    secrets = [plain, group_for_display(plain), plain.lower()]
    codes = [code.lower() for code in bob.recovery_codes]
    codes += [code.replace("-", "") for code in codes]
    pages = [
        "/admin/members?org=acme",
        f"/admin/members/{bob.id}?org=acme",
        f"/admin/members/{bob.id}/reset?org=acme",
        f"/admin/members/{bob.id}/remove?org=acme",
        "/admin/audit?org=acme",
        f"/admin/audit?org=acme&member={bob.login}",
        "/admin/audit.csv?org=acme",
        f"/admin/audit.csv?org=acme&member={bob.login}",
        "/admin/policy?org=acme",
    ]
    for path in pages:
        response = as_root.get(path)
        assert response.status_code == 200, path
        body = response.text.lower()
        for secret in secrets:
            assert secret.lower() not in body, path
        for code in codes:
            assert code not in body, path


def test_the_console_offers_no_way_to_turn_2fa_on_for_someone(
    as_root: TestClient, runtime: Runtime, acme: None
) -> None:
    carol = member(runtime, "carol")
    page = as_root.get(f"/admin/members/{carol.id}?org=acme").text
    assert "setup" not in page.lower()
    assert "Reset 2FA" not in page  # nothing to reset either


# --- invitations ---------------------------------------------------------------------------


INVITE = "/admin/invite?org=acme"
NEW = "new.person@example.org"


def invite_link(as_admin: TestClient, runtime: Runtime, role: str = "member") -> str:
    response = post_form(as_admin, INVITE, {"email": NEW, "role": role})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == MEMBERS + "&notice=invited"
    [body] = mail_to(runtime, NEW)
    match = INVITE_LINK.search(body)
    assert match, body
    return match.group(1)


@pytest.fixture
def required_acme(runtime: Runtime, acme: None) -> None:
    set_policy(runtime, "acme", TwoFactorPolicy.REQUIRED, grace_days=0)


def test_the_invite_page_says_what_the_person_gets(
    as_boss: TestClient, required_acme: None
) -> None:
    page = words(as_boss.get(INVITE))
    assert "Invite someone to Acme Inc." in page
    assert "then set up two-factor authentication" in page


def test_an_invitation_queues_an_email_with_a_link(
    as_boss: TestClient, runtime: Runtime, boss: Person
) -> None:
    link = invite_link(as_boss, runtime, role="admin")
    assert link.startswith("/invite/")
    [event] = events(runtime, AuditEventType.INVITATION_SENT)
    assert event.actor_id == boss.id
    assert '"role": "admin"' in event.detail


def test_inviting_an_address_that_has_an_account_is_refused(
    as_boss: TestClient, runtime: Runtime, bob: Person
) -> None:
    token = csrf_token(as_boss, INVITE)
    before = snapshot(runtime)
    response = as_boss.post(
        INVITE, data={"email": "BOB@example.org", "role": "member", "csrf_token": token}
    )
    assert response.status_code == 400
    assert "Someone already has an account with that address" in text_of(response)
    assert snapshot(runtime) == before


def test_inviting_with_an_unknown_role_is_refused(as_boss: TestClient, runtime: Runtime) -> None:
    response = post_form(as_boss, INVITE, {"email": NEW, "role": "owner"})
    assert response.status_code == 400
    assert "The role must be 'member' or 'admin'." in text_of(response)
    assert mail_to(runtime, NEW) == []


def test_the_invitation_page_shows_the_organization_and_address(
    as_boss: TestClient, runtime: Runtime
) -> None:
    link = invite_link(as_boss, runtime)
    with browser(runtime) as newcomer:
        page = newcomer.get(link)
        assert page.status_code == 200
        assert "Join Acme Inc." in text_of(page)
        assert NEW in text_of(page)


def test_accepting_creates_the_user_with_the_role_and_a_verified_address(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    link = invite_link(as_boss, runtime, role="admin")
    with browser(runtime) as newcomer:
        response = post_form(newcomer, link, {"login": "newbie", "password": STRONG_PASSWORD})
        assert response.status_code == 303
    with runtime.db() as db:
        user = users.get_by_login(db, "newbie")
        assert (user.email, user.email_verified_at) == (NEW, clock.now())
        roles = [(m.organization.slug, m.role) for m in user.memberships]
    assert roles == [("acme", "admin")]


def test_accepting_signs_in_and_lands_on_setup_where_2fa_is_required(
    as_boss: TestClient, runtime: Runtime, required_acme: None
) -> None:
    link = invite_link(as_boss, runtime)
    with browser(runtime) as newcomer:
        response = post_form(newcomer, link, {"login": "newbie", "password": STRONG_PASSWORD})
        assert response.status_code == 303
        assert response.headers["location"] == SETUP
        page = newcomer.get(SETUP)
        assert page.status_code == 200
        assert "Acme Inc. requires two-factor authentication." in words(page)
        assert newcomer.get(SECURITY).headers["location"] == SETUP


def test_accepting_where_2fa_is_optional_lands_on_the_account(
    as_boss: TestClient, runtime: Runtime
) -> None:
    link = invite_link(as_boss, runtime)
    with browser(runtime) as newcomer:
        response = post_form(newcomer, link, {"login": "newbie", "password": STRONG_PASSWORD})
        assert response.headers["location"] == SECURITY
        assert newcomer.get(SECURITY).status_code == 200


def test_an_invitation_link_works_once(as_boss: TestClient, runtime: Runtime) -> None:
    link = invite_link(as_boss, runtime)
    with browser(runtime) as newcomer:
        post_form(newcomer, link, {"login": "newbie", "password": STRONG_PASSWORD})
    with browser(runtime) as again:
        response = again.get(link)
        assert response.status_code == 404
        assert "This link is not valid." in text_of(response)


@pytest.mark.parametrize(
    ("login", "password", "message"),
    [
        ("newbie", "password1234", "password"),
        ("boss", STRONG_PASSWORD, "That login name is taken. Choose another."),
        ("x", STRONG_PASSWORD, "A login name is 2 to 64 characters"),
    ],
)
def test_a_refused_acceptance_says_why_and_leaves_the_link_usable(
    as_boss: TestClient, runtime: Runtime, login: str, password: str, message: str
) -> None:
    link = invite_link(as_boss, runtime)
    with browser(runtime) as newcomer:
        response = post_form(newcomer, link, {"login": login, "password": password})
        assert response.status_code == 400
        assert message in text_of(response)
        assert 'role="alert"' in response.text
        again = post_form(newcomer, link, {"login": "newbie", "password": STRONG_PASSWORD})
        assert again.status_code == 303
    with runtime.db() as db:
        assert users.find_by_login_or_email(db, "newbie") is not None


def test_a_forged_invitation_link_is_a_404(client: TestClient, acme: None) -> None:
    response = client.get("/invite/not-a-real-token")
    assert response.status_code == 404
    assert "This link is not valid." in text_of(response)


def test_posting_to_a_forged_invitation_link_is_a_404(client: TestClient, acme: None) -> None:
    token = csrf_token(client, "/login")
    response = client.post(
        "/invite/forged",
        data={"login": "newbie", "password": STRONG_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 404


def test_an_invitation_email_is_queued_not_sent_in_the_request(
    as_boss: TestClient, runtime: Runtime
) -> None:
    post_form(as_boss, INVITE, {"email": NEW, "role": "member"})
    with runtime.db() as db:
        row = db.scalar(select(OutgoingEmail).where(OutgoingEmail.recipient == NEW))
        assert row is not None
        assert row.sent_at is None
        assert row.kind == "invitation"


def test_inviting_to_another_organization_is_refused(as_boss: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "bank")
    response = post_with_token(as_boss, "/admin/invite?org=bank", {"email": NEW, "role": "admin"})
    assert response.status_code == 403
    assert mail_to(runtime, NEW) == []
    assert events(runtime, AuditEventType.INVITATION_SENT) == []


def test_an_invited_admin_must_set_up_2fa_even_where_it_is_optional(
    as_boss: TestClient, runtime: Runtime
) -> None:
    link = invite_link(as_boss, runtime, role="admin")
    with browser(runtime) as newcomer:
        response = post_form(newcomer, link, {"login": "newbie", "password": STRONG_PASSWORD})
        assert response.headers["location"] == SETUP
        assert "Administrators must use two-factor authentication." in words(newcomer.get(SETUP))


def test_the_header_links_to_the_console_for_admins_only(
    as_boss: TestClient, runtime: Runtime, clock: FixedClock, bob: Person
) -> None:
    assert 'href="/admin"' in as_boss.get(SECURITY).text
    with browser(runtime) as bobs:
        sign_in(bobs, bob, clock)
        assert 'href="/admin"' not in bobs.get(SECURITY).text
