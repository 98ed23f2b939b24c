"""Words for what activity lists and the audit log show: events, browsers and audit
details, from the catalogue (twofold.core.words), in the reader's language."""

from __future__ import annotations

import json
import re

from twofold.core import words
from twofold.core.audit_events import AuditEventType as E
from twofold.core.words import Msg, translate

EVENT_LABELS: dict[str, Msg] = {
    E.SIGN_IN_SUCCEEDED: words.EVENT_SIGN_IN_SUCCEEDED,
    E.SIGN_IN_PASSWORD_FAILED: words.EVENT_SIGN_IN_PASSWORD_FAILED,
    E.SECOND_FACTOR_FAILED: words.EVENT_SECOND_FACTOR_FAILED,
    E.SECOND_FACTOR_CODE_REUSED: words.EVENT_SECOND_FACTOR_CODE_REUSED,
    E.SECOND_FACTOR_LOCKED: words.EVENT_SECOND_FACTOR_LOCKED,
    E.SECOND_FACTOR_UNLOCKED: words.EVENT_SECOND_FACTOR_UNLOCKED,
    E.RECOVERY_CODE_USED: words.EVENT_RECOVERY_CODE_USED,
    E.RECOVERY_CODES_REGENERATED: words.EVENT_RECOVERY_CODES_REGENERATED,
    E.TWO_FACTOR_ENABLED: words.EVENT_TWO_FACTOR_ENABLED,
    E.TWO_FACTOR_DISABLED: words.EVENT_TWO_FACTOR_DISABLED,
    E.AUTHENTICATOR_ADDED: words.EVENT_AUTHENTICATOR_ADDED,
    E.AUTHENTICATOR_RENAMED: words.EVENT_AUTHENTICATOR_RENAMED,
    E.AUTHENTICATOR_REMOVED: words.EVENT_AUTHENTICATOR_REMOVED,
    E.PASSKEY_ADDED: words.EVENT_PASSKEY_ADDED,
    E.PASSKEY_RENAMED: words.EVENT_PASSKEY_RENAMED,
    E.PASSKEY_REMOVED: words.EVENT_PASSKEY_REMOVED,
    E.PASSKEY_REFUSED: words.EVENT_PASSKEY_REFUSED,
    E.SIGN_COUNT_REGRESSED: words.EVENT_SIGN_COUNT_REGRESSED,
    E.PASSWORD_CHANGED: words.EVENT_PASSWORD_CHANGED,
    E.PASSWORD_CHECK_FAILED: words.EVENT_PASSWORD_CHECK_FAILED,
    E.PASSWORD_RESET_REQUESTED: words.EVENT_PASSWORD_RESET_REQUESTED,
    E.PASSWORD_RESET: words.EVENT_PASSWORD_RESET,
    E.EMAIL_CHANGE_REQUESTED: words.EVENT_EMAIL_CHANGE_REQUESTED,
    E.EMAIL_VERIFIED: words.EVENT_EMAIL_VERIFIED,
    E.SIGNED_OUT: words.EVENT_SIGNED_OUT,
    E.SESSION_ENDED: words.EVENT_SESSION_ENDED,
    E.USER_CREATED: words.EVENT_USER_CREATED,
    E.ORGANIZATION_SWITCHED: words.EVENT_ORGANIZATION_SWITCHED,
    E.ORGANIZATION_SWITCH_REFUSED: words.EVENT_ORGANIZATION_SWITCH_REFUSED,
    E.MEMBERSHIP_ADDED: words.EVENT_MEMBERSHIP_ADDED,
    E.MEMBERSHIP_REMOVED: words.EVENT_MEMBERSHIP_REMOVED,
    E.TWO_FACTOR_RESET_BY_ADMIN: words.EVENT_TWO_FACTOR_RESET_BY_ADMIN,
    E.TWO_FACTOR_REENROLLED: words.EVENT_TWO_FACTOR_REENROLLED,
    E.ADMIN_ACTION_REFUSED: words.EVENT_ADMIN_ACTION_REFUSED,
    E.USER_DEACTIVATED: words.EVENT_USER_DEACTIVATED,
    E.INVITATION_SENT: words.EVENT_INVITATION_SENT,
    E.INVITATION_ACCEPTED: words.EVENT_INVITATION_ACCEPTED,
    E.ORGANIZATION_CREATED: words.EVENT_ORGANIZATION_CREATED,
    E.ORGANIZATION_POLICY_CHANGED: words.EVENT_ORGANIZATION_POLICY_CHANGED,
    E.ORGANIZATION_MEMBERS_SIGNED_OUT: words.EVENT_ORGANIZATION_MEMBERS_SIGNED_OUT,
    E.SIGNUP_REFUSED: words.EVENT_SIGNUP_REFUSED,
    E.RECOVERY_CODES_DISCARDED: words.EVENT_RECOVERY_CODES_DISCARDED,
    E.CLIENT_CREATED: words.EVENT_CLIENT_CREATED,
    E.CLIENT_REVOKED: words.EVENT_CLIENT_REVOKED,
    E.CLIENT_SECRET_ROTATED: words.EVENT_CLIENT_SECRET_ROTATED,
    E.OIDC_GRANTS_REVOKED: words.EVENT_OIDC_GRANTS_REVOKED,
    E.OIDC_TOKEN_ISSUED: words.EVENT_OIDC_TOKEN_ISSUED,
    E.OIDC_TOKEN_REFUSED: words.EVENT_OIDC_TOKEN_REFUSED,
    E.OIDC_TOKEN_REFRESHED: words.EVENT_OIDC_TOKEN_REFRESHED,
    E.OIDC_SIGN_IN_REFUSED: words.EVENT_OIDC_SIGN_IN_REFUSED,
    E.OIDC_SIGNED_OUT: words.EVENT_OIDC_SIGNED_OUT,
    E.FORWARD_AUTH_REFUSED: words.EVENT_FORWARD_AUTH_REFUSED,
    E.API_KEY_CREATED: words.EVENT_API_KEY_CREATED,
    E.API_KEY_REVOKED: words.EVENT_API_KEY_REVOKED,
    E.API_KEY_VERIFIED: words.EVENT_API_KEY_VERIFIED,
    E.API_KEY_CODE_FAILED: words.EVENT_API_KEY_CODE_FAILED,
    E.API_KEY_LOCKED: words.EVENT_API_KEY_LOCKED,
    E.SMS_SENT: words.EVENT_SMS_SENT,
    E.SMS_SEND_FAILED: words.EVENT_SMS_SEND_FAILED,
    E.SMS_LIMIT_REACHED: words.EVENT_SMS_LIMIT_REACHED,
    E.REMEMBERED_BROWSER_ADDED: words.EVENT_REMEMBERED_BROWSER_ADDED,
    E.REMEMBERED_BROWSER_USED: words.EVENT_REMEMBERED_BROWSER_USED,
    E.REMEMBERED_BROWSER_REFUSED: words.EVENT_REMEMBERED_BROWSER_REFUSED,
    E.REMEMBERED_BROWSER_FORGOTTEN: words.EVENT_REMEMBERED_BROWSER_FORGOTTEN,
}


def event_label(event: str, locale: str | None = None) -> str:
    label = EVENT_LABELS.get(event)
    if label is None:  # an event without words yet: its name, readable
        return event.replace("_", " ").replace(".", ": ").capitalize()
    return translate(label, locale)


_BROWSERS = [
    ("Edge", re.compile(r"Edg/")),
    ("Firefox", re.compile(r"Firefox/")),
    ("Chrome", re.compile(r"Chrom(e|ium)/")),
    ("Safari", re.compile(r"Safari/")),
]
_SYSTEMS = [
    ("Android", re.compile(r"Android")),
    ("iPhone", re.compile(r"iPhone|iPad")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X")),
    ("Linux", re.compile(r"Linux")),
]


def browser_summary(user_agent: str | None, locale: str | None = None) -> str:
    """'Firefox on Windows' — enough to recognise one's own device, nothing more."""
    if not user_agent:
        return translate(words.UNKNOWN_BROWSER, locale)
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return translate(words.BROWSER_ON_SYSTEM(browser=browser, system=system), locale)
    return browser or system or user_agent[:40]


# Audit details the admin console shows, in this order, with their words.
DETAIL_LABELS = {
    "reason": words.DETAIL_REASON,
    "sessions_ended": words.DETAIL_SESSIONS_ENDED,
    "other_sessions_ended": words.DETAIL_OTHER_SESSIONS_ENDED,
    "role": words.DETAIL_ROLE,
    "locked_until": words.DETAIL_LOCKED_UNTIL,
    "codes_left": words.DETAIL_CODES_LEFT,
    "application": words.DETAIL_APPLICATION,
    "client_id": words.DETAIL_CLIENT_ID,
    "grants_revoked": words.DETAIL_GRANTS_REVOKED,
    "api_key_id": words.DETAIL_API_KEY_ID,
}


def audit_details(detail_json: str, locale: str | None = None) -> list[str]:
    """An audit event's details as short lines: the reason given, a policy's before → after,
    and the other recorded facts (never a secret: audit.record refuses them)."""
    try:
        detail = json.loads(detail_json or "{}")
    except ValueError:
        return []
    if not isinstance(detail, dict):
        return []
    lines = []
    if "before" in detail or "after" in detail:
        policy = words.DETAIL_POLICY(
            before=str(detail.get("before", "?")), after=str(detail.get("after", "?"))
        )
        lines.append(translate(policy, locale))
    for key, label in DETAIL_LABELS.items():
        if detail.get(key) not in (None, ""):
            line = words.DETAIL_LINE(label=label, value=str(detail[key]))
            lines.append(translate(line, locale))
    return lines
