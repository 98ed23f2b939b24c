"""The security page lists the applications a person signed in to through Twofold, each with
a Revoke button; revoking one ends its grants. Someone else's application is not found."""

from __future__ import annotations

from asgi_client import TestClient
from support import (
    Person,
    make_client,
    make_grant,
    make_org,
    make_person,
    post_form,
    revoked,
    sign_in,
    snapshot,
    text_of,
)
from twofold.services.runtime import Runtime


def revoke(client: TestClient, client_id: str) -> int:
    response = post_form(
        client, "/account/security", {}, action=f"/account/applications/{client_id}/revoke"
    )
    return response.status_code


def test_with_no_application_the_page_says_so(client: TestClient, alice: Person) -> None:
    sign_in(client, alice)
    page = text_of(client.get("/account/security"))
    assert "Connected applications" in page
    assert "You are not signed in to any application with this account." in page


def test_the_page_lists_each_application_once_with_its_organization(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    make_org(runtime, "acme", name="Acme Corp")
    grafana = make_client(runtime, "Grafana", slug="acme")
    make_grant(runtime, alice, grafana)
    make_grant(runtime, alice, grafana)
    make_grant(runtime, alice, make_client(runtime, "Wiki"))
    sign_in(client, alice)
    page = text_of(client.get("/account/security"))
    assert page.count("<strong>Grafana</strong> · Acme Corp") == 1
    assert "<strong>Wiki</strong> · Default organization" in page
    assert f'action="/account/applications/{grafana}/revoke"' in page
    assert 'aria-label="Revoke Grafana"' in page
    assert "not signed in to any application" not in page


def test_revoking_an_application_signs_the_person_out_of_it(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    grafana = make_client(runtime, "Grafana")
    grants = [make_grant(runtime, alice, grafana), make_grant(runtime, alice, grafana)]
    wiki = make_grant(runtime, alice, make_client(runtime, "Wiki"))
    sign_in(client, alice)
    response = post_form(
        client, "/account/security", {}, action=f"/account/applications/{grafana}/revoke"
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account/security?notice=application_revoked"
    assert [revoked(runtime, grant) for grant in grants] == ["revoked_by_user"] * 2
    assert revoked(runtime, wiki) is None
    page = text_of(client.get(response.headers["location"]))
    assert "The application is disconnected: it must ask you to sign in again." in page
    assert "<strong>Grafana</strong>" not in page
    assert "<strong>Wiki</strong>" in page
    assert "Application access revoked" in page  # in the recent security events


def test_another_persons_application_cannot_be_revoked(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    bob = make_person(runtime, "bob")
    bobs_app = make_client(runtime, "Bob's app")
    bobs = make_grant(runtime, bob, bobs_app)
    sign_in(client, alice)
    before = snapshot(runtime, skip=("auth_sessions",))
    assert revoke(client, bobs_app) == 404
    assert revoke(client, "no-such-client") == 404
    assert revoked(runtime, bobs) is None
    assert snapshot(runtime, skip=("auth_sessions",)) == before


def test_revoking_needs_the_forms_csrf_token_and_a_signed_in_person(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    grafana = make_client(runtime, "Grafana")
    grant = make_grant(runtime, alice, grafana)
    assert client.post(f"/account/applications/{grafana}/revoke").status_code in {303, 403}
    sign_in(client, alice)
    assert client.post(f"/account/applications/{grafana}/revoke").status_code == 403
    assert revoked(runtime, grant) is None
