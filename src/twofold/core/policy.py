"""Organization 2FA policies and what they demand of one person in one session.

A policy only ever adds requirements: a person with 2FA on is always asked for it, and
admins and super-admins must have it whatever their organizations' policies say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from twofold.core import words
from twofold.core.errors import InvalidInput


class TwoFactorPolicy(StrEnum):
    OFF = "off"  # 2FA is not offered (a person who has it keeps it)
    OPTIONAL = "optional"  # members may turn it on
    REQUIRED = "required"  # every member must have it


class Role(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


def parse_policy(value: str) -> TwoFactorPolicy:
    try:
        return TwoFactorPolicy(value.strip().lower())
    except ValueError:
        raise InvalidInput("two_factor", words.POLICY_CHOICES) from None


class MethodKind(StrEnum):
    """The second factors an organization may allow; TOTP is the default, always allowed."""

    TOTP = "totp"
    SMS = "sms"


DEFAULT_METHODS = frozenset({MethodKind.TOTP.value})


def parse_methods(value: str) -> frozenset[str]:
    """A list such as "totp,sms" (commas or spaces, any order, any case). TOTP must be in
    it: it is the default and the recommended method (decision 0021)."""
    items = [item.strip().lower() for item in value.replace(",", " ").split()]
    known = {kind.value for kind in MethodKind}
    if not items or any(item not in known for item in items):
        raise InvalidInput("methods", words.METHOD_CHOICES)
    if MethodKind.TOTP.value not in items:
        raise InvalidInput("methods", words.TOTP_ALWAYS_ALLOWED)
    return frozenset(items)


def methods_text(methods: frozenset[str] | set[str]) -> str:
    """The stored form: canonical order, comma-separated ("totp,sms")."""
    return ",".join(kind.value for kind in MethodKind if kind.value in methods)


def stored_methods(text: str | None) -> frozenset[str]:
    """The allowed methods as stored (unknown words ignored; TOTP always there)."""
    known = {kind.value for kind in MethodKind}
    found = {item.strip() for item in (text or "").split(",") if item.strip() in known}
    return frozenset(found) | DEFAULT_METHODS


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InvalidInput("role", words.ROLE_CHOICES) from None


@dataclass(frozen=True)
class MembershipView:
    """One organization as it bears on a person: its policy and their place in it."""

    organization_id: int
    slug: str
    name: str
    role: Role
    joined_at: datetime
    policy: TwoFactorPolicy
    required_since: datetime | None
    grace_days: int
    allowed_methods: frozenset[str] = DEFAULT_METHODS
    methods_changed_at: datetime | None = None  # when SMS stopped being allowed

    @property
    def allows_sms(self) -> bool:
        return MethodKind.SMS.value in self.allowed_methods

    def sms_grace_ends_at(self) -> datetime | None:
        """Until when a member whose only method is SMS may keep using it alone here, after
        the organization stopped allowing SMS; None: no grace (set up another method now)."""
        if self.allows_sms or self.methods_changed_at is None or self.grace_days <= 0:
            return None
        if self.joined_at >= self.methods_changed_at:
            return None
        return self.methods_changed_at + timedelta(days=self.grace_days)

    def grace_ends_at(self) -> datetime | None:
        """End of the grace period for this member, or None when they have none."""
        if self.required_since is None or self.joined_at >= self.required_since:
            return None  # people who join after enforcement began set it up at once
        return grace_end(self.policy, self.required_since, self.grace_days)


def grace_end(
    policy: TwoFactorPolicy, required_since: datetime | None, grace_days: int
) -> datetime | None:
    """THE grace-end rule: when an organization's grace period for setting up 2FA ends
    (`grace_days` after 2FA became required), or None when it gives none."""
    if policy is not TwoFactorPolicy.REQUIRED or required_since is None or grace_days <= 0:
        return None
    return required_since + timedelta(days=grace_days)


RESET_BY_ADMIN = "reset by an administrator"


class Demand(StrEnum):
    NONE = "none"
    GRACE = "grace"  # must set up 2FA before grace_ends_at; may postpone until then
    ENROLL = "enroll"  # must set up 2FA now and can reach nothing else
    VERIFY = "verify"  # has 2FA, but this session has not passed it for this organization


@dataclass(frozen=True)
class Access:
    demand: Demand
    grace_ends_at: datetime | None = None
    because: str | None = None  # the organization (name) whose policy asks for it
    # GRACE or ENROLL for a person who has 2FA by text message only, where an organization
    # does not allow SMS: what is owed is another method (an authenticator app).
    another_method: bool = False


def must_always_have_2fa(memberships: Sequence[MembershipView], is_superadmin: bool) -> bool:
    return is_superadmin or any(m.role is Role.ADMIN for m in memberships)


def access_for(
    *,
    has_two_factor: bool,
    is_superadmin: bool,
    memberships: Sequence[MembershipView],
    current: MembershipView | None,
    verified_for_current: bool,
    now: datetime,
    reset_pending: bool = False,
    method_kinds: frozenset[str] = frozenset(),
) -> Access:
    """What the person must do before using their account in the current organization.

    Enrollment is owed to *every* organization that requires it (2FA belongs to the account),
    so a requiring organization whose grace is over blocks everything until setup is done,
    whichever organization is current. Verification, by contrast, is per session and per
    organization: switching into a requiring one asks for the code again.
    """
    if has_two_factor:
        requires_here = current is not None and current.policy is TwoFactorPolicy.REQUIRED
        if requires_here and not verified_for_current:
            assert current is not None
            return Access(Demand.VERIFY, because=current.name)
        return _sms_only_demand(method_kinds, memberships, now)
    if reset_pending:
        # An admin reset 2FA: nothing is reachable until it is set up again through the
        # emailed link, so a stolen password alone gets nowhere.
        return Access(Demand.ENROLL, because=RESET_BY_ADMIN)
    if must_always_have_2fa(memberships, is_superadmin):
        return Access(Demand.ENROLL, because="administrators")
    requiring = [m for m in memberships if m.policy is TwoFactorPolicy.REQUIRED]
    if current is not None and current.policy is TwoFactorPolicy.REQUIRED:
        requiring = [current, *(m for m in requiring if m != current)]
    owed_now = [m for m in requiring if (m.grace_ends_at() or now) <= now]
    if owed_now:
        return Access(Demand.ENROLL, because=owed_now[0].name)
    if requiring:
        first_due = min(requiring, key=lambda m: m.grace_ends_at() or now)
        return Access(Demand.GRACE, grace_ends_at=first_due.grace_ends_at(), because=first_due.name)
    return Access(Demand.NONE)


def _sms_only_demand(
    method_kinds: frozenset[str], memberships: Sequence[MembershipView], now: datetime
) -> Access:
    """THE rule for SMS no longer allowed: a person whose only method is SMS, in an
    organization that does not allow it, keeps it through the grace period counted from
    when SMS stopped being allowed (GRACE), and must then set up another method (ENROLL)."""
    if method_kinds != {MethodKind.SMS.value}:
        return Access(Demand.NONE)
    refusing = [m for m in memberships if not m.allows_sms]
    if not refusing:
        return Access(Demand.NONE)
    owed_now = [m for m in refusing if (m.sms_grace_ends_at() or now) <= now]
    if owed_now:
        return Access(Demand.ENROLL, because=owed_now[0].name, another_method=True)
    first_due = min(refusing, key=lambda m: m.sms_grace_ends_at() or now)
    return Access(
        Demand.GRACE,
        grace_ends_at=first_due.sms_grace_ends_at(),
        because=first_due.name,
        another_method=True,
    )


def sms_offered(current: MembershipView | None, allowed_countries: Sequence[str]) -> bool:
    """Whether the person may set up SMS here: the current organization allows it and the
    operator named at least one country (TWOFOLD_SMS_ALLOWED_COUNTRIES)."""
    return current is not None and current.allows_sms and bool(allowed_countries)


def blockers_to_disabling(
    memberships: Sequence[MembershipView], is_superadmin: bool
) -> list[words.Words]:
    """Why 2FA may not be turned off: organizations requiring it, or an admin role."""
    reasons: list[words.Words] = [
        m.name for m in memberships if m.policy is TwoFactorPolicy.REQUIRED
    ]
    if is_superadmin:
        reasons.append(words.PLATFORM_ADMINISTRATORS)
    elif any(m.role is Role.ADMIN for m in memberships):
        reasons.append(words.ORGANIZATION_ADMINISTRATORS)
    return reasons


def two_factor_offered(
    memberships: Sequence[MembershipView], is_superadmin: bool, has_two_factor: bool
) -> bool:
    """Setup is offered unless every organization of the person has 2FA off."""
    if has_two_factor or must_always_have_2fa(memberships, is_superadmin):
        return True
    if not memberships:
        return True
    return any(m.policy is not TwoFactorPolicy.OFF for m in memberships)


def days_left(until: datetime, now: datetime) -> int:
    """Whole days left, counting a started day (a countdown shows 1 on the last day)."""
    seconds = (until - now).total_seconds()
    return max(0, int(-(-seconds // 86400)))
