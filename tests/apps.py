"""One app per worker and per what shapes it beyond the runtime, shared by every test client.

The first request to a new FastAPI app analyses every route (60-80 ms of CPU), and tests
that open "another browser" used to build an app for it each time. Pages find the runtime
through `app.state.runtime`, which `app_for` sets to the test's own. No background workers:
tests deliver mail themselves, and the purge's first pass would come an hour after start
(tests/services/test_housekeeping.py starts its own app with the purge)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI

from asgi_client import TestClient
from twofold.services.runtime import Runtime
from twofold.web.app import create_app

_APPS: dict[tuple[object, ...], FastAPI] = {}


def app_for(runtime: Runtime) -> FastAPI:
    """The worker's app for this runtime's settings, now serving this runtime."""
    settings = runtime.settings
    shape = (
        settings.allowed_host_names,
        settings.uses_https,
        settings.redirect_hosts,  # the CSP's form-action names them
        settings.proxy_trust,  # web.client_address holds them
    )
    app = _APPS.get(shape)
    if app is None:
        app = create_app(runtime=runtime, mail_worker=False, purge_worker=False)
        _APPS[shape] = app
    app.state.runtime = runtime
    return app


@contextmanager
def browser(runtime: Runtime, **options: Any) -> Iterator[TestClient]:
    """Another browser on the same app: its own cookies, redirects not followed."""
    options.setdefault("follow_redirects", False)
    with TestClient(app_for(runtime), lifespan_once=True, **options) as other:
        yield other
