"""What a session still owes before an application may be told who signed in: THE decision
shared by OpenID Connect (`oidc_flow`) and forward-auth (`forward_auth`).

Every rule stays where it is (sessions, policy, enrollment): this asks
`organizations.standing` what the session owes in the organization concerned, and adds
what the application asked for (a second factor, a fresh enough sign-in).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from twofold.core import oidc
from twofold.core.policy import Demand, security_keys_offered, two_factor_offered
from twofold.core.sessions import SessionState, amr_methods
from twofold.services import organizations, sessions
from twofold.services.runtime import Runtime
from twofold.store.models import AuthSession, Membership, User


class Step(StrEnum):
    """What the person must still do before the application is answered."""

    SIGN_IN = "sign_in"  # no session, or not fresh enough: the sign-in page
    SECOND_FACTOR = "second_factor"  # the code prompt
    ENROLL = "enroll"  # set up 2FA (the application or the organization requires it)
    NOT_A_MEMBER = "not_a_member"  # a clear page; the application is refused
    # 2FA is required but cannot be set up (every organization of the person has it off):
    # the application is refused at once, rather than the person sent to a dead end.
    TWO_FACTOR_UNAVAILABLE = "two_factor_unavailable"
    # Phishing resistance (decision 0029), asked by the organization or the application:
    SECURITY_KEY = "security_key"  # the passkey prompt: this session used no security key
    ADD_SECURITY_KEY = "add_security_key"  # the person has none: add one
    # Required, the person has none, and the organization does not offer them: refused.
    SECURITY_KEY_UNAVAILABLE = "security_key_unavailable"
    ISSUE = "issue"  # nothing: answer the application


def is_member(db: Session, user_id: int, organization_id: int) -> bool:
    return (
        db.scalar(
            select(Membership.id).where(
                Membership.user_id == user_id, Membership.organization_id == organization_id
            )
        )
        is not None
    )


def step_for(
    db: Session,
    runtime: Runtime,
    session: AuthSession | None,
    *,
    organization_id: int | None,
    two_factor_required: bool,
    make_current: bool,
    needs_fresh_sign_in: Callable[[AuthSession], bool] | None = None,
    phishing_resistant_required: bool = False,
) -> Step:
    """What the person in `session` must still do for an application of `organization_id`
    (None: whichever organization is current). With `make_current`, that organization
    becomes the session's current one, so that its policy (verification, enrollment) is
    what the sign-in pages then enforce; without, it is only evaluated (nothing written)."""
    if session is None:
        return Step.SIGN_IN
    user = db.get(User, session.user_id)
    if user is None or not user.is_active:
        return Step.SIGN_IN
    if organization_id is not None and not is_member(db, user.id, organization_id):
        return Step.NOT_A_MEMBER
    if make_current and organization_id is not None and session.organization_id != organization_id:
        sessions.update_session_row(db, session, organization_id=organization_id)
    if session.state != SessionState.AUTHENTICATED:
        return Step.SECOND_FACTOR
    if needs_fresh_sign_in is not None and needs_fresh_sign_in(session):
        return Step.SIGN_IN
    standing = organizations.standing(
        db, runtime, user, session, organization_id=None if make_current else organization_id
    )
    demand = standing.access.demand
    if demand is Demand.VERIFY:
        return Step.SECURITY_KEY if standing.access.security_key else Step.SECOND_FACTOR
    if demand is Demand.ENROLL:
        return Step.ADD_SECURITY_KEY if standing.access.security_key else Step.ENROLL
    if phishing_resistant_required and not oidc.is_phishing_resistant(amr_methods(session.amr)):
        # The application asks for a security key (acr phr): used in this session, else
        # added first where the organization offers them.
        if standing.has_security_key:
            return Step.SECURITY_KEY
        if not security_keys_offered(standing.current):
            return Step.SECURITY_KEY_UNAVAILABLE
        return Step.ADD_SECURITY_KEY
    if two_factor_required and not oidc.has_second_factor(amr_methods(session.amr)):
        # With 2FA on, a new sign-in asks for the code; without, it must be set up first,
        # if the setup page offers it (the same test as that page's).
        if standing.has_two_factor:
            return Step.SIGN_IN
        if user.two_factor_reset_at is None and not two_factor_offered(
            standing.memberships, user.is_superadmin, False
        ):
            return Step.TWO_FACTOR_UNAVAILABLE
        return Step.ENROLL
    return Step.ISSUE
