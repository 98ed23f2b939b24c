"""Organizations, memberships and their 2FA policies; switching the current organization."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import AlreadyExists, Forbidden, InvalidInput, NotFound
from twofold.core.oidc import is_phishing_resistant
from twofold.core.policy import (
    Access,
    MembershipView,
    MethodKind,
    PasskeyPolicy,
    PhishingResistantPolicy,
    Role,
    TwoFactorPolicy,
    access_for,
    check_key_settings,
    grace_end,
    key_grace_end,
    methods_text,
    parse_remember_days,
    phishing_resistant_since_after,
    stored_methods,
)
from twofold.core.sessions import amr_methods
from twofold.core.words import Words
from twofold.services import audit, oidc_grants, sessions
from twofold.services.runtime import ClientInfo, Runtime, outbox_refused_in_production
from twofold.services.transactions import use_case
from twofold.services.users import (
    has_security_key,
    mark_credentials_changed_of,
    method_kinds,
    users_with_security_key,
    users_with_two_factor,
)
from twofold.store.db import rows_affected
from twofold.store.models import (
    Authenticator,
    AuthSession,
    Membership,
    OidcClient,
    OidcGrant,
    Organization,
    User,
)

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
MAX_GRACE_DAYS = 365


def normalize_slug(raw: str) -> str:
    slug = raw.strip().lower()
    if not SLUG_PATTERN.fullmatch(slug):
        raise InvalidInput("slug", words.SLUG_SHAPE)
    return slug


def get_organization(db: Session, slug: str) -> Organization:
    organization = db.scalar(
        select(Organization).where(Organization.slug == slug.strip().lower()[:64])
    )
    if organization is None:
        raise NotFound(words.NO_SUCH_ORGANIZATION(slug=slug.strip()[:64]))
    return organization


@use_case
def create_organization(
    db: Session,
    runtime: Runtime,
    *,
    slug: str,
    name: str | None,
    two_factor: TwoFactorPolicy,
    signup_open: bool,
    actor_id: int | None = None,
) -> Organization:
    slug = normalize_slug(slug)
    display_name = (name or slug).strip()
    if not display_name or len(display_name) > 200:
        raise InvalidInput("name", words.ORGANIZATION_NAME_LENGTH)
    if db.scalar(select(Organization.id).where(Organization.slug == slug)) is not None:
        raise AlreadyExists("slug", words.ORGANIZATION_EXISTS(slug=slug))
    now = runtime.now()
    organization = Organization(
        slug=slug,
        name=display_name,
        two_factor_policy=two_factor.value,
        required_since=now if two_factor is TwoFactorPolicy.REQUIRED else None,
        grace_days=0,
        signup_open=signup_open,
        created_at=now,
    )
    db.add(organization)
    db.flush()
    audit.record(
        db,
        now,
        AuditEventType.ORGANIZATION_CREATED,
        actor_id=actor_id,
        organization_id=organization.id,
        slug=slug,
        two_factor=two_factor.value,
        signup_open=signup_open,
    )
    return organization


def list_organizations(db: Session) -> list[Organization]:
    return list(db.scalars(select(Organization).order_by(Organization.slug)))


def member_count(db: Session, organization_id: int) -> int:
    return int(
        db.scalar(
            select(func.count(Membership.id)).where(Membership.organization_id == organization_id)
        )
        or 0
    )


@dataclass(frozen=True)
class PolicyEffect:
    """What a policy change would do, shown before it is applied."""

    members: int
    members_without_2fa: int
    grace_ends_at: datetime | None
    methods_before: str = ""
    methods_after: str = ""
    # When SMS stops being allowed: members whose only method is SMS, and until when they
    # keep it (None: they must add an app at once). None when SMS is not being turned off.
    members_with_sms_only: int | None = None
    sms_grace_ends_at: datetime | None = None
    # Security keys and passkeys (decision 0029): each setting before -> after.
    passkeys_before: str = PasskeyPolicy.SECOND_FACTOR.value
    passkeys_after: str = PasskeyPolicy.SECOND_FACTOR.value
    phishing_resistant_before: str = PhishingResistantPolicy.OFF.value
    phishing_resistant_after: str = PhishingResistantPolicy.OFF.value
    remember_days_before: int = 0
    remember_days_after: int = 0
    # Members with a security key or passkey registered.
    members_with_key: int = 0
    # With a phishing-resistant requirement after the change: the members it covers, those
    # of them without a key yet, and until when the ones already here may add one (None:
    # at once).
    members_requiring_key: int = 0
    requiring_key_without_one: int = 0
    key_grace_ends_at: datetime | None = None


def members_without_2fa(db: Session, organization_id: int) -> int:
    return int(
        db.scalar(
            select(func.count(Membership.id)).where(
                Membership.organization_id == organization_id,
                Membership.user_id.not_in(users_with_two_factor()),
            )
        )
        or 0
    )


def members_with_security_key(
    db: Session, organization_id: int, *, admins_only: bool = False
) -> int:
    """Members (or its admins) with a security key or passkey."""
    conditions = [
        Membership.organization_id == organization_id,
        Membership.user_id.in_(users_with_security_key()),
    ]
    if admins_only:
        conditions.append(Membership.role == Role.ADMIN.value)
    return int(db.scalar(select(func.count(Membership.id)).where(*conditions)) or 0)


def admin_count(db: Session, organization_id: int) -> int:
    return int(
        db.scalar(
            select(func.count(Membership.id)).where(
                Membership.organization_id == organization_id,
                Membership.role == Role.ADMIN.value,
            )
        )
        or 0
    )


@dataclass(frozen=True)
class KeySettings:
    """An organization's security-key settings after a change (None in a request: unchanged)."""

    passkeys: PasskeyPolicy
    phishing_resistant: PhishingResistantPolicy
    remember_days: int


def _key_settings_after(
    organization: Organization,
    passkeys: PasskeyPolicy | None,
    phishing_resistant: PhishingResistantPolicy | None,
    remember_days: int | None,
) -> KeySettings:
    """The settings a change would leave, checked as a whole by core.policy's rules."""
    after = KeySettings(
        passkeys=passkeys or PasskeyPolicy(organization.passkeys),
        phishing_resistant=phishing_resistant
        or PhishingResistantPolicy(organization.phishing_resistant),
        remember_days=parse_remember_days(
            organization.remember_days if remember_days is None else remember_days
        ),
    )
    check_key_settings(after.passkeys, after.phishing_resistant)
    return after


def _check_grace_days(grace_days: int | None) -> None:
    if grace_days is not None and not 0 <= grace_days <= MAX_GRACE_DAYS:
        raise InvalidInput("grace_days", words.GRACE_DAYS_RANGE(max_days=MAX_GRACE_DAYS))


def _required_since_after(
    organization: Organization, two_factor: TwoFactorPolicy, now: datetime
) -> datetime | None:
    if two_factor is not TwoFactorPolicy.REQUIRED:
        return None
    already = organization.two_factor_policy == TwoFactorPolicy.REQUIRED.value
    return organization.required_since if already and organization.required_since else now


def preview_policy(
    db: Session,
    runtime: Runtime,
    organization: Organization,
    *,
    two_factor: TwoFactorPolicy,
    grace_days: int | None,
    methods: frozenset[str] | None = None,
    passkeys: PasskeyPolicy | None = None,
    phishing_resistant: PhishingResistantPolicy | None = None,
    remember_days: int | None = None,
) -> PolicyEffect:
    """What `set_policy` with the same arguments would do; refuses what it would refuse."""
    _check_grace_days(grace_days)
    if methods is not None:
        check_methods_allowed(runtime, methods)
    keys = _key_settings_after(organization, passkeys, phishing_resistant, remember_days)
    now = runtime.now()
    since = _required_since_after(organization, two_factor, now)
    days = organization.grace_days if grace_days is None else grace_days
    before = stored_methods(organization.allowed_methods)
    after = before if methods is None else methods
    sms_only: int | None = None
    sms_grace: datetime | None = None
    if MethodKind.SMS.value in before and MethodKind.SMS.value not in after:
        sms_only = members_with_sms_only(db, organization.id)
        sms_grace = now + timedelta(days=days) if days > 0 else None
    return PolicyEffect(
        members=member_count(db, organization.id),
        members_without_2fa=members_without_2fa(db, organization.id),
        grace_ends_at=grace_end(two_factor, since, days),
        methods_before=methods_text(before),
        methods_after=methods_text(after),
        members_with_sms_only=sms_only,
        sms_grace_ends_at=sms_grace,
        **_key_effect(db, organization, keys, days, now),
    )


def _key_effect(
    db: Session, organization: Organization, keys: KeySettings, grace_days: int, now: datetime
) -> dict[str, Any]:
    """The security-key part of a preview: the settings before and after, and whom a
    phishing-resistant requirement covers (how many have no key yet, and their grace)."""
    before = PhishingResistantPolicy(organization.phishing_resistant)
    after = keys.phishing_resistant
    since = phishing_resistant_since_after(
        before, after, organization.phishing_resistant_since, now
    )
    admins_only = after is PhishingResistantPolicy.ADMINS
    covered = 0
    with_key = 0
    if after is not PhishingResistantPolicy.OFF:
        covered = (
            admin_count(db, organization.id) if admins_only else member_count(db, organization.id)
        )
        with_key = members_with_security_key(db, organization.id, admins_only=admins_only)
    return {
        "passkeys_before": organization.passkeys,
        "passkeys_after": keys.passkeys.value,
        "phishing_resistant_before": before.value,
        "phishing_resistant_after": after.value,
        "remember_days_before": organization.remember_days,
        "remember_days_after": keys.remember_days,
        "members_with_key": members_with_security_key(db, organization.id),
        "members_requiring_key": covered,
        "requiring_key_without_one": covered - with_key,
        "key_grace_ends_at": key_grace_end(after, since, grace_days),
    }


def allows_sms(organization: Organization) -> bool:
    return MethodKind.SMS.value in stored_methods(organization.allowed_methods)


def sms_unavailable_reason(runtime: Runtime) -> Words | None:
    """Why no organization may allow SMS here, or None when it may: texts can go only
    where TWOFOLD_SMS_ALLOWED_COUNTRIES names a country, and production does not write
    them to the development outbox."""
    if not runtime.settings.sms_countries:
        return words.SMS_NEEDS_COUNTRIES
    if outbox_refused_in_production(runtime.settings):
        return words.PRODUCTION_REFUSES_SMS_OUTBOX
    return None


def check_methods_allowed(runtime: Runtime, methods: frozenset[str]) -> None:
    """Refuse allowing SMS where it cannot work (`sms_unavailable_reason`)."""
    if MethodKind.SMS.value not in methods:
        return
    reason = sms_unavailable_reason(runtime)
    if reason is not None:
        raise InvalidInput("methods", reason)


def members_with_sms_only(db: Session, organization_id: int) -> int:
    """Members whose every second factor is SMS: they must set up another method when the
    organization stops allowing SMS (after the grace days)."""
    sms_only = (
        select(Authenticator.user_id)
        .where(Authenticator.confirmed_at.is_not(None))
        .group_by(Authenticator.user_id)
        .having(
            func.min(Authenticator.kind) == MethodKind.SMS.value,
            func.max(Authenticator.kind) == MethodKind.SMS.value,
        )
    )
    return int(
        db.scalar(
            select(func.count(Membership.id)).where(
                Membership.organization_id == organization_id,
                Membership.user_id.in_(sms_only),
            )
        )
        or 0
    )


def organization_grace_end(organization: Organization) -> datetime | None:
    """When the organization's grace period for setting up 2FA ends, or None."""
    return grace_end(
        TwoFactorPolicy(organization.two_factor_policy),
        organization.required_since,
        organization.grace_days,
    )


@use_case
def set_policy(
    db: Session,
    runtime: Runtime,
    organization: Organization,
    *,
    two_factor: TwoFactorPolicy,
    grace_days: int | None,
    sign_out_everyone: bool,
    methods: frozenset[str] | None = None,
    passkeys: PasskeyPolicy | None = None,
    phishing_resistant: PhishingResistantPolicy | None = None,
    remember_days: int | None = None,
    actor_id: int | None = None,
    client: ClientInfo | None = None,
    keep_session_id: int | None = None,
) -> int:
    """Apply a policy; returns how many sessions were ended. The grace period counts from
    when `required` was switched on, so changing it takes effect at once for everyone.
    `methods`: the second factors allowed (None: unchanged); when SMS stops being allowed,
    members whose only method it is keep it for the grace days from now. `passkeys`,
    `phishing_resistant`, `remember_days` (None: unchanged): decision 0029; the grace for
    adding a security key counts from when the requirement was switched on or widened."""
    _check_grace_days(grace_days)
    if methods is not None:
        check_methods_allowed(runtime, methods)
    keys = _key_settings_after(organization, passkeys, phishing_resistant, remember_days)
    now = runtime.now()
    keys_before = {
        "passkeys": organization.passkeys,
        "phishing_resistant": organization.phishing_resistant,
        "remember_days": str(organization.remember_days),
    }
    organization.phishing_resistant_since = phishing_resistant_since_after(
        PhishingResistantPolicy(organization.phishing_resistant),
        keys.phishing_resistant,
        organization.phishing_resistant_since,
        now,
    )
    organization.passkeys = keys.passkeys.value
    organization.phishing_resistant = keys.phishing_resistant.value
    organization.remember_days = keys.remember_days
    keys_after = {
        "passkeys": organization.passkeys,
        "phishing_resistant": organization.phishing_resistant,
        "remember_days": str(organization.remember_days),
    }
    keys_change: dict[str, str] = {}
    for name, value in keys_before.items():
        if value != keys_after[name]:
            keys_change[f"{name}_before"] = value
            keys_change[f"{name}_after"] = keys_after[name]
    before = (organization.two_factor_policy, organization.grace_days)
    methods_before = organization.allowed_methods
    organization.required_since = _required_since_after(organization, two_factor, now)
    organization.two_factor_policy = two_factor.value
    if grace_days is not None:
        organization.grace_days = grace_days
    if methods is not None:
        had_sms = MethodKind.SMS.value in stored_methods(organization.allowed_methods)
        organization.allowed_methods = methods_text(methods)
        if had_sms and MethodKind.SMS.value not in methods:
            organization.methods_changed_at = now
        elif MethodKind.SMS.value in methods:
            organization.methods_changed_at = None
    methods_change = (
        {"methods_before": methods_before, "methods_after": organization.allowed_methods}
        if methods_before != organization.allowed_methods
        else {}
    )
    audit.record(
        db,
        now,
        AuditEventType.ORGANIZATION_POLICY_CHANGED,
        actor_id=actor_id,
        organization_id=organization.id,
        client=client,
        before=f"{before[0]} (grace {before[1]} days)",
        after=f"{organization.two_factor_policy} (grace {organization.grace_days} days)",
        **methods_change,  # type: ignore[arg-type]  # str values only, never the named ones
        **keys_change,  # type: ignore[arg-type]  # the same
    )
    ended = 0
    if sign_out_everyone:
        ended = sign_out_members(
            db,
            runtime,
            organization,
            actor_id=actor_id,
            client=client,
            keep_session_id=keep_session_id,
        )
    db.flush()
    return ended


def sign_out_members(
    db: Session,
    runtime: Runtime,
    organization: Organization,
    *,
    actor_id: int | None = None,
    client: ClientInfo | None = None,
    keep_session_id: int | None = None,
) -> int:
    """End every member's sessions — but the acting admin's own, when given, so they see
    the result of what they just did."""
    member_ids = select(Membership.user_id).where(Membership.organization_id == organization.id)
    condition: ColumnElement[bool] = AuthSession.user_id.in_(member_ids)
    if keep_session_id is not None:
        condition = and_(condition, AuthSession.id != keep_session_id)
    ended = sessions.end_sessions_where(db, condition, runtime.now())
    mark_credentials_changed_of(db, member_ids, runtime.now())
    audit.record(
        db,
        runtime.now(),
        AuditEventType.ORGANIZATION_MEMBERS_SIGNED_OUT,
        actor_id=actor_id,
        organization_id=organization.id,
        client=client,
        sessions_ended=ended,
    )
    return ended


@use_case
def add_member(
    db: Session,
    runtime: Runtime,
    user: User,
    organization: Organization,
    role: Role,
    *,
    actor_id: int | None = None,
) -> Membership:
    existing = db.scalar(
        select(Membership).where(
            Membership.user_id == user.id, Membership.organization_id == organization.id
        )
    )
    if existing is not None:
        raise AlreadyExists(
            "organization",
            words.ALREADY_A_MEMBER(login=user.login, organization=organization.slug),
        )
    membership = Membership(
        user_id=user.id, organization_id=organization.id, role=role.value, created_at=runtime.now()
    )
    db.add(membership)
    audit.record(
        db,
        runtime.now(),
        AuditEventType.MEMBERSHIP_ADDED,
        user_id=user.id,
        actor_id=actor_id,
        organization_id=organization.id,
        role=role.value,
    )
    db.flush()
    return membership


@use_case
def remove_member(
    db: Session,
    runtime: Runtime,
    user: User,
    organization: Organization,
    *,
    actor_id: int | None = None,
) -> None:
    removed = rows_affected(
        db,
        delete(Membership).where(
            Membership.user_id == user.id, Membership.organization_id == organization.id
        ),
    )
    if not removed:
        raise NotFound(words.NOT_A_MEMBER_OF(login=user.login, organization=organization.slug))
    db.expire(user, ["memberships"])
    # Their sign-ins to the organization's applications end with the membership.
    its_clients = select(OidcClient.id).where(OidcClient.organization_id == organization.id)
    oidc_grants.revoke_grants_where(
        db,
        (OidcGrant.user_id == user.id) & OidcGrant.client_id.in_(its_clients),
        oidc_grants.REMOVED_FROM_ORGANIZATION,
        runtime.now(),
    )
    audit.record(
        db,
        runtime.now(),
        AuditEventType.MEMBERSHIP_REMOVED,
        user_id=user.id,
        actor_id=actor_id,
        organization_id=organization.id,
    )


def membership_views(db: Session, user: User) -> list[MembershipView]:
    rows = db.execute(
        select(Membership, Organization)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Membership.user_id == user.id)
        .order_by(Membership.id)
    ).all()
    return [
        MembershipView(
            organization_id=organization.id,
            slug=organization.slug,
            name=organization.name,
            role=Role(membership.role),
            joined_at=membership.created_at,
            policy=TwoFactorPolicy(organization.two_factor_policy),
            required_since=organization.required_since,
            grace_days=organization.grace_days,
            allowed_methods=stored_methods(organization.allowed_methods),
            methods_changed_at=organization.methods_changed_at,
            phishing_resistant=PhishingResistantPolicy(organization.phishing_resistant),
            phishing_resistant_since=organization.phishing_resistant_since,
            passkeys=PasskeyPolicy(organization.passkeys),
        )
        for membership, organization in rows
    ]


@dataclass(frozen=True)
class Standing:
    """A person in a session: their organizations, the current one, and what it demands."""

    memberships: list[MembershipView]
    current: MembershipView | None
    access: Access
    has_two_factor: bool
    has_security_key: bool = False


def standing(
    db: Session,
    runtime: Runtime,
    user: User,
    session: AuthSession,
    *,
    organization_id: int | None = None,
) -> Standing:
    """What the session owes in its current organization, or in `organization_id` (one of
    the person's) without making it current."""
    views = membership_views(db, user)
    wanted = organization_id if organization_id is not None else session.organization_id
    current = next((m for m in views if m.organization_id == wanted), None)
    if current is None and views and organization_id is None:
        # The current organization is gone (removed from it): fall back to the first one.
        current = views[0]
        sessions.update_session_row(db, session, organization_id=current.organization_id)
    kinds = method_kinds(db, user.id)
    two_factor = bool(kinds)
    key = has_security_key(db, user.id)
    access = access_for(
        has_two_factor=two_factor,
        is_superadmin=user.is_superadmin,
        memberships=views,
        current=current,
        verified_for_current=current is not None
        and current.organization_id in sessions.verified_organizations(session),
        now=runtime.now(),
        reset_pending=user.two_factor_reset_at is not None and not two_factor,
        method_kinds=kinds,
        has_security_key=key,
        session_phishing_resistant=is_phishing_resistant(amr_methods(session.amr)),
    )
    return Standing(
        memberships=views,
        current=current,
        access=access,
        has_two_factor=two_factor,
        has_security_key=key,
    )


@use_case
def switch_organization(
    db: Session,
    runtime: Runtime,
    session: AuthSession,
    user: User,
    slug: str,
    client: ClientInfo,
) -> Organization:
    """Make another of the person's organizations current; its policy applies at once."""
    organization = db.scalar(select(Organization).where(Organization.slug == slug[:64]))
    is_member = organization is not None and any(
        m.organization_id == organization.id for m in membership_views(db, user)
    )
    # Only members: standing() would put a non-member (even a super-admin) straight back.
    if organization is None or not is_member:
        audit.record(
            db,
            runtime.now(),
            AuditEventType.ORGANIZATION_SWITCH_REFUSED,
            user_id=user.id,
            organization_id=organization.id if organization else None,
            client=client,
            reason="not_a_member" if organization else "unknown_organization",
        )
        db.commit()
        raise Forbidden(words.NOT_YOUR_ORGANIZATION)
    session.organization_id = organization.id
    audit.record(
        db,
        runtime.now(),
        AuditEventType.ORGANIZATION_SWITCHED,
        user_id=user.id,
        organization_id=organization.id,
        client=client,
    )
    db.commit()
    return organization
