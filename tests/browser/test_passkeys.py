"""Security keys and passkeys in a real browser (issue #14), with Chromium's virtual
authenticator (CDP `WebAuthn.*`): one journey registers a key, signs in with it as the
second factor, is refused when a clone with a lower counter answers, and signs in without a
password once the organization allows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import CDPSession, Page, expect

from browser.axe import check_accessible
from browser.flows import (
    DESKTOP,
    PHONE,
    at_path,
    create_first_admin,
    enroll,
    enter_password,
    expect_security_page,
    shoot,
    sign_out,
)
from browser.operator_cli import Operator
from browser.server import Server
from support import STRONG_PASSWORD

AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "usb",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added: dict[str, Any] = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return cdp, str(added["authenticatorId"])


def set_passkey_policy(operator: Operator, value: str) -> None:
    """The operator's command for the default organization (the person's only one)."""
    out = operator.run("org", "policy", "default", "--passkeys", value, "--yes")
    assert "Applied." in out


def passkeys_list(page: Page) -> list[str]:
    return page.locator('ul[aria-labelledby="passkeys-heading"] li strong').all_inner_texts()


@pytest.mark.browser
def test_register_sign_in_refuse_a_clone_and_sign_in_without_a_password(
    page: Page, server: Server, operator: Operator, shots: Path
) -> None:
    create_first_admin(page, server.setup_url, "ada")
    phone, _codes = enroll(page)
    page.get_by_role("link", name="I have saved these codes").click()
    expect_security_page(page, two_factor_on=True)
    cdp, key = virtual_authenticator(page)

    # Register: the password and a current code, a name, then the key.
    page.get_by_role("link", name="Add a security key or passkey").click()
    expect(page).to_have_url(at_path("/account/security/passkeys/new"))
    check_accessible(page)
    page.get_by_label("Name").fill("YubiKey")
    page.get_by_label("Current password").fill(STRONG_PASSWORD)
    page.get_by_label("Code from an authenticator you have, or a recovery code").fill(
        phone.next_code()
    )
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Add “YubiKey”")).to_be_visible()
    check_accessible(page)
    page.get_by_role("button", name="Use my security key or passkey").click()
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_role("status")).to_contain_text("Security key or passkey added")
    assert passkeys_list(page) == ["YubiKey"]
    shoot(page, shots / "security-passkeys.png")

    # The second factor: offered first, one touch.
    sign_out(page)
    enter_password(page, "ada")
    expect(page).to_have_url(at_path("/login/passkey"))
    check_accessible(page)
    page.set_viewport_size(PHONE)
    shoot(page, shots / "passkey-prompt-phone.png")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Use your security key or passkey").click()
    expect_security_page(page, two_factor_on=True)

    # A clone: the same credential on another authenticator, its counter behind.
    [credential] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": key})["credentials"]
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": key})
    clone = str(
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})["authenticatorId"]
    )
    cdp.send(
        "WebAuthn.addCredential",
        {"authenticatorId": clone, "credential": {**credential, "signCount": 0}},
    )
    sign_out(page)
    enter_password(page, "ada")
    page.get_by_role("button", name="Use your security key or passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("fewer uses than it did before")
    expect(page).to_have_url(at_path("/login/passkey"))

    # The original key again (its counter ahead), and the organization allows passwordless.
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": clone})
    original = str(
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})["authenticatorId"]
    )
    cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": original,
            "credential": {**credential, "signCount": credential["signCount"] + 10},
        },
    )
    page.get_by_role("button", name="Cancel and sign in as someone else").click()
    set_passkey_policy(operator, "passwordless")
    page.goto("/login")
    expect(page.get_by_label("Login name or email")).to_have_attribute(
        "autocomplete", "username webauthn"
    )
    check_accessible(page)
    shoot(page, shots / "login-passkey.png")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect_security_page(page, two_factor_on=True)
    set_passkey_policy(operator, "second-factor")

    # Another origin (the same server by its IP address): the key does not answer there.
    sign_out(page)
    elsewhere = server.base_url.replace("localhost", "127.0.0.1")
    page.goto(f"{elsewhere}/login")
    page.get_by_label("Login name or email").fill("ada")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(f"{elsewhere}/login/passkey")
    page.get_by_role("button", name="Use your security key or passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("usual address")
    expect(page).to_have_url(f"{elsewhere}/login/passkey")
