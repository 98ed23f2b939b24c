"""Words for what the person's own activity list shows: events and browsers."""

from __future__ import annotations

import json
import re

from twofold.core.audit_events import AuditEventType as E

EVENT_LABELS: dict[str, str] = {
    E.SIGN_IN_SUCCEEDED: "Signed in",
    E.SIGN_IN_PASSWORD_FAILED: "Wrong password entered",
    E.SECOND_FACTOR_FAILED: "Wrong authentication code entered",
    E.SECOND_FACTOR_CODE_REUSED: "An already used code was entered",
    E.SECOND_FACTOR_LOCKED: "Two-factor sign-in locked after wrong codes",
    E.SECOND_FACTOR_UNLOCKED: "Two-factor sign-in unlocked",
    E.RECOVERY_CODE_USED: "Signed in with a recovery code",
    E.RECOVERY_CODES_REGENERATED: "New recovery codes made",
    E.TWO_FACTOR_ENABLED: "Two-factor authentication turned on",
    E.TWO_FACTOR_DISABLED: "Two-factor authentication turned off",
    E.PASSWORD_CHANGED: "Password changed",
    E.PASSWORD_CHECK_FAILED: "Wrong current password entered",
    E.PASSWORD_RESET_REQUESTED: "Password reset link sent",
    E.PASSWORD_RESET: "Password reset by email link",
    E.EMAIL_CHANGE_REQUESTED: "Email address change requested",
    E.EMAIL_VERIFIED: "Email address confirmed",
    E.SIGNED_OUT: "Signed out",
    E.SESSION_ENDED: "Signed out from the security page",
    E.USER_CREATED: "Account created",
    E.ORGANIZATION_SWITCHED: "Switched organization",
    E.ORGANIZATION_SWITCH_REFUSED: "Refused: switch to an organization you are not in",
    E.MEMBERSHIP_ADDED: "Added to an organization",
    E.MEMBERSHIP_REMOVED: "Removed from an organization",
    E.TWO_FACTOR_RESET_BY_ADMIN: "Two-factor authentication reset by an administrator",
    E.TWO_FACTOR_REENROLLED: "Two-factor authentication set up again after a reset",
    E.ADMIN_ACTION_REFUSED: "Refused: an admin action without permission",
    E.USER_DEACTIVATED: "Account deactivated",
    E.INVITATION_SENT: "Invitation sent",
    E.INVITATION_ACCEPTED: "Invitation accepted",
    E.ORGANIZATION_CREATED: "Organization created",
    E.ORGANIZATION_POLICY_CHANGED: "2FA policy changed",
    E.ORGANIZATION_MEMBERS_SIGNED_OUT: "Everyone signed out by an admin",
    E.SIGNUP_REFUSED: "Refused: sign-up for a closed organization",
    E.RECOVERY_CODES_DISCARDED: "Recovery codes withdrawn by a key rotation",
}


def event_label(event: str) -> str:
    return EVENT_LABELS.get(event, event.replace("_", " ").replace(".", ": ").capitalize())


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


def browser_summary(user_agent: str | None) -> str:
    """'Firefox on Windows' — enough to recognise one's own device, nothing more."""
    if not user_agent:
        return "Unknown browser"
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent[:40]


# Audit details the admin console shows, in this order, with their words.
DETAIL_LABELS = {
    "reason": "Reason",
    "sessions_ended": "Sessions ended",
    "other_sessions_ended": "Other sessions ended",
    "role": "Role",
    "locked_until": "Locked until",
    "codes_left": "Recovery codes left",
}


def audit_details(detail_json: str) -> list[str]:
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
        lines.append(f"Policy: {detail.get('before', '?')} → {detail.get('after', '?')}")
    for key, label in DETAIL_LABELS.items():
        if detail.get(key) not in (None, ""):
            lines.append(f"{label}: {detail[key]}")
    return lines
