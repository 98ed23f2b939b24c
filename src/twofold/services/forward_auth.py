"""Forward-auth for reverse proxies (nginx `auth_request`, Traefik `forwardAuth`, Caddy
`forward_auth`): whether the session behind a request may reach an application, and who it
is. The decision is `sign_in_steps.step_for`, the one OpenID Connect uses (decision 0016).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import oidc
from twofold.core.audit_events import AuditEventType
from twofold.core.sessions import amr_methods
from twofold.services import audit
from twofold.services.runtime import ClientInfo, Runtime
from twofold.services.sign_in_steps import Step, step_for
from twofold.services.transactions import use_case
from twofold.store.models import AuthSession, Organization, User

REQUIRE_MFA = "mfa"
REQUIRE_PHR = "phr"  # a security key or passkey (WebAuthn), decision 0029
# A sign-in started at /login?rd=… must be finished within this time.
PENDING_LIFETIME = timedelta(minutes=30)
_MAX_SLUG = 64


class Verdict(StrEnum):
    ALLOWED = "allowed"  # 200 with the X-Twofold-* headers
    SIGN_IN = "sign_in"  # 401: signing in (or a step up) can satisfy it
    FORBIDDEN = "forbidden"  # 403: signed in, but this person may not reach it


@dataclass(frozen=True)
class Demand:
    """What the proxy (or the sign-in link) asked: an organization's slug (None: the current
    one), whether a second factor is required even where the policy is optional, and
    whether it must be a security key or passkey (`require=phr`)."""

    organization: str | None
    require_mfa: bool
    require_phr: bool = False

    @classmethod
    def from_query(cls, org: str, require: str) -> Demand:
        """Never raises: any `require` value asks for a second factor (an unknown one too,
        since a proxy that asks for something Twofold does not know must not get less);
        `phr` asks for a security key or passkey as well (which implies a second factor)."""
        slug = org.strip().lower()[: _MAX_SLUG + 1] or None
        wanted = {part.strip().lower() for part in require.split(",") if part.strip()}
        return cls(organization=slug, require_mfa=bool(wanted), require_phr=REQUIRE_PHR in wanted)


@dataclass(frozen=True)
class Identity:
    """What the application is told (the X-Twofold-* headers)."""

    login: str
    email: str
    organization: str
    amr: str


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    step: Step
    identity: Identity | None = None


_VERDICTS = {
    Step.ISSUE: Verdict.ALLOWED,
    Step.SIGN_IN: Verdict.SIGN_IN,
    Step.SECOND_FACTOR: Verdict.SIGN_IN,
    Step.ENROLL: Verdict.SIGN_IN,
    Step.NOT_A_MEMBER: Verdict.FORBIDDEN,
    Step.TWO_FACTOR_UNAVAILABLE: Verdict.FORBIDDEN,
    Step.SECURITY_KEY: Verdict.SIGN_IN,
    Step.ADD_SECURITY_KEY: Verdict.SIGN_IN,
    Step.SECURITY_KEY_UNAVAILABLE: Verdict.FORBIDDEN,
}


class _Unknown:
    """An organization slug that names none."""


UNKNOWN = _Unknown()


def _organization_id(db: Session, slug: str | None) -> int | _Unknown | None:
    """The organization's id; None for no slug; UNKNOWN for one that does not exist."""
    if slug is None:
        return None
    if len(slug) > _MAX_SLUG:
        return UNKNOWN
    found = db.scalar(select(Organization.id).where(Organization.slug == slug))
    return found if found is not None else UNKNOWN


def check(
    db: Session,
    runtime: Runtime,
    session: AuthSession | None,
    demand: Demand,
    *,
    make_current: bool = False,
) -> Answer:
    """The answer for one request through the proxy. Writes nothing unless `make_current`
    (the interactive sign-in, whose code prompt then verifies for that organization)."""
    organization_id = _organization_id(db, demand.organization)
    if isinstance(organization_id, _Unknown):
        # An organization that does not exist: nobody is a member of it.
        if session is None:
            return Answer(Verdict.SIGN_IN, Step.SIGN_IN)
        return Answer(Verdict.FORBIDDEN, Step.NOT_A_MEMBER)
    step = step_for(
        db,
        runtime,
        session,
        organization_id=organization_id,
        two_factor_required=demand.require_mfa,
        phishing_resistant_required=demand.require_phr,
        make_current=make_current,
    )
    verdict = _VERDICTS[step]
    if verdict is not Verdict.ALLOWED:
        return Answer(verdict, step)
    assert session is not None
    user = db.get(User, session.user_id)
    assert user is not None
    shown_id = organization_id if organization_id is not None else session.organization_id
    # Usually loaded already by the membership check: the identity map answers.
    shown = db.get(Organization, shown_id) if shown_id is not None else None
    slug = shown.slug if shown is not None else ""
    identity = Identity(
        login=user.login,
        email=user.email or "",
        organization=slug,
        amr=",".join(oidc.amr_claim(amr_methods(session.amr))),
    )
    return Answer(verdict, step, identity)


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in started at /login?rd=…, kept (sealed) in a cookie while it goes on."""

    target: str  # an allowed `rd`, checked before it was kept
    organization: str | None
    require_mfa: bool
    started_at: int  # Unix time
    require_phr: bool = False  # absent from cookies sealed before decision 0029

    @property
    def demand(self) -> Demand:
        return Demand(self.organization, self.require_mfa, self.require_phr)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PendingSignIn:
        return cls(**json.loads(text))

    def expired(self, now: datetime) -> bool:
        return now.timestamp() - self.started_at > PENDING_LIFETIME.total_seconds()


def organization_of(db: Session, pending: PendingSignIn) -> int | None:
    """The organization a proxied application's sign-in enters (None: none named, or an
    unknown one)."""
    found = _organization_id(db, pending.organization)
    return None if isinstance(found, _Unknown) else found


@use_case
def refuse(
    db: Session,
    runtime: Runtime,
    session: AuthSession | None,
    pending: PendingSignIn,
    step: Step,
    client: ClientInfo,
) -> None:
    """The person was shown that they may not reach the application: recorded once per
    sign-in attempt (the proxy's own checks are read-only and not recorded)."""
    organization_id = _organization_id(db, pending.organization)
    audit.record(
        db,
        runtime.now(),
        AuditEventType.FORWARD_AUTH_REFUSED,
        user_id=session.user_id if session else None,
        organization_id=None if isinstance(organization_id, _Unknown) else organization_id,
        client=client,
        reason=step.value,
        organization=pending.organization,
    )
