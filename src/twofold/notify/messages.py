"""Every email, in one place. Each message is a few short paragraphs and at most one link,
rendered as plain text and as simple HTML (escaped, inline-styled, no images). The words are
catalogue messages (twofold.core.words), translated when the email is composed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from twofold.core import words
from twofold.core.words import Words, translate
from twofold.notify.mailer import Composed

NOT_YOU = words.IF_NOT_YOU


@dataclass(frozen=True)
class Message:
    subject: Words
    paragraphs: tuple[Words, ...]
    action: tuple[Words, str] | None = None  # (label, url)

    def compose(self, issuer: str, locale: str | None = None) -> Composed:
        hello = translate(words.EMAIL_HELLO, locale)
        paragraphs = [hello, *(translate(p, locale) for p in self.paragraphs)]
        text_parts = list(paragraphs)
        if self.action:
            label, url = translate(self.action[0], locale), self.action[1]
            text_parts.append(f"{label}:\n{url}")
        text_parts.append(f"— {issuer}")
        html_parts = [f"<p>{escape(p)}</p>" for p in paragraphs]
        if self.action:
            label, url = translate(self.action[0], locale), self.action[1]
            or_open = translate(words.EMAIL_OR_OPEN(url=url), locale)
            html_parts.append(
                f'<p><a href="{escape(url)}" style="display:inline-block;padding:10px 16px;'
                "background:#0b5cad;color:#ffffff;border-radius:6px;text-decoration:none;"
                f'font-weight:600">{escape(label)}</a></p>'
                f'<p style="color:#57606a;font-size:13px">{escape(or_open)}</p>'
            )
        html_parts.append(f'<p style="color:#57606a">— {escape(issuer)}</p>')
        html = (
            '<!doctype html><html><body style="font-family:system-ui,sans-serif;'
            'color:#1b1f24;line-height:1.5;max-width:560px">'
            + "".join(html_parts)
            + "</body></html>"
        )
        return Composed(
            subject=f"{issuer}: {translate(self.subject, locale)}",
            text="\n\n".join(text_parts) + "\n",
            html=html,
        )


def two_factor_enabled(login: str) -> Message:
    return Message(
        words.SUBJECT_TWO_FACTOR_ENABLED,
        (words.TWO_FACTOR_ENABLED(login=login), NOT_YOU),
    )


def authenticator_added(login: str, name: str) -> Message:
    return Message(
        words.SUBJECT_AUTHENTICATOR_ADDED,
        (words.AUTHENTICATOR_ADDED(login=login, name=name), NOT_YOU),
    )


def authenticator_removed(login: str, name: str) -> Message:
    return Message(
        words.SUBJECT_AUTHENTICATOR_REMOVED,
        (words.AUTHENTICATOR_REMOVED(login=login, name=name), NOT_YOU),
    )


def passkey_added(login: str, name: str) -> Message:
    return Message(
        words.SUBJECT_PASSKEY_ADDED,
        (words.PASSKEY_ADDED(login=login, name=name), NOT_YOU),
    )


def passkey_removed(login: str, name: str) -> Message:
    return Message(
        words.SUBJECT_PASSKEY_REMOVED,
        (words.PASSKEY_REMOVED(login=login, name=name), NOT_YOU),
    )


def two_factor_disabled(login: str) -> Message:
    return Message(
        words.SUBJECT_TWO_FACTOR_DISABLED,
        (words.TWO_FACTOR_DISABLED(login=login), NOT_YOU),
    )


def recovery_codes_regenerated(login: str) -> Message:
    return Message(
        words.SUBJECT_RECOVERY_CODES_REGENERATED,
        (words.RECOVERY_CODES_REGENERATED(login=login), NOT_YOU),
    )


def recovery_code_used(login: str, codes_left: int) -> Message:
    return Message(
        words.SUBJECT_RECOVERY_CODE_USED,
        (
            words.RECOVERY_CODE_USED(login=login, n=codes_left),
            words.LOST_PHONE(if_not_you=NOT_YOU),
        ),
    )


def second_factor_locked(login: str, until: datetime | None) -> Message:
    """`until` None: until an administrator unlocks it."""
    locked = (
        words.SECOND_FACTOR_LOCKED_UNTIL(login=login, time=f"{until:%Y-%m-%d %H:%M}")
        if until
        else words.SECOND_FACTOR_LOCKED_UNTIL_UNLOCKED(login=login)
    )
    return Message(words.SUBJECT_SECOND_FACTOR_LOCKED, (locked, words.SOMEONE_KNOWS_YOUR_PASSWORD))


def password_changed(login: str) -> Message:
    return Message(
        words.SUBJECT_PASSWORD_CHANGED,
        (words.PASSWORD_CHANGED(login=login), NOT_YOU),
    )


def email_change_requested(login: str, new_address: str) -> Message:
    return Message(
        words.SUBJECT_EMAIL_CHANGE_REQUESTED,
        (
            words.EMAIL_CHANGE_REQUESTED(login=login, new_address=new_address),
            words.IF_NOT_YOU_CHANGE_PASSWORD,
        ),
    )


def email_changed(login: str, new_address: str) -> Message:
    return Message(
        words.SUBJECT_EMAIL_CHANGED,
        (
            words.EMAIL_CHANGED(login=login, new_address=new_address),
            words.IF_NOT_YOU_CONTACT_ADMIN,
        ),
    )


def sign_in_after_failed_codes(login: str, failures: int) -> Message:
    return Message(
        words.SUBJECT_SIGN_IN_AFTER_FAILED_CODES,
        (words.SIGN_IN_AFTER_FAILED_CODES(login=login, failures=failures), NOT_YOU),
    )


def verify_email(login: str, url: str, hours: int) -> Message:
    return Message(
        words.SUBJECT_VERIFY_EMAIL,
        (words.VERIFY_EMAIL(login=login, hours=hours), words.IF_YOU_DID_NOT_ASK),
        action=(words.ACTION_VERIFY_EMAIL, url),
    )


def password_reset(login: str, url: str, minutes: int) -> Message:
    return Message(
        words.SUBJECT_PASSWORD_RESET,
        (words.PASSWORD_RESET(login=login, minutes=minutes), words.PASSWORD_RESET_NOT_ASKED),
        action=(words.ACTION_PASSWORD_RESET, url),
    )


def signup_with_taken_address(login: str, organization: str, url: str) -> Message:
    """To the owner of an address someone typed into sign-up; the person who typed it is
    shown the same answer as for a new address and never learns of this message."""
    return Message(
        words.SUBJECT_SIGNUP_WITH_TAKEN_ADDRESS,
        (
            words.SIGNUP_WITH_TAKEN_ADDRESS(organization=organization, login=login),
            words.SIGNUP_WITH_TAKEN_ADDRESS_WHAT_TO_DO,
        ),
        action=(words.ACTION_SIGN_IN, url),
    )


def invitation(organization: str, issuer: str, role: str, url: str) -> Message:
    return Message(
        words.SUBJECT_INVITATION(organization=organization),
        (
            words.INVITATION(organization=organization, issuer=issuer, role=role),
            words.IF_NOT_EXPECTED,
        ),
        action=(words.ACTION_ACCEPT_INVITATION, url),
    )


def client_created(actor: Words, name: str, client_id: str, organization: str, url: str) -> Message:
    """To each admin of the organization; never with the secret."""
    return Message(
        words.SUBJECT_CLIENT_CREATED(name=name, organization=organization),
        (
            words.CLIENT_CREATED(
                actor=actor, name=name, client_id=client_id, organization=organization
            ),
            words.IF_NOT_EXPECTED_CHECK_APPLICATIONS(organization=organization),
        ),
        action=(words.ACTION_OPEN_APPLICATIONS, url),
    )


def client_revoked(actor: Words, name: str, client_id: str, organization: str, url: str) -> Message:
    return Message(
        words.SUBJECT_CLIENT_REVOKED(name=name, organization=organization),
        (
            words.CLIENT_REVOKED(
                actor=actor, name=name, client_id=client_id, organization=organization
            ),
            words.IF_NOT_EXPECTED_CHECK_APPLICATIONS(organization=organization),
        ),
        action=(words.ACTION_OPEN_APPLICATIONS, url),
    )


def api_key_created(actor: Words, name: str, key_id: int, organization: str, url: str) -> Message:
    """To each admin of the organization; never with the key."""
    return Message(
        words.SUBJECT_API_KEY_CREATED(name=name, organization=organization),
        (
            words.API_KEY_CREATED(actor=actor, name=name, key_id=key_id, organization=organization),
            words.IF_NOT_EXPECTED_CHECK_API_KEYS(organization=organization),
        ),
        action=(words.ACTION_OPEN_API_KEYS, url),
    )


def api_key_revoked(actor: Words, name: str, key_id: int, organization: str, url: str) -> Message:
    return Message(
        words.SUBJECT_API_KEY_REVOKED(name=name, organization=organization),
        (
            words.API_KEY_REVOKED(actor=actor, name=name, key_id=key_id, organization=organization),
            words.IF_NOT_EXPECTED_CHECK_API_KEYS(organization=organization),
        ),
        action=(words.ACTION_OPEN_API_KEYS, url),
    )
