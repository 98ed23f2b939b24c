"""Schemathesis over /api/openapi.json, in process against the app, signed in as a member
and as an admin: every answer is documented (status and shape) and none is a 5xx. A short
run here (make test); `make fuzz` runs a long one (TWOFOLD_FUZZ_EXAMPLES)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from asgi_client import TestClient
from support import make_member, make_org
from twofold.core.policy import Role
from twofold.core.sessions import Method, SessionKind, SessionState
from twofold.otp.clock import FixedClock
from twofold.services import sessions
from twofold.services.runtime import ClientInfo, Runtime
from twofold.store.models import User

EXAMPLES = int(os.environ.get("TWOFOLD_FUZZ_EXAMPLES", "4"))
# A schema-valid request may still be refused by a rule: 400 with the rule's code (a wrong
# password or code, a reason too long for the audit log). Every other check as it comes.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]
            }
        }
    }
)


def _mint(runtime: Runtime, user_id: int) -> str:
    """A signed-in API token (password and code passed just now), made without a sign-in
    so that every generated request starts signed in, whatever the previous one revoked."""
    with runtime.db() as db:
        user = db.get(User, user_id)
        assert user is not None
        session, _ = sessions.start_session(
            db,
            runtime,
            user,
            SessionState.PASSWORD_VERIFIED,
            [Method.PASSWORD],
            ClientInfo(),
            kind=SessionKind.API,
        )
        token = sessions.step_up(db, runtime, session, Method.TOTP)
        db.commit()
    return token


@pytest.fixture
def token_for(runtime: Runtime, clock: FixedClock) -> Callable[[str], str]:
    make_org(runtime, "acme")
    admin = make_member(runtime, "ada", "acme", role=Role.ADMIN, with_totp=True)
    member = make_member(runtime, "bob", "acme", with_totp=True)
    clock.advance(30)

    def token(path: str) -> str:
        return _mint(runtime, admin.id if "/admin/" in path else member.id)

    return token


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_api_answer_is_documented(
    client: TestClient, token_for: Callable[[str], str], mode: GenerationMode
) -> None:
    """Valid requests (positive) and invalid ones (negative: wrong types, missing or unknown
    fields, out-of-range parameters), with every check schemathesis has."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", client.app, config=CONFIG)
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {token_for(case.path)}"})

        call()
