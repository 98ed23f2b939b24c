"""POST /api/v1/verify: an organization's application asks whether a code is one of its
member's second factor. Authenticated by an organization API key (`Authorization: Bearer`);
the rules are the services' (api_keys: the key; rate_limits: its requests per minute;
second_factor: the code, its replay and single use, the budgets and the audit; sms_codes:
texted codes and their limits).

Three bodies: `{user, code}` (an app's code or a recovery code); `{user, method: "sms"}`
(text a code: 202 with a `challenge`); `{user, challenge, code}` (the texted code)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from twofold.core import words
from twofold.core.rate_limits import Scope
from twofold.core.sessions import Method
from twofold.services import api_keys, second_factor, sms_codes
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

METHOD_NAMES: dict[Method, Literal["totp", "recovery_code", "sms"]] = {
    Method.TOTP: "totp",
    Method.RECOVERY_CODE: "recovery_code",
    Method.SMS: "sms",
}
CHALLENGE_MAX = 128  # a transaction id is 43 characters


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class VerifyRequest(_Strict):
    """An app's code or a recovery code: exactly these two strings."""

    user: str = Field(min_length=1, max_length=254, description="The person's login name.")
    code: str = Field(
        min_length=1,
        max_length=64,
        description="A code from their authenticator app, or one of their recovery codes.",
    )


class SmsSendRequest(_Strict):
    """The first call of the SMS exchange: text the person a code."""

    user: str = Field(min_length=1, max_length=254, description="The person's login name.")
    method: Literal["sms"] = Field(description="`sms`: send a code by text message.")


class SmsCodeRequest(_Strict):
    """The second call: the texted code, with the challenge the first call answered."""

    user: str = Field(min_length=1, max_length=254, description="The person's login name.")
    method: Literal["sms"] | None = Field(default=None, description="Optional: `sms`.")
    challenge: str = Field(
        min_length=1, max_length=CHALLENGE_MAX, description="The first call's `challenge`."
    )
    code: str = Field(min_length=1, max_length=64, description="The code in the text message.")


class SmsChallengeAnswer(BaseModel):
    """A code was texted to the person: send it back with `challenge` within `expires_in`
    seconds. `challenge` works only with this API key and this person, once."""

    challenge: str
    expires_in: int


class VerifyAnswer(BaseModel):
    """`ok` with the method that proved it, or `{"ok": false}` alone — for a wrong, reused or
    malformed code, a locked person, and anyone who is not a member of the key's
    organization, alike."""

    ok: bool
    method: Literal["totp", "recovery_code", "sms", "webauthn"] | None = Field(
        default=None, description="Present when ok: totp, recovery_code or sms (later webauthn)."
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


def require_api_key(
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The request's organization API key, its request counted against the key's limit; a
    request without a valid key is counted against its address (decision 0023)."""
    challenge = {"WWW-Authenticate": "Bearer"}
    limits = runtime.request_limits
    key = None
    if credentials is not None and credentials.credentials:
        key = api_keys.find_active_key(db, credentials.credentials)
        end_reading(db)
    if key is None:
        limits.check(Scope.ADDRESS, limits.claim_address(client.ip))
        if credentials is None or not credentials.credentials:
            raise ApiError(401, "missing_api_key", words.API_KEY_MISSING, challenge)
        raise ApiError(401, "invalid_api_key", words.API_KEY_INVALID, challenge)
    limits.check(Scope.API_KEY, limits.claim_api_key(key.id, key.requests_per_minute))
    api_keys.note_use(db, runtime, key)
    return key


ApiKeyDep = Annotated[ApiKey, Depends(require_api_key)]


@router.post(
    "/verify",
    response_model=VerifyAnswer,
    response_model_exclude_none=True,
    summary="Check a member's second-factor code, or text them one",
    responses={
        202: {
            "model": SmsChallengeAnswer,
            "description": "`method: sms`: a code was texted to the member; answer it with "
            "`challenge` and `code`.",
        },
        401: _error("No API key, or an unknown or revoked one (`WWW-Authenticate: Bearer`)."),
        413: _error("The request body is larger than 64 KiB."),
        422: _error(
            "The body is not a JSON object of exactly `user` and `code`, `user` and "
            "`method: sms`, or `user`, `challenge` and `code` (all strings)."
        ),
        429: _error(
            "The key sent too many requests this minute, or a request without a valid key "
            "came from an address over its limit (`rate_limited`), or, for a member "
            "with a phone, a text message is refused by the resend wait "
            "(`sms_resend_too_soon`) or a limit (`sms_limit_reached`); see `Retry-After`."
        ),
        503: _error(
            "The database is busy (`busy`, see `Retry-After`), or the SMS provider failed "
            "(`sms_send_failed`); nothing was changed."
        ),
        500: _error("An unexpected error; nothing was changed."),
    },
)
def verify(
    body: VerifyRequest | SmsSendRequest | SmsCodeRequest,
    key: ApiKeyDep,
    db: DbDep,
    runtime: RuntimeDep,
    client: ClientDep,
) -> VerifyAnswer | JSONResponse:
    """Whether `code` is `user`'s second factor now. A TOTP step, a recovery code and a
    texted code are used up by the first request that proves them; wrong codes count toward
    a budget per (key, person) and toward the person's hard stop. `method: sms` texts a code
    and answers 202 with a `challenge`, for a member with a phone in an organization that
    allows SMS; anyone else gets `{"ok": false}`, alike (docs/api.md)."""
    if isinstance(body, SmsSendRequest):
        sent = second_factor.send_api_sms_code(db, runtime, key, body.user, client)
        if sent is None or sent.transaction_id is None:
            return VerifyAnswer(ok=False)
        answer = SmsChallengeAnswer(
            challenge=sent.transaction_id,
            expires_in=int(sms_codes.CODE_TTL.total_seconds()),
        )
        return JSONResponse(answer.model_dump(), status_code=202)
    if isinstance(body, SmsCodeRequest):
        method = second_factor.verify_api_sms_code(
            db, runtime, key, body.user, body.challenge, body.code, client
        )
    else:
        method = second_factor.verify_for_api_key(db, runtime, key, body.user, body.code, client)
    if method is None:
        return VerifyAnswer(ok=False)
    return VerifyAnswer(ok=True, method=METHOD_NAMES[method])
