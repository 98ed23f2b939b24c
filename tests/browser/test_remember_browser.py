"""Remember this browser in a real browser (decision 0028): the organization offers it, the
person ticks the box at the code prompt, signs out, and signs in again with the password
alone; the organization sets 0, and the code is asked again at once."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from browser.axe import check_accessible
from browser.flows import (
    at_path,
    create_first_admin,
    enroll,
    enter_code,
    enter_password,
    expect_security_page,
    sign_out,
)
from browser.operator_cli import Operator
from browser.server import Server


def set_remember_days(operator: Operator, days: int) -> None:
    """The operator's command; the server reads the organization's N at each use, so it
    applies at once."""
    out = operator.run("org", "policy", "default", "--remember-days", str(days), "--yes")
    assert "Applied." in out


@pytest.mark.browser
def test_tick_the_box_then_sign_in_without_a_code_until_the_organization_sets_0(
    page: Page, server: Server, operator: Operator
) -> None:
    create_first_admin(page, server.setup_url, "rita")
    phone, _codes = enroll(page)
    page.get_by_role("link", name="I have saved these codes").click()
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_role("heading", name="Remembered browsers")).to_be_visible()
    expect(page.get_by_text("No browser is remembered")).to_be_visible()

    set_remember_days(operator, 7)
    sign_out(page)
    enter_password(page, "rita")
    expect(page).to_have_url(at_path("/login/code"))
    box = page.get_by_label("Don't ask for a code on this browser for 7 days")
    expect(box).not_to_be_checked()
    check_accessible(page)
    box.check()
    enter_code(page, phone.next_code())
    expect_security_page(page, two_factor_on=True)
    remembered = page.locator('section[aria-labelledby="remembered-heading"] li')
    expect(remembered).to_have_count(1)
    expect(remembered).to_contain_text("this browser")

    # The password alone, on this browser: no code asked.
    sign_out(page)
    enter_password(page, "rita")
    expect_security_page(page, two_factor_on=True)
    expect(remembered).to_contain_text("last used")

    # The organization turns it off: the code is asked at the very next sign-in.
    set_remember_days(operator, 0)
    sign_out(page)
    enter_password(page, "rita")
    expect(page).to_have_url(at_path("/login/code"))
    expect(page.get_by_label("Don't ask for a code on this browser", exact=False)).to_have_count(0)
    enter_code(page, phone.next_code())
    expect_security_page(page, two_factor_on=True)
    expect(page.get_by_text("No browser is remembered")).to_be_visible()
