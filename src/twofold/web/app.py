"""The application factory: create_app(settings) builds one FastAPI app around a Runtime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html import escape

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from twofold import __version__
from twofold.core import words
from twofold.core.errors import ReenrollmentLinkRequired, TwofoldError
from twofold.core.redirects import AllowedHost, origin_of
from twofold.core.words import translate
from twofold.oidc import routes as oidc_routes
from twofold.services import health, member_actions
from twofold.services.housekeeping import PurgeWorker
from twofold.services.leases import Lease, LeaseKeeper
from twofold.services.mail import MailWorker
from twofold.services.runtime import Runtime, build_runtime
from twofold.services.signing_keys import ensure_signing_keys
from twofold.settings import Settings
from twofold.store.db import DatabaseBusy, is_contention
from twofold.web.api import build_api
from twofold.web.api.errors import error_response
from twofold.web.client_address import ClientAddress
from twofold.web.deps import CsrfRejected, Redirect, require_csrf
from twofold.web.errors import message_for, status_for
from twofold.web.hosts import AllowedHosts
from twofold.web.metrics import RequestMetrics
from twofold.web.metrics import router as metrics_router
from twofold.web.pages import (
    account,
    admin,
    auth,
    authenticators,
    forward,
    invite,
    passkeys,
    phone,
    recovery_links,
    reenroll,
    setup,
    signup,
)
from twofold.web.rendering import STATIC_DIR, redirect, render, runtime_of
from twofold.web.request_id import RequestId, current_request_id
from twofold.web.request_rate import RequestRate

log = logging.getLogger("twofold.web")

MAX_BODY_BYTES = 64 * 1024
HSTS = b"max-age=31536000; includeSubDomains"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def content_security_policy(redirect_hosts: tuple[AllowedHost, ...]) -> str:
    """The policy, whose `form-action` also names the allowed sign-in return hosts:
    Chromium checks the redirects that follow a form post against it, and a sign-in at
    /login?rd=… ends with one to the application (decision 0016)."""
    if not redirect_hosts:
        return CONTENT_SECURITY_POLICY
    origins = " ".join(origin_of(entry) for entry in redirect_hosts)
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origins}")


class SecurityHeaders:
    """CSP that allows only 'self', no framing, no caching of pages that may show secrets;
    HSTS when the configured public URL is https."""

    def __init__(
        self, app: ASGIApp, *, hsts: bool = False, policy: str = CONTENT_SECURITY_POLICY
    ) -> None:
        self.app = app
        self.hsts = hsts
        self.policy = policy.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", self.policy),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                # A response that says how it may be cached (the OIDC keys) keeps its say.
                if not is_static and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append((b"strict-transport-security", HSTS))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimit:
    """Refuses request bodies over MAX_BODY_BYTES before anything parses them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers", [])).get(b"content-length")
            too_big = length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES)
            for_api = _is_api(scope)
            if too_big:
                response = (
                    _api_too_large()
                    if for_api
                    else HTMLResponse(
                        "<!doctype html><title>Too large</title><p>That form was too large to "
                        "accept. Go back and shorten what you entered.</p>",
                        status_code=413,
                    )
                )
                await response(scope, receive, send)
                return
            received = 0
            too_large = False

            async def counting_receive() -> Message:
                nonlocal received, too_large
                message = await receive()
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    too_large = True
                    raise _BodyTooLarge()
                return message

            def late_answer() -> Response:
                if for_api:
                    return _api_too_large()
                return HTMLResponse(escape(translate(words.REQUEST_TOO_LARGE)), status_code=413)

            replaced = False

            async def send_or_replace(message: Message) -> None:
                # A body parser that caught _BodyTooLarge answers on its own (FastAPI: 400
                # "error parsing the body"); the answer is 413 all the same.
                nonlocal replaced
                if too_large:
                    if not replaced:
                        replaced = True
                        await late_answer()(scope, receive, send)
                    return
                await send(message)

            try:
                await self.app(scope, counting_receive, send_or_replace)
            except _BodyTooLarge:
                if not replaced:
                    await late_answer()(scope, receive, send)
            return
        await self.app(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _is_api(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return path == "/api" or path.startswith("/api/")


def _api_too_large() -> Response:
    """Under /api, the API's one error shape."""
    return error_response(413, "request_too_large", words.API_REQUEST_TOO_LARGE)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    mail_worker: bool = True,
    purge_worker: bool = True,
) -> FastAPI:
    """The web application. `mail_worker` runs the background mail sender in this process
    (tests turn it off and deliver the queue themselves); `purge_worker` the housekeeping."""
    if runtime is None:
        runtime = build_runtime(settings or Settings())
        with runtime.db() as db:
            ensure_signing_keys(db, runtime)  # as `twofold serve` does
    built = runtime

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        warning = built.settings.proxy_setting_warning
        if warning is not None:  # once per server process, among its start-up lines
            log.warning("%s", translate(warning))
        # One process of the deployment holds the lease and does the background work.
        keeper = LeaseKeeper(Lease(built)) if mail_worker or purge_worker else None
        lease = keeper.lease if keeper is not None else None
        if keeper is not None:
            keeper.start()
        worker = None
        if mail_worker:
            worker = MailWorker(built, built.mailer, built.settings.mail_poll_seconds, lease)
            worker.start()
        purger = (
            PurgeWorker(built, built.settings.purge_interval_seconds, lease)
            if purge_worker
            else None
        )
        if purger is not None:
            purger.start()
        try:
            yield
        finally:
            if purger is not None:
                purger.stop()
            if worker is not None:
                worker.stop()
            if keeper is not None:
                keeper.stop()  # releases the lease: another process takes over at once

    app = FastAPI(
        title="Twofold",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        # CSRF by default: every route of this app, however it is added (see deps.py).
        dependencies=[Depends(require_csrf)],
    )
    app.state.runtime = runtime
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.mount("/api", build_api(app.state))
    app.include_router(auth.router)
    app.include_router(account.router)
    app.include_router(authenticators.router)
    app.include_router(passkeys.router)
    app.include_router(passkeys.sign_in_router)
    app.include_router(phone.router)
    app.include_router(setup.router)
    app.include_router(signup.router)
    app.include_router(recovery_links.router)
    app.include_router(reenroll.router)
    app.include_router(invite.router)
    app.include_router(admin.router)
    app.include_router(oidc_routes.router)
    app.include_router(forward.router)
    app.include_router(metrics_router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        ready = health.readiness(runtime_of(request))
        if ready.serves:
            return JSONResponse({"status": ready.status, **ready.checks})
        return JSONResponse(
            {"status": ready.status, **ready.checks},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return redirect("/account/security")

    _install_error_handlers(app)
    app.add_middleware(AllowedHosts, allowed=runtime.settings.allowed_host_names)
    app.add_middleware(RequestRate)  # inside SecurityHeaders: a 429 page gets them too
    app.add_middleware(
        SecurityHeaders,
        hsts=runtime.settings.uses_https,
        policy=content_security_policy(runtime.settings.redirect_hosts),
    )
    app.add_middleware(BodySizeLimit)
    app.add_middleware(RequestMetrics)
    # Everything below, the error pages' log lines included, sees the client.
    app.add_middleware(ClientAddress, trusted=runtime.settings.proxy_trust)
    # Outermost: every log line of the request, uvicorn's access line too, carries its id.
    app.add_middleware(RequestId)
    return app


BUSY_RETRY_AFTER_SECONDS = 2


def busy_response(exc: BaseException) -> Response:
    """Contention is not a failure: nothing was changed, and the same request works a moment
    later. A plain page (no template, no database), so it can always be produced."""
    log.warning("busy, answered 503: %s", type(exc).__name__)
    return HTMLResponse(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Busy for a moment · Twofold</title>"
        '<link rel="stylesheet" href="/static/style.css"></head><body>'
        '<header class="topbar"><a class="brand" href="/">Twofold</a></header>'
        '<main class="card"><h1>Busy for a moment</h1><p>Many requests arrived at once, so '
        "yours was not handled and nothing was changed. Please try again in a few seconds."
        "</p></main></body></html>",
        status_code=503,
        headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Redirect)
    async def on_redirect(_request: Request, exc: Redirect) -> Response:
        return redirect(exc.url)

    @app.exception_handler(CsrfRejected)
    async def on_csrf(request: Request, _exc: CsrfRejected) -> Response:
        return render(
            request,
            "error.html",
            status_code=403,
            title=words.TITLE_FORM_EXPIRED,
            message=words.FORM_EXPIRED,
        )

    @app.exception_handler(TwofoldError)
    async def on_domain_error(request: Request, exc: TwofoldError) -> Response:
        if isinstance(exc, ReenrollmentLinkRequired):  # not a failure: what to do next
            return render(
                request,
                "reenroll_wait.html",
                status_code=status_for(exc),
                link_hours=member_actions.reenroll_lifetime_hours(),
            )
        return render(
            request,
            "error.html",
            status_code=status_for(exc),
            title=words.TITLE_THAT_DID_NOT_WORK,
            message=message_for(exc, runtime_of(request).now()),
        )

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, _exc: RequestValidationError) -> Response:
        return render(
            request,
            "error.html",
            status_code=400,
            title=words.TITLE_FORM_INCOMPLETE,
            message=words.FORM_INCOMPLETE,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and _is_api(request.scope):
            # An /api address the mount does not match (a newline in the path, say): the
            # API's own shape all the same.
            return error_response(404, "not_found", words.NO_PAGE_HERE)
        titles = {404: words.TITLE_PAGE_NOT_FOUND, 405: words.TITLE_NOT_ALLOWED_HERE}
        return render(
            request,
            "error.html",
            status_code=exc.status_code,
            title=titles.get(exc.status_code, words.TITLE_THAT_DID_NOT_WORK),
            message=words.NO_PAGE_HERE if exc.status_code == 404 else words.METHOD_NOT_ACCEPTED,
        )

    @app.exception_handler(DatabaseBusy)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(DBAPIError)
    async def on_database_error(request: Request, exc: Exception) -> Response:
        if is_contention(exc):
            return busy_response(exc)
        return unexpected_error(request, exc)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return unexpected_error(request, exc)


def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug or an outage: logged with its traceback, and a page that promises nothing false."""
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    request_id = current_request_id()  # answered outside the RequestId middleware
    return HTMLResponse(
        f"<!doctype html><title>{escape(translate(words.TITLE_ERROR))}</title>"
        f"<p>{escape(translate(words.UNEXPECTED_ERROR))}</p>",
        status_code=500,
        headers={"X-Request-Id": request_id} if request_id else None,
    )
