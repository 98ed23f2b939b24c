"""The admin console's Applications tab in a real browser: an organization admin registers an
application (a refused redirect URI first, marked and focused), sees its secret once, and
never again — not on the list, not through the operator's `twofold client list`. The pages
fit a phone and pass axe. The API keys tab next to it: a key is created, seen once, and
revoked after a confirmation. With TWOFOLD_SCREENSHOTS=1 the secret page goes to
docs/images/admin-applications.png, the key's to admin-api-keys.png and
the list to admin-api-keys-list.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from browser.axe import check_accessible
from browser.flows import DESKTOP, PHONE, at_path, shoot
from browser.operator_cli import Operator
from browser.test_accessibility import check_every_field_is_labelled, check_fits_a_phone
from browser.test_admin import admin_tab, open_console, sign_in_new_admin

CALLBACK = "https://grafana.example.org/login/generic_oauth"
REFUSED = "'http://grafana.example.org/login/generic_oauth' is not a usable redirect URI"


@pytest.mark.browser
def test_an_admin_registers_an_application_and_sees_its_secret_once(
    page: Page, operator: Operator, shots: Path
) -> None:
    sign_in_new_admin(page, operator, "ada", "acme", "Acme Corp")
    open_console(page, "Acme Corp")
    admin_tab(page, "Applications")
    expect(page).to_have_url(at_path("/admin/applications"))
    expect(page.get_by_text("No applications are registered for Acme Corp yet.")).to_be_visible()

    page.get_by_role("link", name="Register an application").click()
    check_every_field_is_labelled(page)
    expect(page.get_by_label("Name")).to_be_focused()
    page.get_by_label("Name").fill("Grafana")
    uris = page.get_by_label("Redirect URIs", exact=True)
    uris.fill(CALLBACK.replace("https:", "http:"))
    page.get_by_label("Always require two-factor authentication").check()
    page.get_by_role("button", name="Register").click()

    # Refused: the message under the field, the field focused, what was typed kept.
    expect(page.locator("#redirect_uris-error")).to_contain_text(REFUSED)
    expect(uris).to_be_focused()
    expect(uris).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Name")).to_have_value("Grafana")
    expect(page.get_by_label("Always require two-factor authentication")).to_be_checked()
    check_accessible(page)
    uris.fill(CALLBACK)
    page.get_by_role("button", name="Register").click()

    expect(page.get_by_role("heading", name="Grafana is registered")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("it is shown only this once")
    client_id = page.locator("#client-id").inner_text()
    secret = page.locator("#client-secret").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9]{24}", client_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
    shoot(page, shots / "admin-applications.png")

    # Once only: the list shows the application and its client ID, never the secret.
    page.get_by_role("link", name="Back to applications").click()
    expect(page).to_have_url(at_path("/admin/applications"))
    expect(page.get_by_role("heading", name=re.compile(r"^Grafana"))).to_be_visible()
    expect(page.get_by_text(client_id)).to_be_visible()
    assert secret not in page.content()
    listed = operator.run("client", "list", "acme")
    assert client_id in listed
    assert secret not in listed

    page.set_viewport_size(PHONE)
    check_fits_a_phone(page)
    check_accessible(page)

    # The API keys tab, next to Applications: a key seen once, then revoked after asking.
    page.set_viewport_size(DESKTOP)
    admin_tab(page, "API keys")
    expect(page).to_have_url(at_path("/admin/api-keys"))
    page.get_by_role("link", name="Create an API key").click()
    check_every_field_is_labelled(page)
    expect(page.get_by_label("Name")).to_be_focused()
    page.get_by_label("Name").fill("VPN gateway")
    page.get_by_label("Requests per minute").fill("120")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text("it is shown only once")
    key = page.locator("#api-key").inner_text()
    assert re.fullmatch(r"tfk_[A-Za-z0-9_-]{43}", key)
    check_accessible(page)
    shoot(page, shots / "admin-api-keys.png")
    page.get_by_role("link", name="Back to API keys").click()
    expect(page.get_by_role("heading", name=re.compile(r"^VPN gateway"))).to_be_visible()
    assert key not in page.content()
    shoot(page, shots / "admin-api-keys-list.png")
    page.get_by_role("link", name="Revoke VPN gateway…").click()
    page.get_by_role("button", name="Revoke VPN gateway").click()
    expect(page.get_by_role("status")).to_contain_text("The API key was revoked")
    expect(page.locator(".tag.revoked")).to_have_text("Revoked")
    listed = operator.run("apikey", "list", "acme")
    assert "VPN gateway" in listed
    assert key not in listed
