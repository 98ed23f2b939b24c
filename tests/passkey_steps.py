"""Service-level steps with a security key or passkey, one database session per request as
a browser's would be (tests/services and tests/attack use them)."""

from __future__ import annotations

from sqlalchemy import select, update

from asgi_client import TestClient
from services.conftest import BROWSER, Steps
from soft_webauthn import SoftAuthenticator
from support import Person
from twofold.core.sessions import Method
from twofold.crypto.tokens import token_digest
from twofold.otp.clock import FixedClock
from twofold.services import sessions, webauthn
from twofold.services.runtime import Runtime
from twofold.services.users import MethodView
from twofold.store.models import AuthSession, Organization, User, WebAuthnCredential
from twofold.web.rendering import SESSION_COOKIE


def set_passkeys(runtime: Runtime, slug: str, value: str) -> None:
    """organizations.passkeys, set directly (what `twofold org policy --passkeys` stores)."""
    with runtime.db() as db:
        db.execute(update(Organization).where(Organization.slug == slug).values(passkeys=value))
        db.commit()


def signed_in(runtime: Runtime, clock: FixedClock, person: Person) -> str:
    """A session that passed the password and a code (the code's step then used up)."""
    steps = Steps(runtime, clock)
    token = steps.totp(steps.password_step(person), person.totp(clock))
    clock.advance(30)
    return token


def _session(db: object, runtime: Runtime, token: str) -> AuthSession:
    session = sessions.find_session(db, runtime, token)  # type: ignore[arg-type]
    assert session is not None
    return session


def begin_adding(
    runtime: Runtime, clock: FixedClock, person: Person, token: str, name: str = "YubiKey"
) -> str:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        return webauthn.begin_adding(
            db,
            runtime,
            user,
            _session(db, runtime, token),
            name=name,
            password=person.password,
            code=person.totp(clock),
            client=BROWSER,
        )


def finish_adding(
    runtime: Runtime, person: Person, token: str, response: str, name: str = "YubiKey"
) -> MethodView:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        return webauthn.finish_adding(
            db,
            runtime,
            user,
            _session(db, runtime, token),
            name=name,
            response=response,
            client=BROWSER,
        )


def add_passkey(
    runtime: Runtime,
    clock: FixedClock,
    person: Person,
    key: SoftAuthenticator,
    name: str = "YubiKey",
) -> MethodView:
    token = signed_in(runtime, clock, person)
    options = begin_adding(runtime, clock, person, token, name)
    clock.advance(30)
    return finish_adding(runtime, person, token, key.register(options), name)


def second_factor_options(runtime: Runtime, token: str) -> str:
    with runtime.db() as db:
        return webauthn.begin_second_factor(db, runtime, _session(db, runtime, token))


def second_factor(runtime: Runtime, token: str, response: str) -> str:
    with runtime.db() as db:
        return webauthn.verify_second_factor(
            db, runtime, _session(db, runtime, token), response, BROWSER
        )


def passwordless_options(runtime: Runtime, binding: str) -> str:
    with runtime.db() as db:
        return webauthn.begin_passwordless(db, runtime, binding)


def passwordless(runtime: Runtime, binding: str, response: str) -> str:
    with runtime.db() as db:
        return webauthn.sign_in_with_passkey(
            db, runtime, binding=binding, response=response, client=BROWSER
        ).token


def give_key(runtime: Runtime, person: Person) -> None:
    """A registered security key for `person`, as a row (for rules that ask only whether
    one is there; tests that sign in with one use SoftAuthenticator through the pages)."""
    with runtime.db() as db:
        db.add(
            WebAuthnCredential(
                user_id=person.id,
                name="YubiKey",
                credential_id=f"key-{person.login}".encode(),
                public_key=b"\x01",
                sign_count=0,
                created_at=runtime.now(),
            )
        )
        db.commit()


def use_key(client: TestClient, runtime: Runtime) -> None:
    """The browser's session passes its security key, as the passkey prompt's success step
    does (sessions.step_up with hwk); the browser's other cookies stay."""
    token = client.cookies.get(SESSION_COOKIE)
    assert token
    with runtime.db() as db:
        session = db.scalar(
            select(AuthSession).where(AuthSession.token_digest == token_digest(token))
        )
        assert session is not None
        new_token = sessions.step_up(db, runtime, session, Method.HARDWARE_KEY)
        db.commit()
    kept = {name: value for name, value in client.cookies.items() if name != SESSION_COOKIE}
    client.cookies.clear()
    for name, value in kept.items():
        client.cookies.set(name, value)
    client.cookies.set(SESSION_COOKIE, new_token)
