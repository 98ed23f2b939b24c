"""Security keys end to end (issue #14, decisions 0027 and 0029): a key added through the
security page's ceremony, then used at the passkey prompt after the password, answers an
application's `acr_values=urn:twofold:acr:phr` and an organization that requires keys of
everyone. No session is stepped up by hand here: every answer is a signed WebAuthn one
(tests/soft_webauthn.py), checked by the server as a browser's would be."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import update

from asgi_client import TestClient
from oidc.conftest import (
    ISSUER,
    ORG,
    Rp,
    callback_params,
    exchange,
    id_claims,
    onward_target,
)
from soft_webauthn import SoftAuthenticator
from support import Person, post_form, sign_in
from twofold.otp.clock import FixedClock
from twofold.services.runtime import Runtime
from twofold.store.models import Organization

PHR = "urn:twofold:acr:phr"
NEW = "/account/security/passkeys/new"
FINISH = "/account/security/passkeys/new/finish"
OPTIONS = re.compile(r'data-options="([^"]+)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(text: str) -> str:
    match = CSRF.search(text)
    assert match
    return match.group(1)


@pytest.fixture
def key() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ISSUER)


@pytest.fixture
def keyholder(
    client: TestClient, clock: FixedClock, member: Person, key: SoftAuthenticator
) -> Person:
    """mia, with her app and a security key she added on the security page; signed out."""
    sign_in(client, member, clock)
    add_key(client, clock, member, key)
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/account/security").text)})
    client.cookies.clear()
    clock.advance(30)
    return member


def add_key(client: TestClient, clock: FixedClock, person: Person, key: SoftAuthenticator) -> None:
    """The security page's ceremony: the password and a fresh code, then the key's answer."""
    clock.advance(30)
    page = post_form(
        client, NEW, {"name": "YubiKey", "password": person.password, "code": person.totp(clock)}
    )
    match = OPTIONS.search(page.text)
    assert match, page.text
    answer = key.register(html.unescape(match.group(1)))
    done = client.post(
        FINISH, data={"csrf_token": csrf_of(page.text), "name": "YubiKey", "response": answer}
    )
    assert done.status_code == 303, done.text


def require_keys_of_everyone(runtime: Runtime, clock: FixedClock) -> None:
    """acme requires a security key of every member (what the policy command stores)."""
    with runtime.db() as db:
        db.execute(
            update(Organization)
            .where(Organization.slug == ORG)
            .values(phishing_resistant="all", phishing_resistant_since=clock.now())
        )
        db.commit()


def password_and_code(client: TestClient, clock: FixedClock, person: Person) -> str:
    """The password, then an app code posted at once (the browser's CSRF token serves
    both forms); where the code's answer sends the browser."""
    token = csrf_of(client.get("/login").text)
    client.post(
        "/login", data={"login": person.login, "password": person.password, "csrf_token": token}
    )
    coded = client.post("/login/code", data={"code": person.totp(clock), "csrf_token": token})
    assert coded.status_code == 303, coded.text
    return str(coded.headers["location"])


def follow_to(client: TestClient, where: str, target: str) -> None:
    """Follow the redirects from `where` until they lead to `target`."""
    while where != target:
        hop = client.get(where)
        assert hop.status_code == 303, hop.text
        where = hop.headers["location"]


def password_then_key(
    client: TestClient, person: Person, key: SoftAuthenticator, first: str
) -> str:
    """The password at the sign-in page, then the key at the prompt it leads to (the
    prompt is offered first); the page the key's answer sends the browser on to."""
    token = csrf_of(client.get(first).text)
    login = client.post(
        "/login", data={"login": person.login, "password": person.password, "csrf_token": token}
    )
    assert login.status_code == 303, login.text
    follow_to(client, login.headers["location"], "/login/passkey")
    return answer_prompt(client, key)


def answer_prompt(client: TestClient, key: SoftAuthenticator) -> str:
    """The key's answer at the passkey prompt; where it sends the browser on to."""
    prompt = client.get("/login/passkey")
    assert prompt.status_code == 200, prompt.text
    options = client.post("/login/passkey/options", data={"csrf_token": csrf_of(prompt.text)})
    assert options.status_code == 200, options.text
    done = client.post(
        "/login/passkey",
        data={"csrf_token": csrf_of(prompt.text), "response": key.assertion(options.text)},
    )
    assert done.status_code == 303, done.text
    return done.headers["location"]


def test_an_application_asking_for_phr_gets_it_from_a_real_key(
    client: TestClient, rp: Rp, keyholder: Person, key: SoftAuthenticator
) -> None:
    assert client.get(rp.authorize_url(acr_values=PHR)).status_code == 303  # to sign in
    onward = password_then_key(client, keyholder, key, "/login?oidc=1")
    assert onward == "/oidc/continue"
    code = callback_params(onward_target(client.get(onward)), rp)["code"]
    tokens = exchange(client, rp, code)
    assert tokens.status_code == 200, tokens.text
    claims = id_claims(client, tokens.json()["id_token"])
    assert claims["acr"] == PHR
    assert claims["amr"] == ["pwd", "hwk", "mfa"]


def test_an_organization_requiring_keys_is_entered_with_the_key_not_a_code(
    client: TestClient,
    runtime: Runtime,
    clock: FixedClock,
    keyholder: Person,
    key: SoftAuthenticator,
) -> None:
    require_keys_of_everyone(runtime, clock)
    assert password_and_code(client, clock, keyholder) == "/login/passkey"  # not by a code
    assert client.get("/account/security").headers["location"] == "/login/passkey"
    client.cookies.clear()
    clock.advance(30)
    assert password_then_key(client, keyholder, key, "/login") == "/account/security"
    assert client.get("/account/security").status_code == 200


def test_a_member_without_a_key_is_sent_to_add_one_and_can(
    client: TestClient, runtime: Runtime, clock: FixedClock, member: Person
) -> None:
    require_keys_of_everyone(runtime, clock)
    assert password_and_code(client, clock, member) == NEW
    assert client.get("/account/security").headers["location"] == NEW  # nothing else first
    key = SoftAuthenticator(origin=ISSUER)
    add_key(client, clock, member, key)
    # The key is registered; this session passed a code only, so the key is asked for next.
    after = client.get("/account/security")
    assert (after.status_code, after.headers.get("location")) == (303, "/login/passkey")
    assert answer_prompt(client, key) == "/account/security"
    assert client.get("/account/security").status_code == 200


def test_a_signed_in_session_steps_up_with_the_key_when_an_application_asks_phr(
    client: TestClient, rp: Rp, clock: FixedClock, keyholder: Person, key: SoftAuthenticator
) -> None:
    assert password_and_code(client, clock, keyholder) == "/account/security"  # by the code
    asked = client.get(rp.authorize_url(acr_values=PHR))
    follow_to(client, asked.headers["location"], "/login/passkey")
    assert answer_prompt(client, key) == "/oidc/continue"
    code = callback_params(onward_target(client.get("/oidc/continue")), rp)["code"]
    claims = id_claims(client, exchange(client, rp, code).json()["id_token"])
    assert claims["acr"] == PHR
    assert claims["amr"] == ["pwd", "otp", "hwk", "mfa"]
