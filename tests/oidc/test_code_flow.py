"""The authorization code flow end to end through the TestClient: discovery, keys, the
sign-in on Twofold's pages, the code exchange, the ID token and userinfo."""

from __future__ import annotations

from typing import Any

import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jws, jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from asgi_client import TestClient
from oidc.conftest import (
    ISSUER,
    Rp,
    callback_params,
    exchange,
    id_claims,
    onward_target,
    refresh,
    sign_in_for,
    sign_in_through,
)
from support import START, Person, text_of
from twofold.core.errors import InvalidInput
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import OidcClient, OidcToken, User


def test_discovery_names_the_issuer_exactly_and_every_endpoint_under_it(
    client: TestClient, org: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = client.get("/.well-known/openid-configuration").json()
    assert document["issuer"] == ISSUER
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test issuer is http
    OpenIDProviderMetadata(document).validate()
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert document[name].startswith(ISSUER + "/")
    assert document["end_session_endpoint"] == ISSUER + "/oidc/logout"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert document["acr_values_supported"] == [
        "urn:twofold:acr:pwd",
        "urn:twofold:acr:mfa",
        "urn:twofold:acr:phr",
    ]
    assert document["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]


def test_jwks_publishes_public_keys_only(client: TestClient, org: str) -> None:
    keys = client.get("/oidc/jwks").json()["keys"]
    assert sorted(key["alg"] for key in keys) == ["ES256", "RS256"]
    for key in keys:
        assert key["use"] == "sig"
        assert key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_password_and_code_sign_in_gives_a_signed_id_token_saying_mfa(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock
) -> None:
    signed_in_at = clock.now()
    callback = sign_in_through(client, rp, member, clock)
    assert callback["state"] == rp.state
    clock.advance(5)
    response = exchange(client, rp, callback["code"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "refresh_token" not in body  # no offline_access asked
    claims = id_claims(client, body["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["aud"] == rp.client_id
    assert claims["nonce"] == rp.nonce
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "urn:twofold:acr:mfa"
    assert claims["auth_time"] == int(signed_in_at.timestamp())
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["preferred_username"] == "mia"
    assert claims["sub"] not in ("mia", str(member.id))
    assert len(claims["sub"]) >= 40


def test_a_recovery_code_is_a_one_time_password_too(
    client: TestClient, rp: Rp, member: Person
) -> None:
    client.get(rp.authorize_url())
    callback = callback_params(onward_target(sign_in_for(client, member, recovery=True)), rp)
    claims = id_claims(client, exchange(client, rp, callback["code"]).json()["id_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["acr"] == "urn:twofold:acr:mfa"


def test_password_alone_says_pwd(client: TestClient, rp: Rp, password_member: Person) -> None:
    callback = sign_in_through(client, rp, password_member)
    claims = id_claims(client, exchange(client, rp, callback["code"]).json()["id_token"])
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:twofold:acr:pwd"


def test_the_subject_is_the_same_at_every_sign_in(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    first_code = sign_in_through(client, rp, password_member)["code"]
    first = id_claims(client, exchange(client, rp, first_code).json()["id_token"])
    second_code = callback_params(client.get(rp.authorize_url()).headers["location"], rp)["code"]
    second = id_claims(client, exchange(client, rp, second_code).json()["id_token"])
    assert first["sub"] == second["sub"]
    with runtime.db() as db:
        user = db.get(User, password_member.id)
        assert user is not None
        assert user.oidc_subject == first["sub"]


def test_a_signed_in_person_goes_straight_back_to_the_application(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock
) -> None:
    sign_in_through(client, rp, member, clock)
    response = client.get(rp.authorize_url())
    assert response.status_code == 303
    assert callback_params(response.headers["location"], rp)["code"]


def test_the_sign_in_page_names_the_application(client: TestClient, rp: Rp, member: Person) -> None:
    client.get(rp.authorize_url())
    page = client.get("/login?oidc=1")
    assert "Sign in to continue to <strong>Grafana</strong>" in text_of(page)


def test_userinfo_answers_with_the_access_token(
    client: TestClient, rp: Rp, runtime: Runtime, password_member: Person
) -> None:
    with runtime.db() as db:
        user = db.get(User, password_member.id)
        assert user is not None
        user.email = "pam@example.org"
        user.email_verified_at = START
        db.commit()
    body = exchange(client, rp, sign_in_through(client, rp, password_member)["code"]).json()
    info = client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    claims = info.json()
    assert claims["sub"] == id_claims(client, body["id_token"])["sub"]
    assert claims["preferred_username"] == "pam"
    assert claims["name"] == "pam"
    assert claims["email"] == "pam@example.org"
    assert claims["email_verified"] is True


def test_userinfo_refuses_an_unknown_or_expired_token(
    client: TestClient, rp: Rp, password_member: Person, clock: FixedClock
) -> None:
    unknown = client.get("/oidc/userinfo", headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    assert unknown.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    body = exchange(client, rp, sign_in_through(client, rp, password_member)["code"]).json()
    clock.advance(3601)
    expired = client.get(
        "/oidc/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert expired.status_code == 401


def test_access_tokens_are_stored_only_as_digests(
    client: TestClient, rp: Rp, password_member: Person, runtime: Runtime
) -> None:
    body = exchange(client, rp, sign_in_through(client, rp, password_member)["code"]).json()
    with runtime.db() as db:
        stored = [row.token_digest for row in db.query(OidcToken)]
    assert stored
    assert all(body["access_token"].encode() not in digest for digest in stored)


def test_a_public_client_signs_in_with_pkce_and_no_secret(
    client: TestClient, public_rp: Rp, password_member: Person
) -> None:
    callback = sign_in_through(client, public_rp, password_member)
    response = exchange(client, public_rp, callback["code"], how="none")
    assert response.status_code == 200, response.text


def test_client_secret_post_works_like_basic(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    callback = sign_in_through(client, rp, password_member)
    assert exchange(client, rp, callback["code"], how="post").status_code == 200


def test_a_confidential_client_may_skip_pkce(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    client.get(rp.authorize_url(pkce=False))
    callback = callback_params(onward_target(sign_in_for(client, password_member)), rp)
    response = exchange(client, rp, callback["code"], code_verifier=None)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text


def test_a_client_registered_for_es256_gets_es256_id_tokens(
    client: TestClient, register: Any, member: Person, clock: FixedClock
) -> None:
    rp = register(name="Gitea", id_token_alg="ES256")
    callback = sign_in_through(client, rp, member, clock, scope="openid offline_access")
    body = exchange(client, rp, callback["code"]).json()
    key_set = KeySet.import_key_set(client.get("/oidc/jwks").json())
    for id_token in (
        body["id_token"],
        refresh(client, rp, body["refresh_token"]).json()["id_token"],
    ):
        header = jws.extract_compact(id_token.encode()).headers()
        assert header["alg"] == "ES256"
        assert key_set.get_by_kid(header["kid"]).as_dict()["kty"] == "EC"
        claims = jwt.decode(id_token, key_set, algorithms=["ES256"]).claims
        assert claims["aud"] == rp.client_id


def test_clients_sign_with_rs256_unless_they_chose_otherwise(
    client: TestClient, rp: Rp, member: Person, clock: FixedClock
) -> None:
    callback = sign_in_through(client, rp, member, clock)
    id_token = exchange(client, rp, callback["code"]).json()["id_token"]
    assert jws.extract_compact(id_token.encode()).headers()["alg"] == "RS256"


@pytest.mark.parametrize("alg", ["HS256", "none", "RS512", ""])
def test_only_rs256_and_es256_may_be_chosen(runtime: Runtime, register: Any, alg: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        register(id_token_alg=alg)
    assert refused.value.field == "id_token_alg"
    with runtime.db() as db:
        assert db.scalar(select(func.count()).select_from(OidcClient)) == 0
