"""Bad input to the API: malformed JSON, wrong types, unknown fields, huge bodies. Each is
a documented 4xx in the one error shape, and nothing stored changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from asgi_client import TestClient
from support import Person, api_sign_in, bearer
from twofold.services.runtime import Runtime
from twofold.store.models import AuditEvent, AuthSession


def _rows(runtime: Runtime) -> tuple[int, int]:
    with runtime.db() as db:
        return (
            int(db.scalar(select(func.count()).select_from(AuthSession)) or 0),
            int(db.scalar(select(func.count()).select_from(AuditEvent)) or 0),
        )


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"login": 5, "password": "x"}',
        b'{"login": "alice", "password": ["x"]}',
        b'{"login": "alice", "password": "x", "admin": true}',
        b'{"login": "alice"}',
        b"[]",
        b"",
        b'{"login": "' + b"a" * 300 + b'", "password": "x"}',
    ],
    ids=["malformed", "int", "list", "unknown-field", "missing", "array", "empty", "long"],
)
def test_a_bad_sign_in_body_is_422_and_changes_nothing(
    client: TestClient, runtime: Runtime, alice: Person, body: bytes
) -> None:
    before = _rows(runtime)
    answer = client.post(
        "/api/v1/sign-in", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_request"
    assert set(answer.json()) == {"error", "message"}
    assert _rows(runtime) == before


def test_a_huge_body_is_413_in_the_error_shape(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/sign-in",
        content=b'{"login": "' + b"a" * 100_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "request_too_large"


def test_a_huge_chunked_body_is_413_in_the_error_shape(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b"a" * 1000

    answer = client.post(
        "/api/v1/sign-in", content=chunks(), headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "request_too_large"


def test_pages_keep_their_html_413(client: TestClient) -> None:
    answer = client.post("/login", content=b"a" * 100_000)
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("text/html")


def test_wrong_types_in_an_admin_body_change_nothing(
    client: TestClient, runtime: Runtime, alice: Person
) -> None:
    token = api_sign_in(client, alice)
    before = _rows(runtime)
    answer = client.post(
        "/api/v1/me/two-factor/disable", json={"password": 123}, headers=bearer(token)
    )
    assert answer.status_code == 422
    assert _rows(runtime) == before


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer " + "x" * 500, "Basic YWxpY2U6cGFzcw==", "Bearer not-a-token"],
)
def test_a_missing_or_forged_token_is_401(client: TestClient, authorization: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.get("/api/v1/me/two-factor", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] in {"unauthenticated", "invalid_token"}
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_path_id_beyond_the_database_integer_is_422(client: TestClient, alice: Person) -> None:
    token = api_sign_in(client, alice)
    answer = client.delete(f"/api/v1/me/sessions/{2**40}", headers=bearer(token))
    assert answer.status_code == 422
