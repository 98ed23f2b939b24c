"""With an https TWOFOLD_BASE_URL the cookies are Secure and `__Host-` prefixed and HSTS is
sent; with http neither. The configured URL decides, not the scheme a request arrived with."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2 as httpx
import pytest

from asgi_client import TestClient
from support import Person, post_form
from twofold.services.runtime import Runtime
from twofold.web.app import create_app

HSTS = "max-age=31536000; includeSubDomains"


@contextmanager
def browser(runtime: Runtime, base_url: str, *, via: str) -> Iterator[TestClient]:
    """A browser against a server configured with `base_url`, reaching it at `via`."""
    settings = runtime.settings.model_copy(update={"base_url": base_url})
    configured = dataclasses.replace(runtime, settings=settings)
    with TestClient(
        create_app(runtime=configured, mail_worker=False), base_url=via, follow_redirects=False
    ) as client:
        yield client


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """Each Set-Cookie of the response: name -> its attributes (names lower-cased)."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name_value, *attributes = (part.strip() for part in header.split(";"))
        cookies[name_value.partition("=")[0]] = {
            key.lower(): value for key, _, value in (a.partition("=") for a in attributes)
        }
    return cookies


def sign_in_and_out(client: TestClient, person: Person) -> list[httpx.Response]:
    """The sign-in page, the password, a signed-in page, and signing out."""
    page = client.get("/login")
    signed_in = post_form(client, "/login", {"login": person.login, "password": person.password})
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/account/security"
    account = client.get("/account/security")
    out = post_form(client, "/account/security", {}, action="/logout")
    assert out.status_code == 303
    return [page, signed_in, account, out]


def test_under_https_every_cookie_is_secure_and_host_prefixed(
    runtime: Runtime, alice: Person
) -> None:
    with browser(runtime, "https://id.example.org", via="https://id.example.org") as client:
        page, signed_in, account, out = sign_in_and_out(client, alice)
    assert account.status_code == 200  # the prefixed session cookie is the one read back
    csrf = set_cookies(page)
    session = set_cookies(signed_in)
    cleared = set_cookies(out)
    assert list(csrf) == ["__Host-twofold_csrf"]
    assert list(session) == ["__Host-twofold_session"]
    assert list(cleared) == ["__Host-twofold_session"]
    for attributes in (csrf["__Host-twofold_csrf"], session["__Host-twofold_session"]):
        assert {"secure", "httponly"} <= attributes.keys()
        assert attributes["path"] == "/"
        assert attributes["samesite"].lower() == "lax"
        assert "domain" not in attributes
    assert "secure" in cleared["__Host-twofold_session"]  # else a browser ignores the removal
    assert cleared["__Host-twofold_session"]["path"] == "/"


@pytest.mark.parametrize("via", ["https://id.example.org", "http://127.0.0.1:8000"])
def test_an_https_base_url_sends_hsts_even_behind_a_plain_http_proxy(
    runtime: Runtime, via: str
) -> None:
    with browser(runtime, "https://id.example.org", via=via) as client:
        responses = [client.get(path) for path in ("/login", "/healthz", "/static/style.css")]
    assert [r.headers["strict-transport-security"] for r in responses] == [HSTS] * 3
    assert "secure" in set_cookies(responses[0])["__Host-twofold_csrf"]


@pytest.mark.parametrize("via", ["http://localhost:8000", "https://localhost:8000"])
def test_an_http_base_url_keeps_plain_cookies_and_no_hsts_whatever_the_request_scheme(
    runtime: Runtime, alice: Person, via: str
) -> None:
    with browser(runtime, "http://localhost:8000", via=via) as client:
        page, signed_in, account, _out = sign_in_and_out(client, alice)
    assert account.status_code == 200
    assert "strict-transport-security" not in page.headers
    assert list(set_cookies(page)) == ["twofold_csrf"]
    assert list(set_cookies(signed_in)) == ["twofold_session"]
    for attributes in (*set_cookies(page).values(), *set_cookies(signed_in).values()):
        assert "secure" not in attributes
        assert attributes["path"] == "/"
