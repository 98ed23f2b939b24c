"""POST /api/v1/verify: an organization's application asks whether a code is one of its
member's second factor. Authenticated by an organization API key (`Authorization: Bearer`);
the rules are the services' (api_keys: the key and its request window; second_factor: the
code, its replay and single use, the budgets and the audit)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from twofold.core import words
from twofold.core.sessions import Method
from twofold.services import api_keys, second_factor
from twofold.store.db import end_reading
from twofold.store.models import ApiKey
from twofold.web.api.errors import ApiError, ErrorBody
from twofold.web.deps import ClientDep, DbDep, RuntimeDep

router = APIRouter(prefix="/v1", tags=["verify"])

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OrganizationApiKey",
    description="An organization API key (`twofold apikey create SLUG --name N`).",
)

METHOD_NAMES: dict[Method, Literal["totp", "recovery_code"]] = {
    Method.TOTP: "totp",
    Method.RECOVERY_CODE: "recovery_code",
}


class VerifyRequest(BaseModel):
    """Exactly these two strings; anything else is refused (422)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user: str = Field(min_length=1, max_length=254, description="The person's login name.")
    code: str = Field(
        min_length=1,
        max_length=64,
        description="A code from their authenticator app, or one of their recovery codes.",
    )


class VerifyAnswer(BaseModel):
    """`ok` with the method that proved it, or `{"ok": false}` alone — for a wrong, reused or
    malformed code, a locked person, and anyone who is not a member of the key's
    organization, alike."""

    ok: bool
    method: Literal["totp", "recovery_code", "sms", "webauthn"] | None = Field(
        default=None, description="Present when ok: totp or recovery_code (later sms, webauthn)."
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


def require_api_key(
    db: DbDep,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The request's organization API key, its request counted against the key's window."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "missing_api_key", words.API_KEY_MISSING, challenge)
    key = api_keys.find_active_key(db, credentials.credentials)
    end_reading(db)
    if key is None:
        raise ApiError(401, "invalid_api_key", words.API_KEY_INVALID, challenge)
    retry_after = api_keys.claim_request(db, runtime, key)
    if retry_after is not None:
        raise ApiError(
            429,
            "rate_limited",
            words.API_KEY_RATE_LIMITED(seconds=retry_after),
            {"Retry-After": str(retry_after)},
        )
    return key


ApiKeyDep = Annotated[ApiKey, Depends(require_api_key)]


@router.post(
    "/verify",
    response_model=VerifyAnswer,
    response_model_exclude_none=True,
    summary="Check a member's second-factor code",
    responses={
        401: _error("No API key, or an unknown or revoked one (`WWW-Authenticate: Bearer`)."),
        413: _error("The request body is larger than 64 KiB."),
        422: _error("The body is not a JSON object of exactly the strings `user` and `code`."),
        429: _error("The key sent too many requests this minute; see `Retry-After`."),
        503: _error("The database is busy; nothing was changed. See `Retry-After`."),
        500: _error("An unexpected error; nothing was changed."),
    },
)
def verify(
    body: VerifyRequest,
    key: ApiKeyDep,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
) -> VerifyAnswer:
    """Whether `code` is `user`'s second factor now. A TOTP step and a recovery code are
    used up by the first request that proves them; wrong codes count toward a budget per
    (key, person) and toward the person's hard stop (docs/api.md)."""
    method = second_factor.verify_for_api_key(db, runtime, key, body.user, body.code, client)
    if method is None:
        return VerifyAnswer(ok=False)
    return VerifyAnswer(ok=True, method=METHOD_NAMES[method])
