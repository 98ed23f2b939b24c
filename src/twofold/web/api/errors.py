"""The JSON API's one error shape, `{"error": code, "message": words}`, for every failure
under /api: domain errors (their stable `code`, status from twofold.web.errors), bad
requests, unknown routes, a busy database and bugs. Pages keep their HTML error pages."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from twofold.core import words
from twofold.core.errors import (
    PasswordAttemptsThrottled,
    RequestRateLimited,
    SecondFactorLocked,
    SmsLimitReached,
    SmsResendTooSoon,
    TwofoldError,
)
from twofold.core.words import Words, translate
from twofold.store.db import DatabaseBusy, is_contention
from twofold.web.errors import message_for, status_for
from twofold.web.rendering import runtime_of

log = logging.getLogger("twofold.api")

BUSY_RETRY_AFTER_SECONDS = 2


class ErrorBody(BaseModel):
    """Every API error: a stable machine-readable `error` code and words for a person."""

    error: str
    message: str


STATUS_MEANINGS = {
    400: "Refused by a rule: the `error` code says which (e.g. invalid_credentials, "
    "invalid_code, malformed_code, code_reused, wrong_password, invalid_input).",
    401: "No bearer token, or one that is unknown, expired or revoked (or an unknown, used "
    "or expired sign-in challenge).",
    403: "Not allowed: outside the admin's scope, a second factor or 2FA setup required "
    "first, or a policy keeps 2FA on.",
    404: "No such thing (or not yours).",
    409: "The account is not in a state for this (e.g. 2FA already on, or not on).",
    413: "The request body is too large.",
    422: "The body or a parameter is malformed, has an unknown field or a wrong type.",
    429: "Too many attempts: password throttled, second factor locked, too many text "
    "messages (sms_limit_reached, sms_resend_too_soon), or too many requests from one "
    "address (rate_limited); see Retry-After when given.",
    503: "Busy for a moment; nothing was changed. Retry after the Retry-After seconds.",
}

# What every route can answer whatever it does (a bad body or parameter, a body too large,
# too many requests from one address, a busy database).
ALWAYS = (413, 422, 429, 503)


def documented(*statuses: int) -> dict[int | str, dict[str, object]]:
    """The `responses=` of a route: each status it can give, in the one error shape."""
    return {
        status: {"model": ErrorBody, "description": STATUS_MEANINGS[status]}
        for status in sorted({*statuses, *ALWAYS})
    }


class ApiError(Exception):
    """A failure that belongs to the API itself (a missing key, a malformed body), not to
    the domain: raised in an API route and answered in the one error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: Words,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: Words, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=code, message=translate(message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# The API answers these domain errors with a more precise status than a page's form does
# (a page re-shows its form with 400 whatever the state; an API client branches on status).
API_STATUS = {
    "two_factor_already_enabled": 409,
    "two_factor_not_enabled": 409,
    "enrollment_not_started": 409,
    "two_factor_required": 403,
}


def api_status_for(exc: TwofoldError) -> int:
    return API_STATUS.get(exc.code, status_for(exc))


def retry_after(exc: TwofoldError, now: datetime) -> dict[str, str] | None:
    """How long a throttled client waits, when the error knows it."""
    if isinstance(exc, PasswordAttemptsThrottled):
        return {"Retry-After": str(max(1, exc.retry_after_seconds))}
    if isinstance(exc, SecondFactorLocked) and exc.until is not None:
        return {"Retry-After": str(max(1, int((exc.until - now).total_seconds())))}
    if isinstance(exc, RequestRateLimited):
        return {"Retry-After": str(max(1, exc.retry_after_seconds))}
    if isinstance(exc, SmsResendTooSoon):
        return {"Retry-After": str(max(1, exc.seconds))}
    if isinstance(exc, SmsLimitReached) and exc.retry_after_seconds is not None:
        return {"Retry-After": str(max(1, exc.retry_after_seconds))}
    return None


def install_api_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(ApiError)
    async def on_api_error(_request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @api.exception_handler(TwofoldError)
    async def on_domain_error(request: Request, exc: TwofoldError) -> Response:
        now = runtime_of(request).now()
        body = ErrorBody(error=exc.code, message=message_for(exc, now))
        return JSONResponse(
            body.model_dump(), status_code=api_status_for(exc), headers=retry_after(exc, now)
        )

    @api.exception_handler(RequestValidationError)
    async def on_validation(_request: Request, _exc: RequestValidationError) -> Response:
        return error_response(422, "invalid_request", words.API_REQUEST_INVALID)

    @api.exception_handler(StarletteHTTPException)
    async def on_http(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(404, "not_found", words.NO_PAGE_HERE)
        if exc.status_code == 405:
            return error_response(405, "method_not_allowed", words.METHOD_NOT_ACCEPTED)
        if exc.status_code == 400:  # FastAPI could not even decode the body (not UTF-8 JSON)
            return error_response(422, "invalid_request", words.API_REQUEST_INVALID)
        return error_response(exc.status_code, "error", words.SOMETHING_WENT_WRONG)

    @api.exception_handler(DatabaseBusy)
    @api.exception_handler(PoolTimeout)
    @api.exception_handler(DBAPIError)
    async def on_database_error(request: Request, exc: Exception) -> Response:
        if is_contention(exc):
            log.warning("busy, answered 503: %s", type(exc).__name__)
            return error_response(
                503,
                "busy",
                words.SOMETHING_WENT_WRONG,
                {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
            )
        return await on_unexpected(request, exc)

    @api.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", words.UNEXPECTED_ERROR)
