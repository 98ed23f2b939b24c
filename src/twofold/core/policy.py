"""Organization 2FA policies and what they demand of one person in one session.

A policy only ever adds requirements: a person with 2FA on is always asked for it, and
admins and super-admins must have it whatever their organizations' policies say. An
organization may also require a phishing-resistant method (a security key or passkey,
WebAuthn) of its admins or of everyone (decision 0029).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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


class PasskeyPolicy(StrEnum):
    """Whether members may use security keys and passkeys, and how (decision 0027)."""

    OFF = "off"  # not offered
    SECOND_FACTOR = "second-factor"  # after the password, instead of a code
    PASSWORDLESS = "passwordless"  # also instead of the password (a passkey that verifies)


class PhishingResistantPolicy(StrEnum):
    """Whom the organization requires to have and use a security key or passkey."""

    OFF = "off"
    ADMINS = "admins"  # its admins
    ALL = "all"  # every member


MAX_REMEMBER_DAYS = 30


def parse_passkeys(value: str) -> PasskeyPolicy:
    try:
        return PasskeyPolicy(value.strip().lower())
    except ValueError:
        raise InvalidInput("passkeys", words.PASSKEYS_CHOICES) from None


def parse_phishing_resistant(value: str) -> PhishingResistantPolicy:
    try:
        return PhishingResistantPolicy(value.strip().lower())
    except ValueError:
        raise InvalidInput("phishing_resistant", words.PHISHING_RESISTANT_CHOICES) from None


def parse_remember_days(value: str | int) -> int:
    """Days a browser may be remembered for a second factor: a whole number from 0 (off)
    to MAX_REMEMBER_DAYS."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 4 or int(text) > MAX_REMEMBER_DAYS:
        raise InvalidInput("remember_days", words.REMEMBER_DAYS_RANGE(max_days=MAX_REMEMBER_DAYS))
    return int(text)


def check_key_settings(
    passkeys: PasskeyPolicy, phishing_resistant: PhishingResistantPolicy
) -> None:
    """Requiring security keys while not offering them would lock people out."""
    if passkeys is PasskeyPolicy.OFF and phishing_resistant is not PhishingResistantPolicy.OFF:
        raise InvalidInput("phishing_resistant", words.PHISHING_RESISTANT_NEEDS_PASSKEYS)


def phishing_resistant_applies(policy: PhishingResistantPolicy, role: Role) -> bool:
    """THE rule for whom a phishing-resistant requirement covers."""
    if policy is PhishingResistantPolicy.ALL:
        return True
    return policy is PhishingResistantPolicy.ADMINS and role is Role.ADMIN


def phishing_resistant_since_after(
    before: PhishingResistantPolicy,
    after: PhishingResistantPolicy,
    since: datetime | None,
    now: datetime,
) -> datetime | None:
    """When the requirement counts from after a change (the grace days run from then): now
    when it is switched on or widened (admins -> all: members get their own grace), kept
    when it stays or narrows, None when it is off."""
    if after is PhishingResistantPolicy.OFF:
        return None
    widened = before is PhishingResistantPolicy.OFF or (
        before is PhishingResistantPolicy.ADMINS and after is PhishingResistantPolicy.ALL
    )
    return now if widened or since is None else since


def key_grace_end(
    policy: PhishingResistantPolicy, since: datetime | None, grace_days: int
) -> datetime | None:
    """When the grace period for adding a security key ends, or None when there is none."""
    if policy is PhishingResistantPolicy.OFF or since is None or grace_days <= 0:
        return None
    return since + timedelta(days=grace_days)


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
    phishing_resistant: PhishingResistantPolicy = PhishingResistantPolicy.OFF
    phishing_resistant_since: datetime | None = None  # when it was switched on (or widened)
    passkeys: PasskeyPolicy = PasskeyPolicy.SECOND_FACTOR

    @property
    def requires_security_key(self) -> bool:
        """The organization requires this member to have and use a security key or passkey."""
        return phishing_resistant_applies(self.phishing_resistant, self.role)

    def key_grace_ends_at(self) -> datetime | None:
        """Until when this member may put off adding a security key, or None (add it now):
        only members who were here before the requirement began get the grace days."""
        if not self.requires_security_key or self.phishing_resistant_since is None:
            return None
        if self.joined_at >= self.phishing_resistant_since:
            return None
        return key_grace_end(
            self.phishing_resistant, self.phishing_resistant_since, self.grace_days
        )

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
    # What is owed is a security key or passkey (WebAuthn): GRACE or ENROLL, add one; VERIFY,
    # use one (a code does not answer it), because the organization requires phishing
    # resistance of this person.
    security_key: bool = False


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
    has_security_key: bool = False,
    session_phishing_resistant: bool = False,
) -> Access:
    """What the person must do before using their account in the current organization.

    Enrollment is owed to *every* organization that requires it (2FA belongs to the account),
    so a requiring organization whose grace is over blocks everything until setup is done,
    whichever organization is current. Verification, by contrast, is per session and per
    organization: switching into a requiring one asks for the code again.

    Phishing resistance (decision 0029) follows the same shape: a security key is owed to
    every organization that requires one of the person (after its grace), and a session
    entering such an organization must have used one (`session_phishing_resistant`: the
    session's methods include hwk or swk) and be verified there; a code does not answer it.
    A security key is a second factor, so it counts as having 2FA.
    """
    two_factor = _two_factor_access(
        has_two_factor=has_two_factor or has_security_key,
        is_superadmin=is_superadmin,
        memberships=memberships,
        current=current,
        verified_for_current=verified_for_current,
        now=now,
        reset_pending=reset_pending,
        # A security key is a method besides SMS: "SMS only" no longer describes the person.
        method_kinds=method_kinds | {"security_key"} if has_security_key else method_kinds,
    )
    key_here = current is not None and current.requires_security_key and has_security_key
    if two_factor.demand is Demand.VERIFY:
        return replace(two_factor, security_key=key_here)
    if two_factor.demand is Demand.ENROLL:
        return two_factor
    key = _security_key_demand(
        has_security_key=has_security_key,
        memberships=memberships,
        current=current,
        verified=verified_for_current and session_phishing_resistant,
        now=now,
    )
    if key.demand is Demand.NONE or (
        key.demand is Demand.GRACE and two_factor.demand is Demand.GRACE
    ):
        return two_factor  # the earlier obligation is shown first; the key one follows
    return key


def _security_key_demand(
    *,
    has_security_key: bool,
    memberships: Sequence[MembershipView],
    current: MembershipView | None,
    verified: bool,
    now: datetime,
) -> Access:
    """THE phishing-resistant rule: members it covers must add a security key (after the
    grace days, for those who were members before it began) and enter the organization
    with it."""
    if has_security_key:
        if current is not None and current.requires_security_key and not verified:
            return Access(Demand.VERIFY, because=current.name, security_key=True)
        return Access(Demand.NONE)
    requiring = [m for m in memberships if m.requires_security_key]
    if current is not None and current.requires_security_key:
        requiring = [current, *(m for m in requiring if m != current)]
    owed_now = [m for m in requiring if (m.key_grace_ends_at() or now) <= now]
    if owed_now:
        return Access(Demand.ENROLL, because=owed_now[0].name, security_key=True)
    if requiring:
        first_due = min(requiring, key=lambda m: m.key_grace_ends_at() or now)
        return Access(
            Demand.GRACE,
            grace_ends_at=first_due.key_grace_ends_at(),
            because=first_due.name,
            security_key=True,
        )
    return Access(Demand.NONE)


def _two_factor_access(
    *,
    has_two_factor: bool,
    is_superadmin: bool,
    memberships: Sequence[MembershipView],
    current: MembershipView | None,
    verified_for_current: bool,
    now: datetime,
    reset_pending: bool,
    method_kinds: frozenset[str],
) -> Access:
    """What 2FA itself demands (the policy, the admin rule, an admin's reset, SMS)."""
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


def security_keys_offered(current: MembershipView | None) -> bool:
    """Whether a security key or passkey may be added here (the organization has not
    turned them off)."""
    return current is not None and current.passkeys is not PasskeyPolicy.OFF


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
