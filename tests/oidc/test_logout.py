"""RP-initiated logout: with a valid id_token_hint the person is signed out and sent to the
registered address; without one, Twofold asks first."""

from __future__ import annotations

from urllib.parse import urlencode

from asgi_client import TestClient
from oidc.conftest import AFTER_LOGOUT, Rp, exchange, onward_target, sign_in_through
from support import Person, csrf_token, post_form, sign_in, text_of
from twofold.otp.clock import FixedClock


def signed_in_with_tokens(client: TestClient, rp: Rp, person: Person) -> dict[str, str]:
    body: dict[str, str] = exchange(client, rp, sign_in_through(client, rp, person)["code"]).json()
    return body


def logout_url(**params: str) -> str:
    return "/oidc/logout?" + urlencode(params)


def is_signed_in(client: TestClient) -> bool:
    return client.get("/account/security").status_code == 200


def test_a_valid_hint_signs_out_at_once_and_returns_to_the_application(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    tokens = signed_in_with_tokens(client, rp, password_member)
    response = client.get(
        logout_url(
            id_token_hint=tokens["id_token"],
            post_logout_redirect_uri=AFTER_LOGOUT,
            state="bye",
        )
    )
    assert response.status_code == 303
    assert response.headers["location"] == AFTER_LOGOUT + "?state=bye"
    assert not is_signed_in(client)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/oidc/userinfo", headers=headers).status_code == 401


def test_without_a_hint_twofold_asks_before_signing_out(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    signed_in_with_tokens(client, rp, password_member)
    url = logout_url(client_id=rp.client_id, post_logout_redirect_uri=AFTER_LOGOUT)
    page = client.get(url)
    assert page.status_code == 200
    assert "Sign out of Twofold?" in text_of(page)
    assert is_signed_in(client)
    confirmed = client.post(
        "/oidc/logout",
        data={
            "client_id": rp.client_id,
            "post_logout_redirect_uri": AFTER_LOGOUT,
            "state": "",
            "csrf_token": csrf_token(client, url),
        },
    )
    assert onward_target(confirmed) == AFTER_LOGOUT
    assert not is_signed_in(client)


def test_a_hint_for_someone_else_only_brings_the_question(
    client: TestClient, rp: Rp, password_member: Person, member: Person, clock: FixedClock
) -> None:
    tokens = signed_in_with_tokens(client, rp, password_member)
    post_form(client, "/account/security", {}, action="/logout")
    sign_in(client, member, clock)
    page = client.get(logout_url(id_token_hint=tokens["id_token"]))
    assert page.status_code == 200
    assert "Sign out of Twofold?" in text_of(page)
    assert is_signed_in(client)


def test_an_unregistered_address_after_logout_is_refused_on_the_page(
    client: TestClient, rp: Rp, password_member: Person
) -> None:
    tokens = signed_in_with_tokens(client, rp, password_member)
    response = client.get(
        logout_url(
            id_token_hint=tokens["id_token"],
            post_logout_redirect_uri="https://evil.example/",
        )
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert is_signed_in(client)
