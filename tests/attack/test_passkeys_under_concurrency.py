"""The same passkey answer sent many times at once through two `twofold serve` processes
sharing one database (SQLite file and PostgreSQL): its challenge is used up by one
conditional UPDATE, so exactly one request signs in and every other is refused plainly."""

from __future__ import annotations

import json
from functools import partial

import pytest
from sqlalchemy import update

from attack.servers import Answer, Browser, describe, serve_many, until_answered
from soft_webauthn import SoftAuthenticator, b64url
from support import make_person
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import Organization, WebAuthnCredential

pytestmark = pytest.mark.attack

ROUNDS = 3
COPIES = 10
# Both servers answer for one origin, as behind one load balancer.
BASE_URL = "http://localhost:8000"


def register_directly(runtime: Runtime, user_id: int, key: SoftAuthenticator) -> None:
    """A passkey of the person's, as registration would store it (registration itself is
    tested in tests/services and tests/web)."""
    options = {
        "rp": {"id": "localhost"},
        "user": {"id": b64url(b"handle")},
        "challenge": b64url(b"c" * 32),
    }
    key.register(json.dumps(options))
    [credential] = key.credentials.values()
    with runtime.db() as db:
        db.add(
            WebAuthnCredential(
                user_id=user_id,
                name="Laptop",
                credential_id=credential.credential_id,
                public_key=credential.cose_public_key(),
                sign_count=0,
                transports="internal",
                aaguid="",
                backup_eligible=False,
                backed_up=False,
                discoverable=True,
                created_at=runtime.now(),
                rp_id="localhost",
            )
        )
        db.execute(update(Organization).values(passkeys="passwordless"))
        db.commit()


def test_one_passkey_answer_signs_in_once_through_two_servers(
    live_runtime: Runtime, settings: Settings, database_url: str
) -> None:
    bob = make_person(live_runtime, "bob")
    key = SoftAuthenticator(origin=BASE_URL)
    register_directly(live_runtime, bob.id, key)
    with serve_many(2, settings.data_dir, database_url, {"TWOFOLD_BASE_URL": BASE_URL}) as served:
        servers = [s.base_url for s in served]
        for _round in range(ROUNDS):
            browser = Browser()
            token = browser.csrf(servers[0], "/login")
            options = browser.request(
                servers[0], "POST", "/login/passkey/start", {"csrf_token": token}
            )
            assert options.status == 200, options.body
            answer = key.assertion(options.body)
            form = {"csrf_token": token, "response": answer}
            results: list[Answer] = until_answered(
                [
                    partial(browser.request, servers[i % 2], "POST", "/login/passkey/finish", form)
                    for i in range(COPIES)
                ]
            )
            signed_in = [a for a in results if a.status == 303]
            refused = [a for a in results if a.status == 400]
            assert len(signed_in) == 1, describe(results)
            assert len(refused) == COPIES - 1, describe(results)
            assert all("expired or was used already" in a.body for a in refused)
