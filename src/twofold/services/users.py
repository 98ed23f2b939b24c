"""Creating, finding and describing accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.attributes import set_committed_value

from twofold.core import words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import AlreadyExists, InvalidInput, NotFound
from twofold.core.lockout import PERMANENT_LOCK_AT, is_locked
from twofold.core.validation import check_password_length, normalize_email, normalize_login
from twofold.notify.phones import mask, pretty
from twofold.services import audit, oidc_grants, remembered_browsers
from twofold.services.passwords import check_new_password, hash_new_password
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.sms_codes import open_phone
from twofold.services.transactions import use_case
from twofold.store.models import (
    ApiKeyCodeFailures,
    Authenticator,
    Membership,
    OidcGrant,
    Organization,
    RecoveryCode,
    RememberedBrowser,
    User,
    WebAuthnCredential,
)

DEFAULT_ORGANIZATION = "default"


@use_case
def create_user(
    db: Session,
    runtime: Runtime,
    *,
    login: str,
    password: str,
    email: str | None = None,
    superadmin: bool = False,
    organization_slug: str = DEFAULT_ORGANIZATION,
    role: str = "member",
    actor_id: int | None = None,
    client: ClientInfo | None = None,
    email_verified: bool = False,
) -> User:
    """A new account in an organization. Checks strength; the caller commits.
    `email_verified`: the address was given by an operator, not typed by the person."""
    login = normalize_login(login)
    email = normalize_email(email) if email else None
    check_new_password(password, user_inputs=[login, email or ""])
    password_hash = hash_new_password(db, runtime, password)
    if db.scalar(select(User.id).where(User.login == login)) is not None:
        raise AlreadyExists("login", words.LOGIN_TAKEN)
    if email and db.scalar(select(User.id).where(User.email == email)) is not None:
        raise AlreadyExists("email", words.EMAIL_EXISTS)
    organization = db.scalar(select(Organization).where(Organization.slug == organization_slug))
    if organization is None:
        raise NotFound(words.NO_SUCH_ORGANIZATION(slug=organization_slug))
    now = runtime.now()
    user = User(
        login=login,
        email=email,
        email_verified_at=now if email and email_verified else None,
        password_hash=password_hash,
        is_superadmin=superadmin,
        is_active=True,
        created_at=now,
        failed_code_count=0,
        key_failed_code_count=0,
    )
    db.add(user)
    db.flush()
    db.add(Membership(user_id=user.id, organization_id=organization.id, role=role, created_at=now))
    audit.record(
        db,
        now,
        AuditEventType.USER_CREATED,
        user_id=user.id,
        actor_id=actor_id,
        organization_id=organization.id,
        client=client,
        superadmin=superadmin,
    )
    db.flush()
    return user


def find_by_login_or_email(db: Session, identifier: str) -> User | None:
    needle = identifier.strip().lower()
    if not needle or len(needle) > 254:
        return None
    return db.scalar(select(User).where(or_(User.login == needle, User.email == needle)))


def get_by_login(db: Session, login: str) -> User:
    user = find_by_login_or_email(db, login)
    if user is None:
        raise NotFound(words.NO_SUCH_USER(login=login.strip()))
    return user


def two_factor_is_on() -> ColumnElement[bool]:
    """THE "has 2FA" rule in SQL: an authenticator whose setup was confirmed."""
    return Authenticator.confirmed_at.is_not(None)


def users_with_two_factor() -> Select[int]:
    """The ids of the people with 2FA on (narrow it further with .where). Selecting user_id
    alone lets the (user_id, confirmed_at) index answer on its own."""
    return select(Authenticator.user_id).where(two_factor_is_on())


def users_with_security_key() -> Select[int]:
    """The ids of the people with a security key or passkey (a WebAuthn credential): those
    who meet an organization's phishing-resistant requirement (decision 0029)."""
    return select(WebAuthnCredential.user_id)


def has_security_key(db: Session, user_id: int) -> bool:
    found = db.scalar(
        users_with_security_key().where(WebAuthnCredential.user_id == user_id).limit(1)
    )
    return found is not None


def confirmed_authenticator(db: Session, user_id: int) -> Authenticator | None:
    """The newest of the person's confirmed authenticators (any one answers "has 2FA")."""
    return db.scalar(
        select(Authenticator)
        .where(Authenticator.user_id == user_id, two_factor_is_on())
        .order_by(Authenticator.id.desc())
        .limit(1)
    )


def confirmed_authenticators(db: Session, user_id: int, kind: str = "totp") -> list[Authenticator]:
    """Every confirmed authenticator app (or, with `kind`, other method) of the person,
    oldest first: a code from any app is accepted at sign-in (decision 0020)."""
    return list(
        db.scalars(
            select(Authenticator)
            .where(
                Authenticator.user_id == user_id,
                Authenticator.kind == kind,
                two_factor_is_on(),
            )
            .order_by(Authenticator.id)
        )
    )


def method_kinds(db: Session, user_id: int) -> frozenset[str]:
    """The kinds ("totp", "sms") of the person's confirmed second factors; empty: 2FA off."""
    return frozenset(
        db.scalars(
            select(Authenticator.kind)
            .where(Authenticator.user_id == user_id, two_factor_is_on())
            .distinct()
        )
    )


def awaits_address_confirmation(user: User) -> bool:
    """Signed up by themselves and not yet confirmed their address (operators' and
    invitations' addresses count as confirmed). Such an account cannot sign in: otherwise
    signing in with a fresh login name would tell whether a sign-up with someone else's
    address created an account (decision 0007)."""
    return user.email is not None and user.email_verified_at is None


def has_two_factor(db: Session, user_id: int) -> bool:
    return confirmed_authenticator(db, user_id) is not None


def confirmed_count(db: Session, user_id: int) -> int:
    """How many second factors (apps and a phone) the person has confirmed."""
    return int(
        db.scalar(
            select(func.count())
            .select_from(Authenticator)
            .where(Authenticator.user_id == user_id, two_factor_is_on())
        )
        or 0
    )


def passkey_count(db: Session, user_id: int) -> int:
    """How many security keys and passkeys the person has (decision 0027)."""
    return int(
        db.scalar(
            select(func.count())
            .select_from(WebAuthnCredential)
            .where(WebAuthnCredential.user_id == user_id)
        )
        or 0
    )


def second_factor_count(db: Session, user_id: int) -> int:
    """Every second factor the person has, of any kind: at most MAX_AUTHENTICATORS in all."""
    return confirmed_count(db, user_id) + passkey_count(db, user_id)


def recovery_codes_left(db: Session, user_id: int) -> int:
    return int(
        db.scalar(
            select(func.count(RecoveryCode.id)).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


@dataclass(frozen=True)
class MethodView:
    """One second factor as its owner and their admins see it: never its secret."""

    id: int
    kind: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    # For a phone: its number, whole for its owner, masked for anyone else (services.sms).
    phone: str | None = None
    # For a security key or passkey (kind "passkey"): synced (backup eligible), and usable
    # without a password (discoverable, with user verification).
    synced: bool = False
    passwordless: bool = False


def methods_of(
    db: Session, user_id: int, runtime: Runtime | None = None, *, to_owner: bool = False
) -> list[MethodView]:
    """The person's confirmed second factors, oldest first. With `runtime`, each phone
    carries its number: whole for its owner (`to_owner`), masked ("+44 •••• ••34 56") for
    anyone else (their admins, the CLI)."""
    rows = db.scalars(
        select(Authenticator)
        .where(Authenticator.user_id == user_id, two_factor_is_on())
        .order_by(Authenticator.id)
    )
    return [
        MethodView(
            row.id,
            row.kind,
            row.name,
            row.created_at,
            row.last_used_at,
            _phone_shown(runtime, row, to_owner) if runtime and row.kind == "sms" else None,
        )
        for row in rows
    ]


PASSKEY_KIND = "passkey"


def passkeys_of(db: Session, user_id: int) -> list[MethodView]:
    """The person's security keys and passkeys, oldest first: names and kinds, never key
    material (their ids are the webauthn_credentials rows', apart from authenticators')."""
    rows = db.scalars(
        select(WebAuthnCredential)
        .where(WebAuthnCredential.user_id == user_id)
        .order_by(WebAuthnCredential.id)
    )
    return [
        MethodView(
            row.id,
            PASSKEY_KIND,
            row.name,
            row.created_at,
            row.last_used_at,
            synced=row.backup_eligible,
            passwordless=row.discoverable,
        )
        for row in rows
    ]


def _phone_shown(runtime: Runtime, row: Authenticator, to_owner: bool) -> str:
    number = open_phone(runtime, row)
    return pretty(number) if to_owner else mask(number)


@dataclass(frozen=True)
class UserStatus:
    """What an operator may see of an account: never a secret or a code."""

    login: str
    email: str | None
    superadmin: bool
    active: bool
    two_factor_enabled: bool
    recovery_codes_left: int
    last_sign_in_at: datetime | None
    failed_code_count: int
    locked: bool
    locked_until: datetime | None
    organizations: list[str]
    methods: list[MethodView]


def describe(db: Session, runtime: Runtime, user: User) -> UserStatus:
    locked = is_code_locked(user, runtime.now())
    return UserStatus(
        login=user.login,
        email=user.email,
        superadmin=user.is_superadmin,
        active=user.is_active,
        two_factor_enabled=has_two_factor(db, user.id),
        recovery_codes_left=recovery_codes_left(db, user.id),
        last_sign_in_at=user.last_sign_in_at,
        failed_code_count=user.failed_code_count,
        locked=locked,
        locked_until=user.code_locked_until if locked else None,
        organizations=sorted(f"{m.organization.slug} ({m.role})" for m in user.memberships),
        methods=methods_of(db, user.id, runtime) + passkeys_of(db, user.id),
    )


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.login)))


def is_code_locked(user: User, now: datetime) -> bool:
    """Whether `user`'s second factor is locked now (core.lockout.is_locked on the row)."""
    return is_locked(
        user.failed_code_count, user.code_locked_until, now, user.key_failed_code_count
    )


def code_locked_sql(now: datetime) -> ColumnElement[bool]:
    """core.lockout.is_locked as a SQL condition on the users table, from the same constants,
    for filtering and counting in the database."""
    return or_(
        User.failed_code_count + User.key_failed_code_count >= PERMANENT_LOCK_AT,
        and_(User.code_locked_until.is_not(None), User.code_locked_until > now),
    )


# The reason a remembered browser is forgotten along with the person's sessions and grants.
CREDENTIALS_CHANGED = "credentials_changed"


def mark_credentials_changed(db: Session, user: User, now: datetime) -> None:
    """The password changed, 2FA was reset or turned off, or every session was signed out:
    what the person signed in to before may no longer act for them. Their applications'
    grants end (decision 0014: a refresh from an earlier sign-in is refused as well), and
    every browser they had remembered asks for the code again (decision 0028)."""
    user.credentials_changed_at = now
    oidc_grants.revoke_grants_where(
        db, OidcGrant.user_id == user.id, oidc_grants.CREDENTIALS_CHANGED, now
    )
    remembered_browsers.forget_all_of(db, now, user.id, reason=CREDENTIALS_CHANGED)


def mark_credentials_changed_of(db: Session, user_ids: Select[int], now: datetime) -> None:
    """mark_credentials_changed for many people at once (an organization signing everyone
    out)."""
    db.execute(
        update(User)
        .where(User.id.in_(user_ids))
        .values(credentials_changed_at=now)
        .execution_options(synchronize_session="fetch")
    )
    oidc_grants.revoke_grants_where(
        db, OidcGrant.user_id.in_(user_ids), oidc_grants.CREDENTIALS_CHANGED, now
    )
    remembered_browsers.forget_where(
        db, now, RememberedBrowser.user_id.in_(user_ids), reason=CREDENTIALS_CHANGED
    )


def clear_code_failures(user: User) -> None:
    """Start the count of wrong codes again and lift any lock: after a right second factor,
    an unlock, or when the second factor itself is taken away (disabled or reset). Every
    API key's budget for the person starts again too (decision 0017)."""
    user.failed_code_count = 0
    user.key_failed_code_count = 0
    user.code_locked_until = None
    db = object_session(user)
    if db is not None:
        db.execute(delete(ApiKeyCodeFailures).where(ApiKeyCodeFailures.user_id == user.id))


def unlock(db: Session, runtime: Runtime, user: User, *, actor_id: int | None = None) -> None:
    clear_code_failures(user)
    audit.record(
        db, runtime.now(), AuditEventType.SECOND_FACTOR_UNLOCKED, user_id=user.id, actor_id=actor_id
    )


def check_stdin_password(password: str) -> str:
    """A password read from a pipe loses its trailing newline, nothing else."""
    password = password.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidInput("password", words.NO_PASSWORD_ON_STDIN)
    check_password_length(password, "password")
    return password


def subject_of(db: Session, user: User) -> str:
    """The person's OpenID Connect `sub`: random, stable, given at the first token. Two
    first tokens at once both try; the conditional UPDATE lets one win and both read it."""
    if user.oidc_subject:
        return user.oidc_subject
    db.execute(
        update(User)
        .where(User.id == user.id, User.oidc_subject.is_(None))
        .values(oidc_subject=secrets.token_urlsafe(32))
        .execution_options(synchronize_session=False)
    )
    subject = db.scalar(select(User.oidc_subject).where(User.id == user.id))
    assert subject is not None
    set_committed_value(user, "oidc_subject", subject)
    return subject
