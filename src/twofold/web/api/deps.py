"""Who is calling the API: the bearer token's session (an API session, never a browser's
cookie), the person, what their organization demands, and an admin's scope. The rules are
the pages' own (web.deps, services.organizations.standing, services.admin_scope): here they
only answer in the API's error shape instead of redirecting."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.policy import Demand
from twofold.core.sessions import SessionKind, SessionState
from twofold.services import admin_scope, organizations, sessions
from twofold.services.admin_scope import AdminScope
from twofold.services.organizations import Standing
from twofold.services.runtime import Runtime
from twofold.store.db import end_reading
from twofold.store.models import AuthSession, Organization, User
from twofold.web.api.errors import ApiError
from twofold.web.deps import ClientDep, DbDep, RuntimeDep, get_client

CHALLENGE_HEADER = {"WWW-Authenticate": 'Bearer realm="twofold"'}
# Declares the bearer scheme in the schema; a missing header is answered by us (401, our shape).
bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/sign-in.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def unauthenticated(message: words.Msg, code: str = "invalid_token") -> ApiError:
    return ApiError(401, code, message, CHALLENGE_HEADER)


def get_token_session(
    request: Request, db: DbDep, runtime: RuntimeDep, credentials: Credentials
) -> AuthSession:
    """The API session of the bearer token: signed in (a challenge is not a token)."""
    if credentials is None or not credentials.credentials.strip():
        raise unauthenticated(words.API_TOKEN_MISSING, "unauthenticated")
    session = sessions.find_session(db, runtime, credentials.credentials.strip(), SessionKind.API)
    end_reading(db)
    if session is None or session.state != SessionState.AUTHENTICATED:
        raise unauthenticated(words.API_TOKEN_INVALID)
    request.state.auth_session = session
    return session


TokenSession = Annotated[AuthSession, Depends(get_token_session)]


def _standing(
    request: Request, db: Session, runtime: Runtime, session: AuthSession
) -> tuple[User, Standing]:
    user = db.get(User, session.user_id)
    if user is None:  # pragma: no cover - find_session already checked
        raise unauthenticated(words.API_TOKEN_INVALID)
    standing = organizations.standing(db, runtime, user, session)
    end_reading(db)
    request.state.user = user
    request.state.standing = standing
    return user, standing


def get_enrolling_person(
    request: Request, db: DbDep, runtime: RuntimeDep, session: TokenSession
) -> User:
    """Signed in, perhaps obliged to set up 2FA first (as the pages' EnrollingUser)."""
    user, standing = _standing(request, db, runtime, session)
    if standing.access.demand is Demand.VERIFY:
        raise ApiError(403, "second_factor_required", words.API_SECOND_FACTOR_REQUIRED)
    return user


EnrollingPerson = Annotated[User, Depends(get_enrolling_person)]


def get_person(request: Request, db: DbDep, runtime: RuntimeDep, session: TokenSession) -> User:
    """Signed in with everything the current organization demands (as CurrentUser)."""
    user = get_enrolling_person(request, db, runtime, session)
    standing: Standing = request.state.standing
    if standing.access.demand is Demand.ENROLL:
        raise ApiError(403, "two_factor_setup_required", words.API_TWO_FACTOR_SETUP_REQUIRED)
    return user


Person = Annotated[User, Depends(get_person)]


def get_standing(request: Request) -> Standing:
    """The standing computed by EnrollingPerson or Person earlier in the same request."""
    standing: Standing = request.state.standing
    return standing


StandingDep = Annotated[Standing, Depends(get_standing)]


def get_admin_scope(
    request: Request, db: DbDep, runtime: RuntimeDep, client: ClientDep, user: Person
) -> AdminScope:
    """The console's scope (and its recorded refusal for someone who administers nothing)."""
    scope = admin_scope.scope_of(db, user)
    if scope is None:
        admin_scope.refuse(
            db,
            runtime,
            AdminScope(admin=user, superadmin=False, organization_ids=frozenset()),
            "open_console",
            target_id=None,
            client=client,
            message=words.CONSOLE_IS_FOR_ADMINISTRATORS,
        )
    return scope


ScopeDep = Annotated[AdminScope, Depends(get_admin_scope)]


def get_administered_organization(
    request: Request, slug: str, db: DbDep, runtime: RuntimeDep, scope: ScopeDep
) -> Organization:
    """The organization named in the path, which the admin must administer (refused and
    recorded otherwise, as the console's ?org=)."""
    administered = admin_scope.administered_organizations(db, scope)
    return admin_scope.administered_organization(
        db, runtime, scope, slug, administered, get_client(request)
    )


AdministeredOrganization = Annotated[Organization, Depends(get_administered_organization)]
