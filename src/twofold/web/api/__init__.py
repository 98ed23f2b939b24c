"""The JSON API, mounted at /api by create_app: its own FastAPI app, so that it has its own
OpenAPI schema (/api/openapi.json), its own error shape (errors.py) and no CSRF dependency
(API calls carry a bearer credential, never a cookie). Each route module under this package
adds an `APIRouter` with paths beginning /v1; every route calls the same services as the
pages and holds no rule of its own."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import State

from twofold import __version__
from twofold.web.api import admin, me, sign_in, verify
from twofold.web.api.docs import install_docs
from twofold.web.api.errors import install_api_error_handlers

DESCRIPTION = """Sign in with `POST /api/v1/sign-in`; a person with two-factor authentication
gets `mfa_required` and a short-lived challenge to answer at `/api/v1/sign-in/code` (or
`/api/v1/sign-in/recovery-code`). Send the token as `Authorization: Bearer <token>`.
Every error is `{"error": code, "message": words}`."""


def build_api(state: State) -> FastAPI:
    """`state` is the site's own (create_app's app.state): the API sees the same runtime."""
    api = FastAPI(
        title="Twofold API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    api.state = state
    install_api_error_handlers(api)
    api.include_router(verify.router)
    install_docs(api)
    api.include_router(sign_in.router)
    api.include_router(me.router)
    api.include_router(admin.router)
    return api
