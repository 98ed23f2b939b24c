"""The admin endpoints honour exactly the console's scope rule (services.admin_scope), its
recorded refusals and its fresh-second-factor rule before a reset."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from asgi_client import TestClient
from support import Person, api_sign_in, bearer, make_member, make_org
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import Role
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, User

ADMIN = "/api/v1/admin"


def _team(runtime: Runtime, clock: FixedClock) -> tuple[Person, Person]:
    """Ada administers acme; Bob is a plain member of it with 2FA and a confirmed address."""
    make_org(runtime, "acme")
    ada = make_member(runtime, "ada", "acme", role=Role.ADMIN, with_totp=True)
    bob = make_member(runtime, "bob", "acme", with_totp=True)
    with runtime.db() as db:
        user = db.get(User, bob.id)
        assert user is not None
        user.email, user.email_verified_at = "bob@example.test", clock.now()
        db.commit()
    clock.advance(30)
    return ada, bob


def _refusals(runtime: Runtime) -> list[str]:
    with runtime.db() as db:
        return list(
            db.scalars(
                select(AuditEvent.detail).where(
                    AuditEvent.event == AuditEventType.ADMIN_ACTION_REFUSED.value
                )
            )
        )


def test_members_are_listed_with_their_2fa_status_a_page_at_a_time(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    ada, _bob = _team(runtime, clock)
    token = api_sign_in(client, ada, clock)
    first = client.get(
        f"{ADMIN}/organizations/acme/members", params={"per_page": 1}, headers=bearer(token)
    ).json()
    assert (first["total"], first["pages"], first["page"]) == (2, 2, 1)
    assert first["members"][0]["login"] == "ada"
    assert first["members"][0]["two_factor"] is True
    second = client.get(
        f"{ADMIN}/organizations/acme/members",
        params={"per_page": 1, "page": 2},
        headers=bearer(token),
    ).json()
    assert second["members"][0]["login"] == "bob"
    bad = client.get(
        f"{ADMIN}/organizations/acme/members", params={"per_page": 0}, headers=bearer(token)
    )
    assert bad.status_code == 422


def test_a_plain_member_is_refused_and_the_refusal_recorded(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    _ada, bob = _team(runtime, clock)
    token = api_sign_in(client, bob, clock)
    refused = client.get(f"{ADMIN}/organizations/acme/members", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert any("open_console" in detail for detail in _refusals(runtime))


def test_an_admin_cannot_open_another_organization(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    ada, _bob = _team(runtime, clock)
    make_org(runtime, "globex")
    token = api_sign_in(client, ada, clock)
    for path in ("members", "policy", "audit-events"):
        answer = client.get(f"{ADMIN}/organizations/globex/{path}", headers=bearer(token))
        assert answer.status_code == 403
    unknown = client.get(f"{ADMIN}/organizations/nosuch/members", headers=bearer(token))
    assert unknown.status_code == 403  # the same answer: which organizations exist is not told


def test_a_reset_asks_the_admins_code_when_their_second_factor_is_not_fresh(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    ada, bob = _team(runtime, clock)
    token = api_sign_in(client, ada, clock)
    bobs = api_sign_in(client, bob, clock)
    clock.advance(11 * 60)
    path = f"{ADMIN}/members/{bob.id}/reset-2fa"
    asked = client.post(path, json={"reason": "lost phone"}, headers=bearer(token))
    assert asked.status_code == 400
    assert asked.json()["error"] == "invalid_input"
    assert client.get("/api/v1/me/two-factor", headers=bearer(bobs)).status_code == 200
    done = client.post(
        path, json={"reason": "lost phone", "code": ada.totp(clock)}, headers=bearer(token)
    )
    assert done.status_code == 204
    # Bob's sessions ended, his 2FA is gone, and the reset is in the audit log.
    assert client.get("/api/v1/me/two-factor", headers=bearer(bobs)).status_code == 401
    listed = client.get(
        f"{ADMIN}/organizations/acme/members", params={"q": "bob"}, headers=bearer(token)
    ).json()["members"][0]
    assert (listed["two_factor"], listed["reset_pending"]) == (False, True)
    events = client.get(
        f"{ADMIN}/organizations/acme/audit-events",
        params={"event": AuditEventType.TWO_FACTOR_RESET_BY_ADMIN.value},
        headers=bearer(token),
    ).json()
    assert [(e["member"], e["actor"]) for e in events["events"]] == [("bob", "ada")]


def test_an_organization_admin_cannot_reset_another_admin(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    ada, _bob = _team(runtime, clock)
    eve = make_member(runtime, "eve", "acme", role=Role.ADMIN, with_totp=True)
    token = api_sign_in(client, ada, clock)
    refused = client.post(
        f"{ADMIN}/members/{eve.id}/reset-2fa", json={"reason": "why not"}, headers=bearer(token)
    )
    assert refused.status_code == 403
    self_reset = client.post(f"{ADMIN}/members/{ada.id}/unlock", headers=bearer(token))
    assert self_reset.status_code == 403
    assert len(_refusals(runtime)) == 2


def test_unlock_clears_a_members_lock(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    ada, bob = _team(runtime, clock)
    challenge = client.post(
        "/api/v1/sign-in", json={"login": "bob", "password": bob.password}
    ).json()["challenge"]
    for _ in range(10):
        client.post("/api/v1/sign-in/code", json={"challenge": challenge, "code": "000000"})
    token = api_sign_in(client, ada, clock)
    listed = client.get(
        f"{ADMIN}/organizations/acme/members", params={"status": "locked"}, headers=bearer(token)
    ).json()
    assert [m["login"] for m in listed["members"]] == ["bob"]
    assert client.post(f"{ADMIN}/members/{bob.id}/unlock", headers=bearer(token)).status_code == 204
    clock.advance(30)
    again = client.post(
        "/api/v1/sign-in/code", json={"challenge": challenge, "code": bob.totp(clock)}
    )
    assert again.status_code == 200


def test_the_policy_is_read_and_set(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    ada, bob = _team(runtime, clock)
    bobs = api_sign_in(client, bob, clock)
    token = api_sign_in(client, ada, clock)
    path = f"{ADMIN}/organizations/acme/policy"
    assert client.get(path, headers=bearer(token)).json()["two_factor"] == "optional"
    applied = client.put(
        path,
        json={"two_factor": "required", "grace_days": 7, "sign_out_everyone": True},
        headers=bearer(token),
    )
    assert applied.status_code == 200
    body = applied.json()
    assert (body["two_factor"], body["grace_days"], body["sessions_ended"]) == ("required", 7, 1)
    assert client.get("/api/v1/me/sessions", headers=bearer(bobs)).status_code == 401
    assert client.get(path, headers=bearer(token)).status_code == 200  # the admin's own stays
    out_of_range = client.put(
        path, json={"two_factor": "required", "grace_days": 9999}, headers=bearer(token)
    )
    assert out_of_range.status_code == 422
    events = client.get(
        f"{ADMIN}/organizations/acme/audit-events",
        params={"since": datetime(2000, 1, 1, tzinfo=UTC).isoformat()},
        headers=bearer(token),
    ).json()
    assert AuditEventType.ORGANIZATION_POLICY_CHANGED.value in {
        e["event"] for e in events["events"]
    }
