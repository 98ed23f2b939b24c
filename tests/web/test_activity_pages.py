"""The person's own view on /account/security: recent security events and the browsers that
are signed in, with sign-out for one of them or for all the others."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from apps import browser
from asgi_client import TestClient
from support import Person, csrf_token, make_person, post_form, sign_in, snapshot, text_of
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import AuthSession

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:124.0) Gecko/20100101 Firefox/124.0"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
END_FORM = re.compile(r'action="/account/sessions/(\d+)/end"')
SECURITY = "/account/security"


@contextmanager
def another_browser(runtime: Runtime, user_agent: str) -> Iterator[TestClient]:
    with browser(runtime, headers={"User-Agent": user_agent}) as other:
        yield other


@pytest.fixture
def laptop(client: TestClient) -> TestClient:
    client.headers["User-Agent"] = FIREFOX_ON_WINDOWS
    return client


def session_ids(runtime: Runtime, person: Person) -> list[int]:
    with runtime.db() as db:
        return list(
            db.scalars(
                select(AuthSession.id)
                .where(AuthSession.user_id == person.id)
                .order_by(AuthSession.id)
            )
        )


def signed_in(browser: TestClient) -> bool:
    return browser.get(SECURITY).status_code == 200


def test_recent_events_show_time_event_ip_and_browser(
    laptop: TestClient, alice: Person, clock: FixedClock
) -> None:
    clock.advance(90)
    post_form(laptop, "/login", {"login": "alice", "password": "wrong password, sorry"})
    sign_in(laptop, alice)
    page = text_of(laptop.get(SECURITY))
    assert "Recent security events" in page
    assert f"<td>{clock.now():%Y-%m-%d %H:%M}</td>" in page
    assert "<td>Signed in</td>" in page
    assert "<td>Wrong password entered</td>" in page
    assert "<td>Account created</td>" in page
    assert "testclient<br>" in page  # the address the request came from
    assert "Firefox on Windows" in page


def test_events_of_other_people_are_not_shown(
    laptop: TestClient, runtime: Runtime, alice: Person
) -> None:
    bob = make_person(runtime, "bob")
    with another_browser(runtime, SAFARI_ON_IPHONE) as phone:
        sign_in(phone, bob)
    sign_in(laptop, alice)
    page = text_of(laptop.get(SECURITY))
    assert "Safari on iPhone" not in page


def test_active_sessions_are_listed_with_this_browser_marked(
    laptop: TestClient, runtime: Runtime, alice: Person
) -> None:
    with another_browser(runtime, SAFARI_ON_IPHONE) as phone:
        sign_in(phone, alice)
        sign_in(laptop, alice)
        page = text_of(laptop.get(SECURITY))
    assert "Where you're signed in" in page
    assert "<strong>Firefox on Windows</strong> — this browser" in page
    assert "<strong>Safari on iPhone</strong><br>" in page
    phone_id, _laptop_id = session_ids(runtime, alice)
    assert END_FORM.findall(page) == [str(phone_id)]  # no sign-out button for this browser
    assert "Sign out all other sessions" in page


def test_a_single_session_offers_no_sign_out_of_others(laptop: TestClient, alice: Person) -> None:
    sign_in(laptop, alice)
    page = text_of(laptop.get(SECURITY))
    assert END_FORM.findall(page) == []
    assert "Sign out all other sessions" not in page


def test_signing_out_another_session_signs_that_browser_out(
    laptop: TestClient, runtime: Runtime, alice: Person
) -> None:
    with (
        another_browser(runtime, SAFARI_ON_IPHONE) as phone,
        another_browser(runtime, SAFARI_ON_IPHONE) as tablet,
    ):
        sign_in(phone, alice)
        sign_in(tablet, alice)
        sign_in(laptop, alice)
        phone_id = session_ids(runtime, alice)[0]
        response = post_form(laptop, SECURITY, {}, action=f"/account/sessions/{phone_id}/end")
        assert response.status_code == 303
        assert response.headers["location"] == "/account/security?notice=session_ended"
        assert "That session is signed out." in text_of(laptop.get(response.headers["location"]))
        assert not signed_in(phone)
        assert phone.get(SECURITY).headers["location"] == "/login"
        assert signed_in(tablet)
        assert signed_in(laptop)


def test_signing_out_all_other_sessions_keeps_only_this_one(
    laptop: TestClient, runtime: Runtime, alice: Person
) -> None:
    bob = make_person(runtime, "bob")
    with (
        another_browser(runtime, SAFARI_ON_IPHONE) as phone,
        another_browser(runtime, SAFARI_ON_IPHONE) as tablet,
        another_browser(runtime, SAFARI_ON_IPHONE) as bobs,
    ):
        sign_in(phone, alice)
        sign_in(tablet, alice)
        sign_in(bobs, bob)
        sign_in(laptop, alice)
        response = post_form(laptop, SECURITY, {}, action="/account/sessions/end-others")
        assert response.headers["location"] == "/account/security?notice=others_ended"
        assert "All your other sessions are signed out." in text_of(
            laptop.get(response.headers["location"])
        )
        assert not signed_in(phone)
        assert not signed_in(tablet)
        assert signed_in(laptop)
        assert signed_in(bobs)
    assert len(session_ids(runtime, alice)) == 1


def test_ending_another_persons_session_is_not_found_and_changes_nothing(
    laptop: TestClient, runtime: Runtime, alice: Person
) -> None:
    bob = make_person(runtime, "bob")
    with another_browser(runtime, SAFARI_ON_IPHONE) as bobs:
        sign_in(bobs, bob)
        sign_in(laptop, alice)
        [bobs_id] = session_ids(runtime, bob)
        token = csrf_token(laptop, SECURITY)
        before = snapshot(runtime)
        response = laptop.post(f"/account/sessions/{bobs_id}/end", data={"csrf_token": token})
        assert response.status_code == 404
        assert "That session is not signed in (any more)." in text_of(response)
        assert "Signed in as <strong>alice</strong>" in response.text
        assert snapshot(runtime) == before
        assert signed_in(bobs)


@pytest.mark.parametrize("session_id", ["987654", "-1", "0"])
def test_ending_a_session_that_does_not_exist_is_not_found(
    laptop: TestClient, runtime: Runtime, alice: Person, session_id: str
) -> None:
    sign_in(laptop, alice)
    token = csrf_token(laptop, SECURITY)
    before = snapshot(runtime)
    response = laptop.post(f"/account/sessions/{session_id}/end", data={"csrf_token": token})
    assert response.status_code == 404
    assert snapshot(runtime) == before


def test_a_session_id_that_is_not_a_number_gets_a_clear_page(
    laptop: TestClient, alice: Person
) -> None:
    sign_in(laptop, alice)
    token = csrf_token(laptop, SECURITY)
    response = laptop.post("/account/sessions/abc/end", data={"csrf_token": token})
    assert response.status_code == 400
    assert "That form was not complete" in text_of(response)


def test_signing_out_this_browser_by_its_own_id_goes_to_sign_in(
    laptop: TestClient, runtime: Runtime, alice: Person
) -> None:
    sign_in(laptop, alice)
    [mine] = session_ids(runtime, alice)
    response = post_form(laptop, SECURITY, {}, action=f"/account/sessions/{mine}/end")
    assert response.headers["location"] == "/login?notice=signed_out"
    assert not signed_in(laptop)


@pytest.mark.parametrize("action", ["/account/sessions/{id}/end", "/account/sessions/end-others"])
def test_the_sign_out_forms_need_their_csrf_token(
    laptop: TestClient, runtime: Runtime, alice: Person, action: str
) -> None:
    with another_browser(runtime, SAFARI_ON_IPHONE) as phone:
        sign_in(phone, alice)
        sign_in(laptop, alice)
        phone_id = session_ids(runtime, alice)[0]
        laptop.get(SECURITY)
        before = snapshot(runtime)
        response = laptop.post(action.format(id=phone_id), data={})
        assert response.status_code == 403
        assert "This form has expired" in text_of(response)
        assert snapshot(runtime) == before
        assert signed_in(phone)


def test_the_sign_out_forms_need_a_signed_in_browser(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    with another_browser(runtime, SAFARI_ON_IPHONE) as phone:
        sign_in(phone, alice)
        [phone_id] = session_ids(runtime, alice)
        token = csrf_token(client, "/login")
        response = client.post(f"/account/sessions/{phone_id}/end", data={"csrf_token": token})
        assert response.headers["location"] == "/login"
        assert signed_in(phone)


def test_a_password_only_session_cannot_sign_out_the_others(
    client: TestClient, runtime: Runtime, alice_with_totp: Person, clock: FixedClock
) -> None:
    with another_browser(runtime, SAFARI_ON_IPHONE) as phone:
        sign_in(phone, alice_with_totp, clock)
        clock.advance(30)
        post_form(client, "/login", {"login": "alice", "password": alice_with_totp.password})
        token = csrf_token(client, "/login/code")
        response = client.post("/account/sessions/end-others", data={"csrf_token": token})
        assert response.headers["location"] == "/login/code"
        assert signed_in(phone)
