"""What a person does in the browser, one step at a time, and their authenticator app."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pyotp
from playwright.sync_api import Page, ViewportSize, expect

from support import STRONG_PASSWORD

DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=360, height=740)
PERIOD = 30
# The previous step is used only while the current one has at least this long to run, so the
# server (same clock, tens of milliseconds later) still accepts it when the form arrives.
PREVIOUS_STEP_MARGIN = 1.5
SETUP_KEY = re.compile(r"[A-Z2-7]{32}")
RECOVERY_CODE = re.compile(r"[a-z0-9]{4}(?:-[a-z0-9]{4}){3}")


def at_path(path: str) -> re.Pattern[str]:
    """A URL pattern for expect(page).to_have_url: this path, with or without a query."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(?:\?.*)?$")


class PhoneApp:
    """The person's authenticator app, set up by typing the key shown on the setup page.

    The server's clock is real. It accepts the previous, current and next 30-second step,
    but never a step at or before the last one it accepted. Tests do not sleep: each code is
    for the earliest step the server still accepts and has not seen — the previous step
    (while the current one has PREVIOUS_STEP_MARGIN left to run), else the current one, and
    always later than the last step used. So three codes fit in one step (previous, current,
    next): enough for the journey's enrollment, sign-in and last sign-in. A test that needed
    more would trip the assertion rather than get a confusing "didn't match" from the server.
    """

    def __init__(self, setup_key: str) -> None:
        self._totp = pyotp.TOTP(setup_key)
        self.last_step: int | None = None

    def next_code(self) -> str:
        now = time.time()
        current = int(now // PERIOD)
        earliest = current - 1 if now % PERIOD < PERIOD - PREVIOUS_STEP_MARGIN else current
        step = earliest if self.last_step is None else max(earliest, self.last_step + 1)
        assert step <= current + 1, (
            f"the test needs the code for step {step} but the server accepts at most "
            f"{current + 1}: too many TOTP codes within one 30-second step"
        )
        self.last_step = step
        return self.code_at_step(step)

    def code_at_step(self, step: int) -> str:
        return str(self._totp.at(step * PERIOD))


def wrong_code(phone: PhoneApp) -> str:
    """Six digits that match no step the server could accept now or in the next minute."""
    step = int(time.time() // PERIOD)
    valid = {phone.code_at_step(s) for s in range(step - 1, step + 3)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in valid)


def create_first_admin(page: Page, setup_url: str, login: str) -> None:
    """Open the one-time setup link and create the administrator; ends on the 2FA setup page."""
    page.goto(setup_url)
    expect(page.get_by_role("heading", name="Welcome to Twofold")).to_be_visible()
    page.get_by_label("Login name").fill(login)
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create administrator").click()
    expect(page).to_have_url(at_path("/account/security/setup"))


def read_setup_key(page: Page) -> str:
    """The setup key as the page shows it (groups of four), without the spaces."""
    shown = page.locator("#setup-key").inner_text()
    key = "".join(shown.split())
    assert SETUP_KEY.fullmatch(key), f"unexpected setup key text {shown!r}"
    return key


def confirm_setup(page: Page, phone: PhoneApp) -> list[str]:
    """Enter the app's code on the setup page; returns the recovery codes shown once."""
    page.get_by_label("Authentication code").fill(phone.next_code())
    page.get_by_role("button", name="Confirm and turn on").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = page.locator("ul.recovery-codes li code").all_inner_texts()
    assert len(codes) == 10, codes
    assert len(set(codes)) == 10, codes
    for code in codes:
        assert RECOVERY_CODE.fullmatch(code), code
    return codes


def enroll(page: Page) -> tuple[PhoneApp, list[str]]:
    """From the setup page: type the key into the app, confirm, return (app, codes)."""
    phone = PhoneApp(read_setup_key(page))
    return phone, confirm_setup(page, phone)


def sign_out(page: Page) -> None:
    """ "Sign out" in the header (the security page has more buttons of that name: one for
    each other session)."""
    page.get_by_role("navigation", name="Account").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(at_path("/login"))
    expect(page.get_by_role("status")).to_have_text("You are signed out.")


def enter_password(page: Page, login: str, password: str = STRONG_PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Login name or email").fill(login)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Continue").click()


def enter_code(page: Page, code: str) -> None:
    """On /login/code: type the code and press Verify."""
    expect(page).to_have_url(at_path("/login/code"))
    page.get_by_label("Authentication code").fill(code)
    page.get_by_role("button", name="Verify").click()


def expect_security_page(page: Page, *, two_factor_on: bool) -> None:
    expect(page).to_have_url(at_path("/account/security"))
    expect(page.get_by_role("heading", name="Account security", level=1)).to_be_visible()
    status = page.locator(".status")
    expect(status).to_have_text(re.compile(r"^On\b" if two_factor_on else r"^Off\b"))


def expect_enforced_setup(page: Page, because: str) -> None:
    """The 2FA setup page that cannot be put off: it says who requires it, offers no
    "Not now", only signing out."""
    expect(page).to_have_url(at_path("/account/security/setup"))
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    expect(page.locator("main .notice")).to_have_text(
        f"{because} requires two-factor authentication. Set it up to continue."
    )
    expect(page.get_by_role("link", name="Not now")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out and do this later")).to_be_visible()


def expect_optional_setup(page: Page) -> None:
    """The 2FA setup page a person may leave with "Not now"."""
    expect(page).to_have_url(at_path("/account/security/setup"))
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    expect(page.locator("main .notice")).to_have_count(0)
    expect(page.get_by_role("link", name="Not now")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out and do this later")).to_have_count(0)


def finish_setup(page: Page) -> PhoneApp:
    """From the setup page: key into the app, confirm, "I have saved these codes"."""
    phone, _codes = enroll(page)
    page.get_by_role("link", name="I have saved these codes").click()
    expect_security_page(page, two_factor_on=True)
    return phone


def switch_organization(page: Page, name: str) -> None:
    """Choose another organization in the header and press Switch."""
    page.get_by_label("Organization").select_option(label=name)
    page.get_by_role("button", name="Switch").click()


def expect_current_organization(page: Page, slug: str) -> None:
    """The header's organization menu shows this organization as the current one."""
    expect(page.get_by_label("Organization")).to_have_value(slug)


def shoot(page: Page, path: Path, *, keep_focus: bool = False) -> None:
    """A full-page screenshot without focus ring, caret or animation; fails if it is blank."""
    if not keep_focus:
        page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    assert path.stat().st_size > 5_000, f"{path.name} looks empty"
