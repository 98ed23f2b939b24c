"""The words of every email: plain text and simple HTML, escaped, at most one link."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from twofold.core.words import translate
from twofold.notify import messages
from twofold.notify.messages import NOT_YOU, Message

URL = "https://id.example.org/password/reset/abc_DEF-123"

EVERY_MESSAGE: dict[str, Message] = {
    "two_factor_enabled": messages.two_factor_enabled("alice"),
    "two_factor_disabled": messages.two_factor_disabled("alice"),
    "recovery_codes_regenerated": messages.recovery_codes_regenerated("alice"),
    "recovery_code_used": messages.recovery_code_used("alice", 7),
    "second_factor_locked": messages.second_factor_locked(
        "alice", datetime(2026, 3, 1, 12, 15, tzinfo=UTC)
    ),
    "password_changed": messages.password_changed("alice"),
    "email_change_requested": messages.email_change_requested("alice", "new@example.org"),
    "email_changed": messages.email_changed("alice", "new@example.org"),
    "sign_in_after_failed_codes": messages.sign_in_after_failed_codes("alice", 4),
    "verify_email": messages.verify_email("alice", URL, 24),
    "password_reset": messages.password_reset("alice", URL, 30),
}


@pytest.mark.parametrize("name", sorted(EVERY_MESSAGE))
def test_every_message_names_the_account_in_text_and_html(name: str) -> None:
    composed = EVERY_MESSAGE[name].compose("Twofold")
    assert composed.subject.startswith("Twofold: ")
    assert "alice" in composed.text
    assert "alice" in composed.html
    assert composed.text.startswith("Hello,")
    assert composed.text.rstrip().endswith("— Twofold")
    assert composed.html.startswith("<!doctype html>")
    assert "<script" not in composed.html
    assert "<img" not in composed.html


@pytest.mark.parametrize("name", sorted(EVERY_MESSAGE))
def test_every_message_has_at_most_one_link(name: str) -> None:
    composed = EVERY_MESSAGE[name].compose("Twofold")
    links = set(re.findall(r"https?://\S+", composed.text))
    assert len(links) <= 1
    assert len(set(re.findall(r'href="([^"]+)"', composed.html))) == len(links)


@pytest.mark.parametrize(
    "name",
    [
        "two_factor_enabled",
        "two_factor_disabled",
        "recovery_codes_regenerated",
        "recovery_code_used",
        "password_changed",
        "sign_in_after_failed_codes",
    ],
)
def test_security_notices_say_what_to_do_if_it_was_not_you(name: str) -> None:
    composed = EVERY_MESSAGE[name].compose("Twofold")
    assert translate(NOT_YOU) in composed.text
    assert "If this wasn&#x27;t you" in composed.html


def test_two_factor_enabled_says_it_was_turned_on_and_if_this_was_not_you() -> None:
    text = messages.two_factor_enabled("alice").compose("Twofold").text
    assert "Two-factor authentication was turned on for your account alice" in text
    assert "If this wasn't you" in text


@pytest.mark.parametrize(
    ("left", "words"),
    [
        (0, "You have 0 recovery codes left."),
        (1, "You have 1 recovery code left."),
        (9, "You have 9 recovery codes left."),
    ],
)
def test_recovery_code_used_says_how_many_are_left(left: int, words: str) -> None:
    assert words in messages.recovery_code_used("alice", left).compose("Twofold").text


def test_the_lock_notice_says_until_when() -> None:
    until = datetime(2026, 3, 1, 12, 15, tzinfo=UTC)
    text = messages.second_factor_locked("alice", until).compose("T").text
    assert "locked until 2026-03-01 12:15 UTC." in text


def test_the_lock_notice_without_an_end_says_an_administrator_unlocks_it() -> None:
    text = messages.second_factor_locked("alice", None).compose("T").text
    assert "two-factor sign-in is locked until an administrator unlocks it." in text


def test_the_reset_message_says_once_for_30_minutes_and_that_2fa_stays_on() -> None:
    composed = messages.password_reset("alice", URL, 30).compose("Twofold")
    assert "works once, for 30 minutes" in composed.text
    assert "does not turn off two-factor authentication" in composed.text
    assert f"Choose a new password:\n{URL}" in composed.text
    assert f'href="{URL}"' in composed.html


def test_the_verification_message_carries_the_link_and_its_lifetime() -> None:
    composed = messages.verify_email("alice", URL, 24).compose("Twofold")
    assert "The link works for 24 hours." in composed.text
    assert URL in composed.text
    assert f'href="{URL}"' in composed.html


def test_the_email_change_notice_names_the_new_address() -> None:
    text = messages.email_change_requested("alice", "new@example.org").compose("Twofold").text
    assert "to new@example.org" in text
    assert "changes once the new address is confirmed" in text


def test_the_html_part_escapes_what_it_shows() -> None:
    composed = Message(
        "a <b>bold</b> subject",
        ("Fish & chips <script>alert(1)</script>",),
        action=("Open", 'https://x.example/?a=1&b="2"'),
    ).compose("Issuer <Inc>")
    assert "<script>" not in composed.html
    assert "Fish &amp; chips &lt;script&gt;" in composed.html
    assert 'href="https://x.example/?a=1&amp;b=&quot;2&quot;"' in composed.html
    assert "— Issuer &lt;Inc&gt;" in composed.html
    # the plain text is not HTML: it stays as written
    assert "Fish & chips <script>alert(1)</script>" in composed.text
