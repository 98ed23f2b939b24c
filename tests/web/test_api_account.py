"""The person's own 2FA and sessions through /api/v1/me: the same services and rules as
/account/security (setup, recovery codes, turning off, policy demands, sessions)."""

from __future__ import annotations

import pyotp

from asgi_client import TestClient
from support import Person, api_sign_in, bearer, make_member, make_org, post_form, sign_in
from twofold.core.policy import Role, TwoFactorPolicy
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime


def test_setting_up_totp_turns_2fa_on_and_changes_the_token(
    client: TestClient, alice: Person, clock: FixedClock
) -> None:
    token = api_sign_in(client, alice)
    started = client.post("/api/v1/me/two-factor/totp", headers=bearer(token))
    assert started.status_code == 200
    secret = started.json()["secret"]
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    code = pyotp.TOTP(secret).at(int(clock.now().timestamp()))
    confirmed = client.post(
        "/api/v1/me/two-factor/totp/confirm", json={"code": code}, headers=bearer(token)
    )
    assert confirmed.status_code == 200
    body = confirmed.json()
    assert len(body["recovery_codes"]) == 10
    assert client.get("/api/v1/me/two-factor", headers=bearer(token)).status_code == 401
    status = client.get("/api/v1/me/two-factor", headers=bearer(body["token"])).json()
    assert status["enabled"] is True
    assert status["recovery_codes_left"] == 10
    again = client.post("/api/v1/me/two-factor/totp", headers=bearer(body["token"]))
    assert again.status_code == 409
    assert again.json()["error"] == "two_factor_already_enabled"


def test_a_wrong_setup_code_leaves_2fa_off(client: TestClient, alice: Person) -> None:
    token = api_sign_in(client, alice)
    client.post("/api/v1/me/two-factor/totp", headers=bearer(token))
    refused = client.post(
        "/api/v1/me/two-factor/totp/confirm", json={"code": "000000"}, headers=bearer(token)
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_code"
    assert client.get("/api/v1/me/two-factor", headers=bearer(token)).json()["enabled"] is False


def test_a_required_policy_allows_only_setup_until_2fa_is_on(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme", TwoFactorPolicy.REQUIRED)
    bob = make_member(runtime, "bob", "acme")
    answer = client.post("/api/v1/sign-in", json={"login": "bob", "password": bob.password})
    assert answer.json()["demand"] == "enroll"
    token = answer.json()["token"]
    refused = client.get("/api/v1/me/sessions", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "two_factor_setup_required"
    assert client.get("/api/v1/me/two-factor", headers=bearer(token)).json()["demand"] == "enroll"
    assert client.post("/api/v1/me/two-factor/totp", headers=bearer(token)).status_code == 200


def test_regenerating_recovery_codes_needs_the_password_and_ends_the_old_set(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    token = api_sign_in(client, alice_with_totp, clock)
    path = "/api/v1/me/two-factor/recovery-codes"
    wrong = client.post(path, json={"password": "not it"}, headers=bearer(token))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "wrong_password"
    made = client.post(path, json={"password": alice_with_totp.password}, headers=bearer(token))
    assert made.status_code == 200
    assert set(made.json()["recovery_codes"]).isdisjoint(alice_with_totp.recovery_codes or [])
    challenge = client.post(
        "/api/v1/sign-in", json={"login": "alice", "password": alice_with_totp.password}
    ).json()["challenge"]
    old = client.post(
        "/api/v1/sign-in/recovery-code",
        json={"challenge": challenge, "code": (alice_with_totp.recovery_codes or [""])[0]},
    )
    assert old.status_code == 400


def test_disabling_2fa_needs_the_password(
    client: TestClient, alice_with_totp: Person, clock: FixedClock
) -> None:
    token = api_sign_in(client, alice_with_totp, clock)
    path = "/api/v1/me/two-factor/disable"
    assert client.post(path, json={"password": "nope"}, headers=bearer(token)).status_code == 400
    done = client.post(path, json={"password": alice_with_totp.password}, headers=bearer(token))
    assert done.status_code == 204
    assert client.get("/api/v1/me/two-factor", headers=bearer(token)).json()["enabled"] is False


def test_an_admin_cannot_turn_2fa_off(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    make_org(runtime, "acme")
    ada = make_member(runtime, "ada", "acme", role=Role.ADMIN, with_totp=True)
    clock.advance(30)
    token = api_sign_in(client, ada, clock)
    refused = client.post(
        "/api/v1/me/two-factor/disable", json={"password": ada.password}, headers=bearer(token)
    )
    assert refused.status_code == 403
    assert refused.json()["error"] == "two_factor_required"


def test_the_sessions_list_shows_api_tokens_and_browsers_and_revokes_one(
    client: TestClient, alice: Person
) -> None:
    sign_in(client, alice)
    client.cookies.clear()
    first = api_sign_in(client, alice)
    second = api_sign_in(client, alice)
    listed = client.get("/api/v1/me/sessions", headers=bearer(first)).json()["sessions"]
    assert sorted(s["kind"] for s in listed) == ["api", "api", "browser"]
    current = next(s for s in listed if s["current"])
    other = next(s for s in listed if s["kind"] == "api" and not s["current"])
    ended = client.delete(f"/api/v1/me/sessions/{other['id']}", headers=bearer(first))
    assert ended.status_code == 204
    assert client.get("/api/v1/me/sessions", headers=bearer(second)).status_code == 401
    assert client.get("/api/v1/me/sessions", headers=bearer(first)).status_code == 200
    gone = client.delete(f"/api/v1/me/sessions/{other['id']}", headers=bearer(first))
    assert gone.status_code == 404
    assert current["id"] != other["id"]


def test_someone_elses_session_is_not_found(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "acme")
    bob = make_member(runtime, "bob", "acme")
    carol = make_member(runtime, "carol", "acme")
    bobs = api_sign_in(client, bob)
    carols = api_sign_in(client, carol)
    carol_session = client.get("/api/v1/me/sessions", headers=bearer(carols)).json()["sessions"]
    answer = client.delete(f"/api/v1/me/sessions/{carol_session[0]['id']}", headers=bearer(bobs))
    assert answer.status_code == 404
    assert client.get("/api/v1/me/sessions", headers=bearer(carols)).status_code == 200


def test_the_security_page_lists_an_api_token_and_signs_it_out(
    client: TestClient, alice: Person
) -> None:
    token = api_sign_in(client, alice)
    sign_in(client, alice)
    page = client.get("/account/security")
    assert "API token" in page.text
    assert client.get("/api/v1/me/sessions", headers=bearer(token)).status_code == 200
    with_token = next(
        s
        for s in client.get("/api/v1/me/sessions", headers=bearer(token)).json()["sessions"]
        if s["current"]
    )
    ended = post_form(
        client, "/account/security", {}, action=f"/account/sessions/{with_token['id']}/end"
    )
    assert ended.status_code == 303
    assert client.get("/api/v1/me/sessions", headers=bearer(token)).status_code == 401
