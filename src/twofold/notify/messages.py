"""The words of every email, in one place. Each message is a few short paragraphs and at most
one link, rendered as plain text and as simple HTML (escaped, inline-styled, no images)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from twofold.notify.mailer import Composed

NOT_YOU = (
    "If this wasn't you, someone may know your password: change it now and contact your "
    "administrator."
)


@dataclass(frozen=True)
class Message:
    subject: str
    paragraphs: tuple[str, ...]
    action: tuple[str, str] | None = None  # (label, url)

    def compose(self, issuer: str) -> Composed:
        text_parts = ["Hello,", *self.paragraphs]
        if self.action:
            label, url = self.action
            text_parts.append(f"{label}:\n{url}")
        text_parts.append(f"— {issuer}")
        html_parts = [f"<p>{escape(p)}</p>" for p in ["Hello,", *self.paragraphs]]
        if self.action:
            label, url = self.action
            html_parts.append(
                f'<p><a href="{escape(url)}" style="display:inline-block;padding:10px 16px;'
                "background:#0b5cad;color:#ffffff;border-radius:6px;text-decoration:none;"
                f'font-weight:600">{escape(label)}</a></p>'
                f'<p style="color:#57606a;font-size:13px">Or open this address: {escape(url)}</p>'
            )
        html_parts.append(f'<p style="color:#57606a">— {escape(issuer)}</p>')
        html = (
            '<!doctype html><html><body style="font-family:system-ui,sans-serif;'
            'color:#1b1f24;line-height:1.5;max-width:560px">'
            + "".join(html_parts)
            + "</body></html>"
        )
        return Composed(
            subject=f"{issuer}: {self.subject}",
            text="\n\n".join(text_parts) + "\n",
            html=html,
        )


def two_factor_enabled(login: str) -> Message:
    return Message(
        "two-factor authentication turned on",
        (
            f"Two-factor authentication was turned on for your account {login}. From now on "
            "you sign in with your password and a code from your authenticator app.",
            NOT_YOU,
        ),
    )


def two_factor_disabled(login: str) -> Message:
    return Message(
        "two-factor authentication turned off",
        (
            f"Two-factor authentication was turned off for your account {login}. Your password "
            "alone now signs you in.",
            NOT_YOU,
        ),
    )


def recovery_codes_regenerated(login: str) -> Message:
    return Message(
        "new recovery codes",
        (
            f"A new set of recovery codes was made for your account {login}. "
            "The old codes no longer work.",
            NOT_YOU,
        ),
    )


def recovery_code_used(login: str, codes_left: int) -> Message:
    return Message(
        "a recovery code was used",
        (
            f"Someone signed in to your account {login} with one of your recovery codes. "
            f"You have {codes_left} recovery code{'s' if codes_left != 1 else ''} left.",
            "If you lost your phone, set up two-factor authentication again on a new one. "
            + NOT_YOU,
        ),
    )


def second_factor_locked(login: str, until_words: str) -> Message:
    return Message(
        "sign-in locked after wrong codes",
        (
            f"Too many wrong authentication codes were entered for your account {login}, so "
            f"two-factor sign-in is locked {until_words}.",
            "If this wasn't you, someone knows your password: change it as soon as you can "
            "sign in, and contact your administrator.",
        ),
    )


def password_changed(login: str) -> Message:
    return Message(
        "password changed",
        (
            f"The password of your account {login} was changed, and your other sessions were "
            "signed out.",
            NOT_YOU,
        ),
    )


def email_change_requested(login: str, new_address: str) -> Message:
    return Message(
        "email address change requested",
        (
            f"Someone asked to change the email address of your account {login} to "
            f"{new_address}. It changes once the new address is confirmed.",
            "If this wasn't you, change your password now and contact your administrator.",
        ),
    )


def email_changed(login: str, new_address: str) -> Message:
    return Message(
        "email address changed",
        (
            f"The email address of your account {login} is now {new_address}. "
            "Security notices go there from now on.",
            "If this wasn't you, contact your administrator.",
        ),
    )


def sign_in_after_failed_codes(login: str, failures: int) -> Message:
    return Message(
        "sign-in after wrong codes",
        (
            f"Your account {login} was signed in to after {failures} wrong authentication "
            "codes in a row.",
            NOT_YOU,
        ),
    )


def verify_email(login: str, url: str, hours: int) -> Message:
    return Message(
        "confirm your email address",
        (
            f"Confirm that this address belongs to your account {login}. "
            f"The link works for {hours} hours.",
            "If you didn't ask for this, ignore this message.",
        ),
        action=("Confirm email address", url),
    )


def password_reset(login: str, url: str, minutes: int) -> Message:
    return Message(
        "reset your password",
        (
            f"Someone asked to reset the password of your account {login}. The link works "
            f"once, for {minutes} minutes. It does not turn off two-factor authentication.",
            "If you didn't ask for this, ignore this message: your password stays as it is.",
        ),
        action=("Choose a new password", url),
    )


def signup_with_taken_address(login: str, organization: str, url: str) -> Message:
    """To the owner of an address someone typed into sign-up; the person who typed it is
    shown the same answer as for a new address and never learns of this message."""
    return Message(
        "someone tried to sign up with your address",
        (
            f"Someone tried to create an account in {organization} with this email address, "
            f"which already belongs to your account {login}. No new account was made.",
            "If it was you, sign in with your account instead; if you forgot your password, "
            "choose \u201cForgot your password?\u201d on the sign-in page. If it wasn't you, "
            "ignore this message: nothing changed.",
        ),
        action=("Sign in", url),
    )
