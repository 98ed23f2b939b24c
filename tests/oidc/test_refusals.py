"""What a client or a browser gets wrong is refused with the protocol's error, and changes
nothing else; a replayed code ends everything it gave."""

from __future__ import annotations

import json

from sqlalchemy import select

from asgi_client import TestClient
from oidc.conftest import (
    Rp,
    callback_params,
    exchange,
    onward_target,
    sign_in_for,
    sign_in_through,
)
from support import Person, snapshot, text_of
from twofold.core.audit_events import AuditEventType
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, OidcGrant


def events(runtime: Runtime, event: AuditEventType) -> list[dict[str, object]]:
    with runtime.db() as db:
        rows = db.scalars(select(AuditEvent).where(AuditEvent.event == event.value))
        return [json.loads(row.detail) for row in rows]


def userinfo_status(client: TestClient, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    return client.get("/oidc/userinfo", headers=headers).status_code


# --- the authorization request -------------------------------------------------------------


def test_an_unknown_client_gets_an_error_page_and_no_redirect(client: TestClient, rp: Rp) -> None:
    response = client.get(Rp(client_id="nobody", secret=None).authorize_url())
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "names an application Twofold does not know" in text_of(response)


def test_an_unregistered_redirect_uri_is_never_redirected_to(client: TestClient, rp: Rp) -> None:
    for uri in ("https://evil.example/callback", rp.redirect_uri + "/", rp.redirect_uri + "?x=1"):
        response = client.get(rp.authorize_url(redirect_uri=uri))
        assert response.status_code == 400
        assert "location" not in response.headers
        assert "did not register" in text_of(response)


def test_a_public_client_without_pkce_is_sent_back_with_invalid_request(
    client: TestClient, public_rp: Rp
) -> None:
    response = client.get(public_rp.authorize_url(pkce=False))
    assert response.status_code == 303
    params = callback_params(response.headers["location"], public_rp)
    assert params["error"] == "invalid_request"
    assert params["state"] == public_rp.state


def test_only_s256_is_accepted(client: TestClient, rp: Rp) -> None:
    response = client.get(rp.authorize_url(code_challenge_method="plain"))
    assert callback_params(response.headers["location"], rp)["error"] == "invalid_request"


def test_only_the_code_flow_and_the_openid_scope(client: TestClient, rp: Rp) -> None:
    token = client.get(rp.authorize_url(response_type="token"))
    assert callback_params(token.headers["location"], rp)["error"] == "unsupported_response_type"
    no_openid = client.get(rp.authorize_url(scope="profile"))
    assert callback_params(no_openid.headers["location"], rp)["error"] == "invalid_scope"


def test_a_repeated_parameter_is_refused_on_the_page(client: TestClient, rp: Rp) -> None:
    response = client.get(rp.authorize_url() + "&client_id=another")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_someone_outside_the_organization_sees_why_and_the_client_gets_access_denied(
    client: TestClient, rp: Rp, outsider: Person, runtime: Runtime
) -> None:
    client.get(rp.authorize_url())
    page = sign_in_for(client, outsider)
    assert page.status_code == 403
    assert "not a member of the organization that uses" in text_of(page)
    back = text_of(page).split('id="back-to-application" href="')[1].split('"')[0]
    params = callback_params(back, rp)
    assert params["error"] == "access_denied"
    assert params["state"] == rp.state
    assert "code" not in params
    assert events(runtime, AuditEventType.OIDC_SIGN_IN_REFUSED)[0]["reason"] == "not_a_member"
    with runtime.db() as db:
        assert db.scalars(select(OidcGrant)).all() == []


# --- the token request ---------------------------------------------------------------------


def test_a_wrong_client_secret_is_refused_and_changes_nothing(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    code = sign_in_through(client, rp, password_member)["code"]
    before = snapshot(runtime, skip=("audit_events",))
    wrong = Rp(client_id=rp.client_id, secret="not-the-secret")
    for how in ("basic", "post"):
        response = exchange(client, wrong, code, how=how)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
    assert exchange(client, rp, code, how="none").json()["error"] == "invalid_client"
    assert snapshot(runtime, skip=("audit_events",)) == before
    reasons = [e["reason"] for e in events(runtime, AuditEventType.OIDC_TOKEN_REFUSED)]
    assert reasons == ["client_authentication_failed"] * 3
    assert exchange(client, rp, code).status_code == 200  # the code was not used up


def test_a_pkce_mismatch_is_refused(
    client: TestClient, public_rp: Rp, password_member: Person
) -> None:
    code = sign_in_through(client, public_rp, password_member)["code"]
    wrong = exchange(client, public_rp, code, how="none", code_verifier="x" * 43)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    missing = exchange(client, public_rp, code, how="none", code_verifier="")
    assert missing.json()["error"] == "invalid_grant"


def test_a_verifier_without_a_challenge_is_refused(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    client.get(rp.authorize_url(pkce=False))
    code = callback_params(onward_target(sign_in_for(client, password_member)), rp)["code"]
    assert exchange(client, rp, code).json()["error"] == "invalid_grant"


def test_the_redirect_uri_must_be_the_one_of_the_request(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    code = sign_in_through(client, rp, password_member)["code"]
    response = exchange(client, rp, code, redirect_uri="https://app.example/other")
    assert response.json()["error"] == "invalid_grant"


def test_a_code_works_only_for_its_own_client(
    client: TestClient, rp: Rp, register: object, password_member: Person
) -> None:
    other: Rp = register(name="Nextcloud")  # type: ignore[operator]
    code = sign_in_through(client, rp, password_member)["code"]
    response = exchange(client, other, code, code_verifier=rp.verifier)
    assert response.json()["error"] == "invalid_grant"
    assert exchange(client, rp, code).status_code == 200


def test_a_replayed_code_fails_and_ends_the_tokens_it_gave(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    code = sign_in_through(client, rp, password_member)["code"]
    first = exchange(client, rp, code).json()
    assert userinfo_status(client, first["access_token"]) == 200
    replay = exchange(client, rp, code)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert userinfo_status(client, first["access_token"]) == 401
    with runtime.db() as db:
        grant = db.scalars(select(OidcGrant)).one()
        assert grant.revoked_reason == "code_replayed"
    assert events(runtime, AuditEventType.OIDC_GRANTS_REVOKED)[0]["reason"] == "code_replayed"


def test_a_code_expires_after_sixty_seconds(
    client: TestClient, rp: Rp, password_member: Person, clock: FixedClock
) -> None:
    code = sign_in_through(client, rp, password_member)["code"]
    clock.advance(61)
    response = exchange(client, rp, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_an_unknown_code_and_an_unknown_grant_type(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    assert exchange(client, rp, "made-up").json()["error"] == "invalid_grant"
    assert rp.secret is not None
    other = client.post(
        "/oidc/token", data={"grant_type": "password"}, auth=(rp.client_id, rp.secret)
    )
    assert other.json()["error"] == "unsupported_grant_type"


def test_every_issued_token_is_in_the_audit_log(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock, runtime: Runtime
) -> None:
    exchange(client, rp, sign_in_through(client, rp, member, clock)["code"])
    (issued,) = events(runtime, AuditEventType.OIDC_TOKEN_ISSUED)
    assert issued["client_id"] == rp.client_id
    assert issued["amr"] == "pwd otp mfa"
    assert issued["acr"] == "urn:twofold:acr:mfa"
