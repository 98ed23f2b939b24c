"""The JSON API's frame: its own schema at /api/openapi.json and its one error shape, on the
same runtime as the pages."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support import Person, sign_in
from twofold.web.deps import SAFE_METHODS

# API routes that take no credential by design (the API sign-in's first step takes a password).
WITHOUT_CREDENTIALS: set[str] = set()


def test_the_api_schema_is_served_at_api_openapi_json(client: TestClient) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Twofold API"


def test_an_unknown_api_address_answers_in_the_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {
        "error": "not_found",
        "message": "There is no page at this address.",
    }


def test_pages_keep_their_html_error_page(client: TestClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_a_browser_session_gets_in_nowhere_in_the_api(client: TestClient, alice: Person) -> None:
    """The API is exempt from the CSRF guard because no API route accepts the session cookie:
    a signed-in browser that calls any API route without a bearer credential is refused."""
    sign_in(client, alice)
    schema = client.get("/api/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method in operations:
            if method.upper() in SAFE_METHODS or path in WITHOUT_CREDENTIALS:
                continue
            response = client.request(method, "/api" + path.replace("{", "").replace("}", ""))
            assert response.status_code == 401, (method, path, response.text)
