"""The JSON API's frame: its own schema at /api/openapi.json and its one error shape, on the
same runtime as the pages."""

from __future__ import annotations

from fastapi.testclient import TestClient


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
