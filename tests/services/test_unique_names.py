"""One active API key and one active application of a name per organization, held by the
database (migration 0011): when two admins choose the same name at the same moment, both
pass the services' check before the insert, and the index refuses the second with the
same words as the check. Revoked ones free the name; other organizations are unaffected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from support import make_org
from twofold.core.errors import InvalidInput
from twofold.services import api_keys, credential_names, oidc_clients
from twofold.services.runtime import Runtime
from twofold.store.models import ApiKey, OidcClient

REDIRECT = ["https://app.example.com/callback"]


def new_key(runtime: Runtime, slug: str, name: str) -> Any:
    with runtime.db() as db:
        created = api_keys.create_key(db, runtime, slug, name=name)
        db.commit()
        return created.key.id


def new_client(runtime: Runtime, slug: str, name: str) -> Any:
    with runtime.db() as db:
        created = oidc_clients.create_client(db, runtime, slug, name=name, redirect_uris=REDIRECT)
        db.commit()
        return created.client.client_id


KINDS: dict[str, tuple[Callable[[Runtime, str, str], Any], type[Any]]] = {
    "api key": (new_key, ApiKey),
    "application": (new_client, OidcClient),
}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def count(runtime: Runtime, model: type[Any]) -> int:
    with runtime.db() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_the_name_a_racing_admin_took_is_refused_with_the_checks_words(
    runtime: Runtime, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_org(runtime, "acme")
    create, model = KINDS[kind]
    create(runtime, "acme", "VPN gateway")
    # The moment of the race: the other admin's row is not visible to this check yet.
    monkeypatch.setattr(credential_names, "ensure_free", lambda *_args: None)
    with pytest.raises(InvalidInput) as refused:
        create(runtime, "acme", "vpn GATEWAY")
    assert refused.value.field == "name"
    assert "This organization already has an" in refused.value.detail
    assert count(runtime, model) == 1


def test_a_revoked_name_and_another_organization_are_free(runtime: Runtime, kind: str) -> None:
    make_org(runtime, "acme")
    make_org(runtime, "globex")
    create, model = KINDS[kind]
    create(runtime, "acme", "Portal")
    create(runtime, "globex", "Portal")
    with runtime.db() as db:
        row = db.scalars(select(model).order_by(model.id)).first()  # acme's
        assert row is not None
        row.revoked_at = runtime.now()
        db.commit()
    create(runtime, "acme", "Portal")
    assert count(runtime, model) == 3


def test_the_database_itself_refuses_a_second_active_name(runtime: Runtime, kind: str) -> None:
    make_org(runtime, "acme")
    create, model = KINDS[kind]
    create(runtime, "acme", "Portal")
    with runtime.db() as db:
        first = db.scalars(select(model)).one()
        copy = {
            column.key: getattr(first, column.key)
            for column in model.__table__.columns
            if column.key not in {"id", "key_digest", "client_id", "secret_digest"}
        }
        copy["name"] = "PORTAL"
        if model is ApiKey:
            copy["key_digest"] = b"\x01" * 32
        else:
            copy["client_id"] = "another-client-id"
        db.add(model(**copy))
        with pytest.raises(IntegrityError):
            db.flush()
