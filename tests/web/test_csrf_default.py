"""CSRF by default: every state-changing route of the app is checked without opting in, and
only a route marked csrf_exempt (with a reason) is not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI, Form
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from apps import app_for
from asgi_client import TestClient
from support import Person, csrf_token, sign_in, text_of
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.web.app import create_app
from twofold.web.deps import (
    SAFE_METHODS,
    csrf_exempt,
    csrf_exemption,
    get_optional_session,
    require_csrf,
)
from twofold.web.rendering import SESSION_COOKIE

EXPIRED = "This form has expired"


def flat_routes(app: FastAPI) -> Iterator[Any]:
    """Every route as it is served. FastAPI 0.16x keeps included routers as branches and
    exposes their effective routes (prefix and app-wide dependencies applied) through
    iter_route_contexts; older versions copy each route into app.routes."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI
        return iter(app.routes)
    return iter(iter_route_contexts(app.routes))


def original(route: Any) -> object:
    return getattr(route, "original_route", route)


def unsafe_methods(route: object) -> set[str]:
    return set(getattr(route, "methods", None) or ()) - SAFE_METHODS


def is_guarded(route: Any) -> bool:
    return any(sub.call is require_csrf for sub in route.dependant.dependencies)


def reads_cookie(dependant: Any) -> bool:
    """Whether a route's dependencies (at any depth) read the browser session's cookie."""
    return any(
        sub.call is get_optional_session or reads_cookie(sub) for sub in dependant.dependencies
    )


def cookie_reading_routes(app: FastAPI) -> list[str]:
    """The state-changing routes of a mounted app (the API has no CSRF guard: it is
    authenticated by a header) that would be authenticated by the cookie all the same."""
    return [
        route.path
        for route in flat_routes(app)
        if isinstance(original(route), APIRoute)
        and unsafe_methods(route)
        and reads_cookie(route.dependant)
    ]


def unprotected_routes(app: FastAPI) -> list[str]:
    """Every way in that changes state and is neither checked by the app-wide guard nor
    marked exempt: plain Starlette routes bypass FastAPI dependencies, so they count too."""
    problems = []
    for route in flat_routes(app):
        if isinstance(original(route), Mount):
            if isinstance(route.app, FastAPI):  # the JSON API: bearer tokens, never a cookie
                problems += [
                    f"{route.path}{path}: reads the session cookie without a CSRF check"
                    for path in cookie_reading_routes(route.app)
                ]
            elif not isinstance(route.app, StaticFiles):  # static files answer GET/HEAD only
                problems.append(f"mount {route.path}: its routes are not checked")
            continue
        methods = unsafe_methods(route)
        if not methods:
            continue
        path = getattr(route, "path", repr(route))
        api_route = isinstance(original(route), APIRoute)
        if api_route and (is_guarded(route) or csrf_exemption(route.endpoint)):
            continue
        problems.append(f"{','.join(sorted(methods))} {path}")
    return problems


# Routes do not depend on the database, so the list can be read at collection time from an
# app built around a runtime that has settings and nothing else.
_ROUTES_ONLY = cast(Runtime, SimpleNamespace(settings=Settings()))
APP_ROUTES = [
    (method, route.path)
    for route in flat_routes(create_app(runtime=_ROUTES_ONLY, mail_worker=False))
    if isinstance(original(route), APIRoute) and not csrf_exemption(route.endpoint)
    for method in sorted(unsafe_methods(route))
]


def filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_state_changing_route_is_guarded_or_marked_exempt(runtime: Runtime) -> None:
    app = create_app(runtime=runtime, mail_worker=False)
    assert len(APP_ROUTES) >= 20  # the list really holds the app's forms
    assert unprotected_routes(app) == []


def test_the_route_audit_catches_a_route_that_bypasses_the_guard(runtime: Runtime) -> None:
    app = create_app(runtime=runtime, mail_worker=False)

    async def raw(_request: object) -> PlainTextResponse:
        return PlainTextResponse("changed")

    app.router.add_route("/raw", raw, methods=["POST"])
    assert unprotected_routes(app) == ["POST /raw"]


@pytest.mark.parametrize(("method", "path"), APP_ROUTES)
def test_a_request_without_a_token_is_refused_on_every_route(
    client: TestClient, runtime: Runtime, alice: Person, method: str, path: str
) -> None:
    sign_in(client, alice)  # cookie-authenticated, with a CSRF cookie: only the token is missing
    response = client.request(method, filled(path), data={"login": "alice", "code": "123456"})
    assert response.status_code == 403, f"{method} {path} answered {response.status_code}"
    assert EXPIRED in text_of(response)
    assert client.cookies.get(SESSION_COOKIE)
    assert client.get("/account/security").status_code == 200  # still signed in


def test_a_token_for_another_browser_is_refused_on_a_route_without_form_fields(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    """/logout declares no Form() field: the guard parses the form itself."""
    other = TestClient(app_for(runtime))
    foreign = csrf_token(other, "/login")
    sign_in(client, alice)
    response = client.post("/logout", data={"csrf_token": foreign})
    assert response.status_code == 403
    assert client.get("/account/security").status_code == 200


def test_routes_added_later_are_guarded_without_opting_in_and_exempt_ones_are_not(
    runtime: Runtime,
) -> None:
    app = create_app(runtime=runtime, mail_worker=False)
    calls: list[str] = []

    @app.post("/test/api/things")
    @csrf_exempt("authenticated by an Authorization header only; no cookie is read")
    def api_create(name: str = "") -> PlainTextResponse:
        calls.append("api")
        return PlainTextResponse("created")

    @app.delete("/test/things/{thing_id}")
    def delete_thing(thing_id: int) -> PlainTextResponse:
        calls.append("delete")
        return PlainTextResponse("deleted")

    @app.post("/test/things")
    def create_thing(name: str = Form("")) -> PlainTextResponse:
        calls.append("form")
        return PlainTextResponse("created")

    with TestClient(app, follow_redirects=False) as client:
        token = csrf_token(client, "/login")
        assert client.post("/test/api/things", json={"name": "x"}).status_code == 200
        assert client.delete("/test/things/1").status_code == 403
        assert client.post("/test/things", data={"name": "x"}).status_code == 403
        assert calls == ["api"]
        ok = client.post("/test/things", data={"name": "x", "csrf_token": token})
        assert ok.status_code == 200
        assert calls == ["api", "form"]
    assert unprotected_routes(app) == []
    exempt = [r.path for r in flat_routes(app) if csrf_exemption(getattr(r, "endpoint", None))]
    assert [path for path in exempt if path.startswith("/test/")] == ["/test/api/things"]


def test_an_exemption_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        csrf_exempt(" ")
