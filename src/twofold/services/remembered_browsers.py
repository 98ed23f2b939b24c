"""Remember this browser (decision 0028): a browser whose person ticked "don't ask for a
code on this browser for N days" after a second factor.

Its own cookie holds a random token; only the token's SHA-256 is stored, bound to the
person, and replaced at each use by ONE conditional UPDATE on the old digest, so two uses
of one cookie (two tabs, or a stolen copy replayed) give one success. Whether it may stand
in for the code is `core.remembered.refusal`, with N read from the organization being
entered at the moment of use. Every creation, use, refusal and revocation is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from twofold.core import remembered, words
from twofold.core.audit_events import AuditEventType
from twofold.core.errors import NotFound
from twofold.core.oidc import has_second_factor
from twofold.core.policy import PhishingResistantPolicy, Role, phishing_resistant_applies
from twofold.core.remembered import Refusal
from twofold.core.sessions import SessionState, amr_methods
from twofold.crypto.tokens import new_token, token_digest
from twofold.services import audit
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.transactions import use_case
from twofold.store.db import rows_affected
from twofold.store.models import AuthSession, Membership, Organization, RememberedBrowser, User

# A browser is remembered right after the second factor it stands for, in the same visit.
FRESH_SECOND_FACTOR = timedelta(minutes=5)
_TOKEN_MAX = 128
_USER_AGENT_MAX = 300


@dataclass(frozen=True)
class Cookie:
    """The remember cookie to set: its token (shown to this browser only) and Max-Age."""

    token: str
    max_age: int


@dataclass(frozen=True)
class Use:
    """What a remember cookie did at a password sign-in: stood in for the code (`cookie`
    is its replacement), or was refused (`refusal`; the browser's cookie is then cleared)."""

    cookie: Cookie | None
    refusal: Refusal | None

    @property
    def stood_in(self) -> bool:
        return self.cookie is not None


def days_offered(db: Session, organization_id: int | None) -> int:
    """The N of "for N days" in the organization being entered (0: not offered)."""
    if organization_id is None:
        return 0
    organization = db.get(Organization, organization_id)
    return remembered.days_offered(organization.remember_days) if organization else 0


def _phishing_resistance_applies(db: Session, user: User, organization: Organization) -> bool:
    role = db.scalar(
        select(Membership.role).where(
            Membership.user_id == user.id, Membership.organization_id == organization.id
        )
    )
    if role is None:
        return False
    policy = PhishingResistantPolicy(organization.phishing_resistant)
    return phishing_resistant_applies(policy, Role(role))


@use_case
def remember(
    db: Session,
    runtime: Runtime,
    session: AuthSession,
    client: ClientInfo,
    *,
    replacing: str | None = None,
) -> Cookie | None:
    """Remember this browser for the second factor `session` has just passed, when the
    organization it entered offers it (N > 0); None otherwise (nothing stored). The browser's
    previous remember cookie (`replacing`), if it is this person's, is forgotten."""
    now = runtime.now()
    passed = session.second_factor_at
    if (
        session.state != SessionState.AUTHENTICATED.value
        or passed is None
        or not has_second_factor(amr_methods(session.amr))
        or now - passed > FRESH_SECOND_FACTOR
    ):
        return None
    days = days_offered(db, session.organization_id)
    if days == 0:
        return None
    if replacing and len(replacing) <= _TOKEN_MAX:
        db.execute(
            delete(RememberedBrowser).where(
                RememberedBrowser.user_id == session.user_id,
                RememberedBrowser.token_digest == token_digest(replacing),
            )
        )
    token = new_token()
    row = RememberedBrowser(
        user_id=session.user_id,
        token_digest=token_digest(token),
        remembered_at=passed,
        expires_at=remembered.expires_at(passed),
        ip=client.ip,
        user_agent=(client.user_agent or "")[:_USER_AGENT_MAX] or None,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        now,
        AuditEventType.REMEMBERED_BROWSER_ADDED,
        user_id=session.user_id,
        organization_id=session.organization_id,
        client=client,
        remembered_browser_id=row.id,
        days=days,
    )
    db.commit()
    return Cookie(token, remembered.max_age_seconds(row.expires_at, now))


def use(
    db: Session,
    runtime: Runtime,
    user: User,
    token: str | None,
    organization_id: int | None,
    client: ClientInfo,
) -> Use:
    """At a password sign-in, inside its transaction (the caller commits): whether the
    browser's remember cookie stands in for the code in the organization being entered.
    On success the token is replaced (one conditional UPDATE on the old digest: a second
    use of the same cookie finds nothing). A refused row is deleted: its cookie is cleared."""
    now = runtime.now()
    if not token or len(token) > _TOKEN_MAX:
        return Use(None, Refusal.UNKNOWN)
    digest = token_digest(token)
    row = db.scalar(
        select(RememberedBrowser).where(
            RememberedBrowser.token_digest == digest, RememberedBrowser.user_id == user.id
        )
    )
    if row is None:
        return _refused(db, now, user, organization_id, client, Refusal.UNKNOWN, None)
    organization = db.get(Organization, organization_id) if organization_id is not None else None
    why = remembered.refusal(
        remember_days=organization.remember_days if organization is not None else 0,
        remembered_at=row.remembered_at,
        expires_at=row.expires_at,
        now=now,
        phishing_resistant=organization is not None
        and _phishing_resistance_applies(db, user, organization),
    )
    if why is not None:
        db.execute(delete(RememberedBrowser).where(RememberedBrowser.id == row.id))
        return _refused(db, now, user, organization_id, client, why, row.id)
    fresh = new_token()
    replaced = rows_affected(
        db,
        update(RememberedBrowser)
        .where(RememberedBrowser.id == row.id, RememberedBrowser.token_digest == digest)
        .values(
            token_digest=token_digest(fresh),
            last_used_at=now,
            ip=client.ip,
            user_agent=(client.user_agent or "")[:_USER_AGENT_MAX] or None,
        )
        .execution_options(synchronize_session=False),
    )
    if replaced != 1:  # used at the same moment by another request: that one won
        return _refused(db, now, user, organization_id, client, Refusal.UNKNOWN, row.id)
    audit.record(
        db,
        now,
        AuditEventType.REMEMBERED_BROWSER_USED,
        user_id=user.id,
        organization_id=organization_id,
        client=client,
        remembered_browser_id=row.id,
        remembered_at=row.remembered_at.isoformat(),
    )
    return Use(Cookie(fresh, remembered.max_age_seconds(row.expires_at, now)), None)


def _refused(
    db: Session,
    now: datetime,
    user: User,
    organization_id: int | None,
    client: ClientInfo,
    why: Refusal,
    row_id: int | None,
) -> Use:
    audit.record(
        db,
        now,
        AuditEventType.REMEMBERED_BROWSER_REFUSED,
        user_id=user.id,
        organization_id=organization_id,
        client=client,
        reason=why.value,
        remembered_browser_id=row_id,
    )
    return Use(None, why)


def remembered_of(db: Session, runtime: Runtime, user_id: int) -> list[RememberedBrowser]:
    """The person's live remembered browsers, most recently remembered first."""
    return list(
        db.scalars(
            select(RememberedBrowser)
            .where(
                RememberedBrowser.user_id == user_id, RememberedBrowser.expires_at > runtime.now()
            )
            .order_by(RememberedBrowser.remembered_at.desc(), RememberedBrowser.id.desc())
        )
    )


def is_this_browser(row: RememberedBrowser, token: str | None) -> bool:
    """Whether `row` is the one the browser's own remember cookie names."""
    return (
        bool(token)
        and len(token or "") <= _TOKEN_MAX
        and row.token_digest == token_digest(token or "-")
    )


def forget_where(
    db: Session,
    now: datetime,
    condition: ColumnElement[bool],
    *,
    user_id: int | None = None,
    actor_id: int | None = None,
    client: ClientInfo | None = None,
    reason: str,
) -> int:
    """Forget the remembered browsers matching `condition`, in the caller's transaction;
    audited (once, with the count) when there were any. Returns how many."""
    forgotten = rows_affected(db, delete(RememberedBrowser).where(condition))
    if forgotten:
        audit.record(
            db,
            now,
            AuditEventType.REMEMBERED_BROWSER_FORGOTTEN,
            user_id=user_id,
            actor_id=actor_id,
            client=client,
            count=forgotten,
            reason=reason,
        )
    return forgotten


def forget_all_of(
    db: Session,
    now: datetime,
    user_id: int,
    *,
    reason: str,
    actor_id: int | None = None,
    client: ClientInfo | None = None,
) -> int:
    """Every remembered browser of one person (the caller's transaction)."""
    return forget_where(
        db,
        now,
        RememberedBrowser.user_id == user_id,
        user_id=user_id,
        actor_id=actor_id,
        client=client,
        reason=reason,
    )


@use_case
def forget_own(
    db: Session, runtime: Runtime, user: User, remembered_id: int, client: ClientInfo
) -> None:
    """ "Forget" on the security page: one of the person's own; anyone else's is not found."""
    condition = (RememberedBrowser.id == remembered_id) & (RememberedBrowser.user_id == user.id)
    if db.scalar(select(RememberedBrowser.id).where(condition)) is None:
        raise NotFound(words.NO_SUCH_REMEMBERED_BROWSER)
    forget_where(db, runtime.now(), condition, user_id=user.id, client=client, reason="by_owner")
    db.commit()


@use_case
def forget_all_own(db: Session, runtime: Runtime, user: User, client: ClientInfo) -> int:
    """ "Forget all" on the security page."""
    forgotten = forget_all_of(db, runtime.now(), user.id, reason="by_owner", client=client)
    db.commit()
    return forgotten


# Used by housekeeping: past their hard cap, they stand in for nothing.
def expired(now: datetime) -> ColumnElement[bool]:
    return RememberedBrowser.expires_at <= now
