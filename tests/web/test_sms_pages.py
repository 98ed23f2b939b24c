"""The SMS pages in a browser (in-process): setting up a phone, the texted code at sign-in
("Text me a code instead", the resend wait), and a provider failure said plainly with the
other ways in, never an error page."""

from __future__ import annotations

from asgi_client import TestClient
from support import (
    CapturingSms,
    Person,
    allow_sms,
    enroll_sms,
    make_person,
    post_form,
    sign_in,
    text_of,
)
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime

PHONE = "+447400123456"


def test_a_phone_is_set_up_from_the_setup_page_with_the_plain_warning(
    client: TestClient, runtime: Runtime
) -> None:
    texts = allow_sms(runtime)
    person = make_person(runtime, "carol")
    sign_in(client, person)
    setup = text_of(client.get("/account/security/setup"))
    assert "SIM swap" in setup
    assert "/account/security/phone" in setup
    page = text_of(client.get("/account/security/phone"))
    assert "weaker than an authenticator app" in page
    refused = post_form(client, "/account/security/phone", {"phone": "12345"})
    assert refused.status_code == 400
    assert "country code" in text_of(refused)
    sent = post_form(client, "/account/security/phone", {"phone": "07400 123456"})
    assert sent.status_code == 303
    assert sent.headers["location"] == "/account/security/phone/confirm"
    confirm = text_of(client.get("/account/security/phone/confirm"))
    assert "+44 7400 123456" in confirm  # its owner sees the whole number
    assert "You can ask for a new code in 30 seconds" in confirm
    done = post_form(client, "/account/security/phone/confirm", {"code": texts.last_code(PHONE)})
    assert done.status_code == 200
    assert "recovery" in text_of(done).lower()
    security = text_of(client.get("/account/security"))
    assert "Text messages to +44 7400 123456" in security


def test_sms_is_not_offered_where_the_organization_does_not_allow_it(
    client: TestClient, runtime: Runtime
) -> None:
    person = make_person(runtime, "carol")
    sign_in(client, person)
    assert "SIM swap" not in text_of(client.get("/account/security/setup"))
    moved = client.get("/account/security/phone")
    assert moved.status_code == 303


def _password(client: TestClient, person: Person) -> str:
    response = post_form(client, "/login", {"login": person.login, "password": person.password})
    assert response.status_code == 303
    return response.headers["location"]


def test_an_sms_only_person_signs_in_with_a_texted_code(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    texts = allow_sms(runtime)
    bob = make_person(runtime, "bob")
    enroll_sms(runtime, bob, PHONE)
    clock.advance(60)
    assert _password(client, bob) == "/login/code"
    moved = client.get("/login/code")
    assert moved.headers["location"] == "/login/sms"
    page = text_of(client.get("/login/sms"))
    assert "+44 •••• ••34 56" in page
    assert "7400 123456" not in page
    sent = post_form(client, "/login/sms", {}, action="/login/sms/send")
    assert sent.headers["location"] == "/login/sms?notice=sent"
    page = text_of(client.get("/login/sms?notice=sent"))
    assert "We sent a code to +44 •••• ••34 56" in page
    assert "You can ask for a new code in 30 seconds" in page
    too_soon = post_form(client, "/login/sms", {}, action="/login/sms/send")
    assert too_soon.status_code == 429
    wrong = post_form(client, "/login/sms", {"code": "000000"})
    if texts.last_code() != "000000":
        assert wrong.status_code == 400
    signed_in = post_form(client, "/login/sms", {"code": texts.last_code()})
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/account/security"


def test_someone_with_an_app_and_a_phone_sees_text_me_a_code_instead(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    allow_sms(runtime)
    alice = make_person(runtime, "alice", with_totp=True)
    clock.advance(30)
    sign_in(client, alice, clock)
    clock.advance(30)
    added = post_form(
        client,
        "/account/security/phone",
        {"phone": PHONE, "password": alice.password, "code": alice.totp(clock)},
    )
    assert added.status_code == 303, text_of(added)
    texts = runtime.sms
    assert isinstance(texts, CapturingSms)
    done = post_form(client, "/account/security/phone/confirm", {"code": texts.last_code()})
    assert done.headers["location"] == "/account/security?notice=sms_added"
    client.cookies.clear()
    clock.advance(60)
    _password(client, alice)
    page = text_of(client.get("/login/code"))
    assert "Text me a code instead" in page
    sent = post_form(client, "/login/code", {}, action="/login/sms/send")
    assert sent.status_code == 303
    assert "Use your authenticator app" in text_of(client.get("/login/sms"))


def test_a_provider_failure_says_so_and_offers_the_other_ways_never_a_500(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    texts = allow_sms(runtime)
    bob = make_person(runtime, "bob")
    enroll_sms(runtime, bob, PHONE)
    clock.advance(60)
    _password(client, bob)
    texts.fail = "timeout"
    failed = post_form(client, "/login/sms", {}, action="/login/sms/send")
    assert failed.status_code == 503
    page = text_of(failed)
    assert "We could not send the text message" in page
    assert "Use a recovery code" in page
    assert "You can ask for a new code" not in page  # a failure starts no wait
    texts.fail = None
    sent = post_form(client, "/login/sms", {}, action="/login/sms/send")
    assert sent.status_code == 303


def test_an_expired_texted_code_is_refused_and_a_new_one_works(
    client: TestClient, runtime: Runtime, clock: FixedClock
) -> None:
    texts = allow_sms(runtime)
    bob = make_person(runtime, "bob")
    enroll_sms(runtime, bob, PHONE)
    clock.advance(60)
    _password(client, bob)
    post_form(client, "/login/sms", {}, action="/login/sms/send")
    expired = texts.last_code()
    clock.advance(5 * 60 + 1)  # codes are valid 5 minutes
    refused = post_form(client, "/login/sms", {"code": expired})
    assert refused.status_code == 400
    assert "That code has expired, was used, or was tried too many times." in text_of(refused)
    sent = post_form(client, "/login/sms", {}, action="/login/sms/send")
    assert sent.status_code == 303
    fresh = texts.last_code()
    signed_in = post_form(client, "/login/sms", {"code": fresh})
    assert signed_in.headers["location"] == "/account/security"
