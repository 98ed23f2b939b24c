"""The JSON API's frame: its own schema at /api/openapi.json and its one error shape, on the
same runtime as the pages."""

from __future__ import annotations

from asgi_client import TestClient
from support import Person, sign_in
from twofold.web.deps import SAFE_METHODS

# API routes that take no bearer credential by design: the API sign-in's steps take a
# password, then the single-use challenge, in the body (a cookie is refused there as well).
WITHOUT_CREDENTIALS = {"/v1/sign-in", "/v1/sign-in/code", "/v1/sign-in/recovery-code"}


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


def test_a_body_that_is_not_even_text_is_a_422_in_the_error_shape(client: TestClient) -> None:
    response = client.post(
        "/api/v1/verify",
        content=b"\xff\xfe",
        headers={"Content-Type": "application/json", "Authorization": "Bearer tfk_x"},
    )
    assert response.status_code == 422  # the body is read before the key is looked at
    response = client.post(
        "/api/v1/sign-in", content=b"\xff\xfe", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
