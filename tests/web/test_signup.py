"""/signup through the pages: open, closed and unknown organizations, and bad input."""

from __future__ import annotations

import re

import httpx2 as httpx
import pytest
from sqlalchemy import select

from asgi_client import TestClient
from smtp_server import running_smtp_server
from support import STRONG_PASSWORD, Person, csrf_token, make_person, post_form, sign_in, text_of
from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.policy import TwoFactorPolicy
from twofold.services import organizations
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, User
from twofold.web.rendering import SESSION_COOKIE

SETUP = "/account/security/setup"
SECURITY = "/account/security"
CREATE_LINK = '<a href="/signup">Create an account</a>'

SIGNUP_CLOSED = words.translate(words.SIGNUP_CLOSED)


def make_org(
    runtime: Runtime,
    slug: str,
    policy: TwoFactorPolicy = TwoFactorPolicy.OPTIONAL,
    *,
    name: str | None = None,
    signup_open: bool = True,
) -> None:
    with runtime.db() as db:
        organizations.create_organization(
            db, runtime, slug=slug, name=name, two_factor=policy, signup_open=signup_open
        )
        db.commit()


def form(
    login: str = "newbie", email: str = "newbie@example.org", password: str = STRONG_PASSWORD
) -> dict[str, str]:
    return {"login": login, "email": email, "password": password}


def sign_up(client: TestClient, slug: str, data: dict[str, str]) -> httpx.Response:
    """Open the sign-up form of an open organization and submit it."""
    return post_form(client, f"/signup/{slug}", data)


def post_without_page(client: TestClient, slug: str, data: dict[str, str]) -> httpx.Response:
    """Post to a sign-up form that cannot be opened (closed or unknown), as a forger would."""
    token = csrf_token(client, "/login")
    return client.post(f"/signup/{slug}", data={**data, "csrf_token": token})


def users_named(runtime: Runtime, login: str) -> list[User]:
    with runtime.db() as db:
        return list(db.scalars(select(User).where(User.login == login)))


def refusals(runtime: Runtime) -> list[AuditEvent]:
    with runtime.db() as db:
        return list(
            db.scalars(
                select(AuditEvent).where(AuditEvent.event == AuditEventType.SIGNUP_REFUSED.value)
            )
        )


def field_error(response_text: str, field: str) -> str | None:
    match = re.search(
        rf'<p class="field-error" id="{field}-error" role="alert">([^<]*)</p>', response_text
    )
    return match.group(1) if match else None


# --- the pages ----------------------------------------------------------------------------


def test_the_form_of_an_open_org_names_it(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "acme", name="Acme Inc.")
    page = client.get("/signup/acme")
    assert page.status_code == 200
    assert "Join <strong>Acme Inc.</strong>" in page.text
    assert 'action="/signup/acme"' in page.text
    assert "requires two-factor" not in text_of(page)


def test_the_form_of_a_required_org_says_2fa_comes_next(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED)
    assert "you will set it up when you first sign in" in text_of(client.get("/signup/bank"))


@pytest.mark.parametrize("slug", ["acme", "nowhere", "default"])
def test_the_form_of_a_closed_or_unknown_org_is_a_403_with_a_clear_message(
    client: TestClient, runtime: Runtime, slug: str
) -> None:
    make_org(runtime, "acme", signup_open=False)
    page = client.get(f"/signup/{slug}")
    assert page.status_code == 403
    assert SIGNUP_CLOSED in text_of(page)
    assert 'action="/signup/' not in page.text


def test_signup_lists_every_open_org(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "acme", name="Acme Inc.")
    make_org(runtime, "bank", name="The Bank")
    make_org(runtime, "secret", name="Secret Club", signup_open=False)
    page = client.get("/signup")
    assert page.status_code == 200
    assert '<a class="button" href="/signup/acme">Acme Inc.</a>' in page.text
    assert '<a class="button" href="/signup/bank">The Bank</a>' in page.text
    assert "Secret Club" not in page.text


def test_signup_with_a_single_open_org_goes_straight_to_its_form(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme")
    make_org(runtime, "secret", signup_open=False)
    response = client.get("/signup")
    assert response.status_code == 303
    assert response.headers["location"] == "/signup/acme"


def test_signup_with_no_open_org_says_it_is_closed(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "secret", signup_open=False)
    page = client.get("/signup")
    assert page.status_code == 200
    assert "Sign-up is closed here. Ask an administrator for an account." in text_of(page)


def test_the_login_page_offers_sign_up_only_when_some_org_is_open(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "secret", signup_open=False)
    assert CREATE_LINK not in client.get("/login").text
    make_org(runtime, "acme")
    assert CREATE_LINK in client.get("/login").text


def test_the_login_page_still_offers_sign_up_after_a_wrong_password(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    make_org(runtime, "acme")
    response = post_form(client, "/login", {"login": "alice", "password": "not the password"})
    assert response.status_code == 400
    assert CREATE_LINK in response.text


# --- signing up ---------------------------------------------------------------------------

CHECK_EMAIL = "Check your email"


def sign_up_then_sign_in(
    client: TestClient, runtime: Runtime, slug: str, data: dict[str, str]
) -> httpx.Response:
    """Sign up (answered with "check your email", nobody signed in), confirm the address
    with the emailed link (an unconfirmed sign-up cannot sign in), then sign in."""
    answer = sign_up(client, slug, data)
    assert answer.status_code == 200
    assert CHECK_EMAIL in text_of(answer)
    assert client.cookies.get(SESSION_COOKIE) is None
    with running_smtp_server() as smtp:
        smtp.deliver(runtime)
        path = smtp.only("confirm your email address", data["email"]).path
    assert post_form(client, path, {}).status_code == 200
    signed_in = post_form(client, "/login", {"login": data["login"], "password": data["password"]})
    assert signed_in.status_code == 303
    return signed_in


def test_signing_up_answers_check_your_email_and_signs_nobody_in(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme", name="Acme Inc.")
    answer = sign_up(client, "acme", form())
    assert answer.status_code == 200
    page = text_of(answer)
    assert CHECK_EMAIL in page
    assert "We sent a message to newbie@example.org about joining Acme Inc." in re.sub(
        r"<[^>]+>", "", page
    )
    assert client.cookies.get(SESSION_COOKIE) is None
    assert client.get(SECURITY).headers["location"] == "/login"
    assert len(users_named(runtime, "newbie")) == 1


def test_signing_up_for_an_optional_org_offers_2fa_with_not_now(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme")
    sign_up_then_sign_in(client, runtime, "acme", form())
    setup = text_of(client.get(SETUP))
    assert "Not now" in setup
    assert "requires two-factor authentication" not in setup
    page = client.get(SECURITY)
    assert page.status_code == 200
    assert "Signed in as <strong>newbie</strong>" in page.text
    assert "Set up two-factor authentication" in text_of(page)


def test_signing_up_for_a_required_org_must_set_up_2fa_first(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "bank", TwoFactorPolicy.REQUIRED, name="The Bank")
    sign_up_then_sign_in(client, runtime, "bank", form())
    assert client.get(SECURITY).headers["location"] == SETUP
    setup = re.sub(r"<[^>]+>", "", text_of(client.get(SETUP)))
    assert "The Bank requires two-factor authentication." in setup
    assert "Not now" not in setup


def test_signing_up_for_an_org_with_2fa_off_goes_to_the_account(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "club", TwoFactorPolicy.OFF)
    sign_up_then_sign_in(client, runtime, "club", form())
    page = text_of(client.get(SECURITY))
    assert "Your organization does not use two-factor authentication." in page
    assert client.get(SETUP).headers["location"] == "/account/security?notice=not_offered"


def test_signing_up_for_a_closed_org_is_refused_audited_and_creates_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme", signup_open=False)
    response = post_without_page(client, "acme", form())
    assert response.status_code == 403
    assert SIGNUP_CLOSED in text_of(response)
    assert users_named(runtime, "newbie") == []
    assert client.cookies.get(SESSION_COOKIE) is None
    [event] = refusals(runtime)
    assert event.organization_id is not None


def test_signing_up_for_an_unknown_org_is_refused_and_audited(
    client: TestClient, runtime: Runtime
) -> None:
    response = post_without_page(client, "nowhere", form())
    assert response.status_code == 403
    assert users_named(runtime, "newbie") == []
    [event] = refusals(runtime)
    assert event.organization_id is None


def test_a_taken_login_is_refused_next_to_the_field_and_the_form_is_kept(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme")
    make_person(runtime, "bob")
    response = sign_up(client, "acme", form(login="Bob", email="robert@example.org"))
    assert response.status_code == 400
    assert field_error(text_of(response), "login") == "That login name is taken. Choose another."
    assert 'value="robert@example.org"' in response.text
    assert STRONG_PASSWORD not in response.text
    assert client.cookies.get(SESSION_COOKIE) is None
    assert len(users_named(runtime, "bob")) == 1


def test_a_weak_password_is_refused_next_to_the_password_field(
    client: TestClient, runtime: Runtime
) -> None:
    make_org(runtime, "acme")
    response = sign_up(client, "acme", form(password="password123"))
    assert response.status_code == 400
    message = field_error(text_of(response), "password")
    assert message
    assert "password123" not in response.text
    assert users_named(runtime, "newbie") == []


def test_a_short_password_says_how_long_it_must_be(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "acme")
    response = sign_up(client, "acme", form(password="short"))
    assert response.status_code == 400
    assert field_error(text_of(response), "password") == "Use at least 10 characters."


def test_a_missing_email_is_asked_for(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "acme")
    response = sign_up(client, "acme", {"login": "newbie", "password": STRONG_PASSWORD})
    assert response.status_code == 400
    assert field_error(text_of(response), "email") == "Enter your email address."
    assert 'value="newbie"' in response.text
    assert users_named(runtime, "newbie") == []


def test_a_malformed_login_is_explained(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "acme")
    response = sign_up(client, "acme", form(login="no spaces please"))
    assert response.status_code == 400
    message = field_error(text_of(response), "login")
    assert message
    assert message.startswith("A login name is 2 to 64 characters")


def test_a_signup_without_a_csrf_token_is_refused(client: TestClient, runtime: Runtime) -> None:
    make_org(runtime, "acme")
    client.get("/signup/acme")
    response = client.post("/signup/acme", data=form())
    assert response.status_code == 403
    assert "This form has expired" in text_of(response)
    assert users_named(runtime, "newbie") == []


def test_signing_up_while_signed_in_leaves_that_session_alone(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    make_org(runtime, "club", TwoFactorPolicy.OFF, signup_open=True)
    sign_in(client, alice)
    answer = sign_up(client, "club", form())
    assert answer.status_code == 200
    assert CHECK_EMAIL in text_of(answer)
    assert "Signed in as <strong>alice</strong>" in client.get(SECURITY).text
