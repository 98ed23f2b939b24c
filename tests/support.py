"""Helpers for tests: people in each state, and forms posted the way a browser does."""

from __future__ import annotations

import functools
import html
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx2 as httpx
import pyotp
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from asgi_client import TestClient
from twofold.core.errors import SmsSendFailed
from twofold.core.policy import Role, TwoFactorPolicy
from twofold.crypto.keyring import KeyRing
from twofold.otp.clock import FixedClock, unix_time
from twofold.otp.secret import encode_secret
from twofold.services import (
    account,
    authenticators,
    mail,
    oidc_clients,
    organizations,
    signing_keys,
    users,
)
from twofold.services.runtime import ClientInfo, Runtime
from twofold.settings import Settings
from twofold.store.models import OidcGrant, User

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _per_worker(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets a database of its own (`<name>_gw0`, …): the suite
    drops and recreates the public schema, so two workers must never share one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


POSTGRES_URL = _per_worker(os.environ.get("TWOFOLD_TEST_DATABASE_URL"))
TEST_KEYS = KeyRing.generate("test1")
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
STRONG_PASSWORD = "correct horse battery staple"
OTHER_STRONG_PASSWORD = "purple elephant juggles quietly"


@functools.cache
def _base_settings(**fixed: str) -> Settings:
    return Settings(secret_keys=TEST_KEYS.to_text(), **fixed)  # type: ignore[arg-type]


def settings_for(data_dir: Path, database_url: str, **fixed: str) -> Settings:
    """A test's settings: the worker's, with its own data directory and database.

    Settings() reads and validates every TWOFOLD_* source (~5 ms of CPU, in each of ~2,000
    tests); the environment does not change under a worker, so the settings are built once
    per worker and per `fixed` values, and each test's two own fields are copied in."""
    return _base_settings(**fixed).model_copy(
        update={"data_dir": data_dir, "database_url": database_url}
    )


def require_or_skip(available: bool, what: str) -> None:
    """Skip with a reason locally; under CI a missing service is a failure, not a skip."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} not available (set it up as in docs/development.md)")


@dataclass
class Person:
    """A test user and what only its owner knows."""

    id: int
    login: str
    password: str
    secret: bytes | None = None
    recovery_codes: list[str] | None = None

    def totp(self, clock: FixedClock, offset_steps: int = 0) -> str:
        assert self.secret is not None
        return pyotp.TOTP(encode_secret(self.secret)).at(unix_time(clock.now()) + 30 * offset_steps)


def enroll_totp(db: Session, runtime: Runtime, user: User, person: Person) -> None:
    """Set up TOTP as an authenticator app would, keeping what only the owner knows."""
    pending = account.begin_totp_enrollment(db, runtime, user)
    person.secret = pyotp.TOTP(pending.secret_b32).byte_secret()
    code = pyotp.TOTP(pending.secret_b32).at(unix_time(runtime.now()))
    person.recovery_codes = account.confirm_totp_enrollment(db, runtime, user, code, ClientInfo())


def make_person(
    runtime: Runtime, login: str = "alice", *, with_totp: bool = False, email: str | None = None
) -> Person:
    with runtime.db() as db:
        user = users.create_user(
            db, runtime, login=login, password=STRONG_PASSWORD, email=email, email_verified=True
        )
        db.commit()
        person = Person(id=user.id, login=user.login, password=STRONG_PASSWORD)
        if with_totp:
            enroll_totp(db, runtime, user, person)
    return person


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient, path: str) -> str:
    """Open a page as a browser would and read its form's CSRF token."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def post_form(
    client: TestClient, page: str, data: dict[str, str], action: str | None = None
) -> httpx.Response:
    """GET the page, then POST its form with the page's CSRF token."""
    token = csrf_token(client, page)
    return client.post(action or page, data={**data, "csrf_token": token})


def sign_in(client: TestClient, person: Person, clock: FixedClock | None = None) -> None:
    """Password, then the app's code when asked. The code form is posted with the sign-in
    page's CSRF token, as a browser holding both pages could: the token belongs to the
    browser's cookie, not to a page, and rendering the code page again for each of the
    suite's sign-ins cost ~5 ms of CPU each (docs/development.md, ninth pass)."""
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"login": person.login, "password": person.password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    if response.headers["location"] == "/login/code":
        assert clock is not None
        response = client.post(
            "/login/code", data={"code": person.totp(clock), "csrf_token": token}
        )
        assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account/security"


def text_of(response: httpx.Response) -> str:
    """The page as a person reads it (entities such as &#39; decoded)."""
    return html.unescape(response.text)


def snapshot(
    runtime: Runtime, *, skip: tuple[str, ...] = ()
) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table: to show that a refused request changed nothing."""
    from sqlalchemy import select

    from twofold.store.models import Base

    with runtime.db() as db:
        return {
            table.name: [
                tuple(row) for row in db.execute(select(table).order_by(*table.primary_key))
            ]
            for table in Base.metadata.sorted_tables
            if table.name not in skip
        }


# --- organizations -------------------------------------------------------------------


def make_org(
    runtime: Runtime,
    slug: str,
    policy: TwoFactorPolicy = TwoFactorPolicy.OPTIONAL,
    *,
    name: str | None = None,
    signup_open: bool = False,
) -> int:
    with runtime.db() as db:
        organization = organizations.create_organization(
            db, runtime, slug=slug, name=name, two_factor=policy, signup_open=signup_open
        )
        db.commit()
        return organization.id


def make_member(
    runtime: Runtime,
    login: str,
    slug: str,
    *,
    role: Role = Role.MEMBER,
    superadmin: bool = False,
    with_totp: bool = False,
    email: str | None = None,
) -> Person:
    """A person whose first (so, at sign-in, current) organization is `slug`."""
    with runtime.db() as db:
        user = users.create_user(
            db,
            runtime,
            login=login,
            password=STRONG_PASSWORD,
            email=email,
            email_verified=email is not None,
            organization_slug=slug,
            role=role.value,
            superadmin=superadmin,
        )
        db.commit()
        person = Person(id=user.id, login=user.login, password=STRONG_PASSWORD)
        if with_totp:
            enroll_totp(db, runtime, user, person)
    return person


def join(runtime: Runtime, person: Person, slug: str, role: Role = Role.MEMBER) -> None:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        organizations.add_member(db, runtime, user, organizations.get_organization(db, slug), role)
        db.commit()


def set_policy(
    runtime: Runtime,
    slug: str,
    policy: TwoFactorPolicy,
    *,
    grace_days: int | None = None,
    sign_out_everyone: bool = False,
) -> int:
    with runtime.db() as db:
        organization = organizations.get_organization(db, slug)
        ended = organizations.set_policy(
            db,
            runtime,
            organization,
            two_factor=policy,
            grace_days=grace_days,
            sign_out_everyone=sign_out_everyone,
        )
        db.commit()
        return ended


# --- ID-token signing keys ---------------------------------------------------------------

_POOLED_SIGNING_KEYS: dict[str, list[signing_keys.SigningKey]] = {}


class SigningKeyPool:
    """Signing keys made once per worker (an RSA key takes ~0.1 s) and handed out in order:
    within a test every key differs, and every test gets the same ones (each test has a
    fresh database). Pass it as `generate=` to ensure_signing_keys or rotate_signing_keys."""

    def __init__(self) -> None:
        self._taken: Counter[str] = Counter()

    def __call__(self, alg: str) -> signing_keys.SigningKey:
        index = self._taken[alg]
        self._taken[alg] += 1
        made = _POOLED_SIGNING_KEYS.setdefault(alg, [])
        while len(made) <= index:
            made.append(signing_keys.generate_key(alg))
        return made[index]

    def install(self, runtime: Runtime) -> list[str]:
        """The keys `twofold serve` makes at start-up (one per algorithm); their kids."""
        with runtime.db() as db:
            return signing_keys.ensure_signing_keys(db, runtime, generate=self)


# --- OpenID Connect applications and grants, as the protocol would leave them ----------

GRANT_LIFETIME = timedelta(days=30)


def make_client(runtime: Runtime, name: str = "Grafana", slug: str = "default") -> str:
    """A registered application of `slug`; its public client_id."""
    with runtime.db() as db:
        created = oidc_clients.create_client(
            db, runtime, slug, name=name, redirect_uris=["https://app.example/callback"]
        )
        return created.client.client_id


def make_grant(
    runtime: Runtime,
    person: Person,
    client_id: str,
    *,
    session_id: int | None = None,
    lifetime: timedelta = GRANT_LIFETIME,
) -> int:
    """A sign-in of `person` to the application, now; the grant's id."""
    with runtime.db() as db:
        client = oidc_clients.get_client(db, client_id)
        now = runtime.now()
        grant = OidcGrant(
            client_id=client.id,
            user_id=person.id,
            session_id=session_id,
            scope="openid profile email",
            amr="pwd",
            acr="urn:twofold:acr:pwd",
            auth_time=now,
            created_at=now,
            expires_at=now + lifetime,
        )
        db.add(grant)
        db.commit()
        return grant.id


def revoked(runtime: Runtime, grant_id: int) -> str | None:
    """Why the grant was revoked, or None while it is live."""
    with runtime.db() as db:
        grant = db.get(OidcGrant, grant_id)
        assert grant is not None
        assert (grant.revoked_at is None) == (grant.revoked_reason is None)
        return grant.revoked_reason


class CapturingMailer:
    """A mailer that keeps what it is given: `mail.deliver_pending(runtime, mailer)` and read
    `mailer.messages`."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.messages.append(message)

    def describe(self) -> str:
        return "captured in memory"


class CapturingSms:
    """An SMS sender that keeps what it is given (thread-safe); `fail` makes it refuse the
    next messages as a provider would (SmsSendFailed with that reason)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.fail: str | None = None
        self._lock = threading.Lock()

    def send(self, to_e164: str, message: str) -> None:
        if self.fail is not None:
            raise SmsSendFailed(self.fail)
        with self._lock:
            self.messages.append((to_e164, message))

    def describe(self) -> str:
        return "captured in memory"

    def last_code(self, to_e164: str | None = None) -> str:
        """The code in the newest message (to that number)."""
        for to, message in reversed(self.messages):
            if to_e164 is None or to == to_e164:
                found = re.search(r"\b(\d{6})\b", message)
                assert found, message
                return found.group(1)
        raise AssertionError("no text message was sent")


SMS_COUNTRIES = "GB,US,DE"


def allow_sms(runtime: Runtime, slug: str = "default") -> CapturingSms:
    """SMS allowed by the operator (GB, US, DE) and by the organization; texts captured."""
    runtime.settings = runtime.settings.model_copy(update={"sms_allowed_countries": SMS_COUNTRIES})
    with runtime.db() as db:
        organization = organizations.get_organization(db, slug)
        organization.allowed_methods = "totp,sms"
        db.commit()
    sender = CapturingSms()
    runtime.sms = sender
    return sender


def enroll_sms(runtime: Runtime, person: Person, phone: str = "+447400123456") -> list[str]:
    """Set up SMS as the person's first method (the org must allow it); the recovery codes."""
    from twofold.services import sms as sms_service

    sender = runtime.sms
    assert isinstance(sender, CapturingSms)
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        standing_current = organizations.membership_views(db, user)[0]
        sms_service.begin_phone(
            db, runtime, user, phone=phone, current=standing_current, client=ClientInfo()
        )
        codes, _token = sms_service.confirm_phone(
            db, runtime, user, sender.last_code(phone), ClientInfo()
        )
    assert codes is not None
    person.recovery_codes = codes
    return codes


def columns_holding(runtime: Runtime, blob: bytes, text: str) -> list[str]:
    """The table.column of every value holding `blob` or `text` (or `text` without its
    first character, as a number without its "+"), in every table: to show it is gone."""
    from sqlalchemy import select

    from twofold.store.models import Base

    found = []
    with runtime.db() as db:
        for table in Base.metadata.sorted_tables:
            for row in db.execute(select(table)).mappings():
                for column, value in row.items():
                    if isinstance(value, bytes) and blob in value:
                        found.append(f"{table.name}.{column}")
                    if isinstance(value, str) and (text in value or text[1:] in value):
                        found.append(f"{table.name}.{column}")
    return found


def mail_sent_to(runtime: Runtime, address: str) -> list[str]:
    """Deliver the queue; the subjects and plain-text bodies sent to `address`."""
    mailer = CapturingMailer()
    mail.deliver_pending(runtime, mailer)
    bodies = []
    for message in mailer.messages:
        if message["To"] == address:
            part = message.get_body(("plain",))
            assert part is not None
            bodies.append(f"{message['Subject']}\n{part.get_content()}")  # type: ignore[attr-defined]
    return bodies


# --- the JSON API --------------------------------------------------------------------------


def api_sign_in(client: TestClient, person: Person, clock: FixedClock | None = None) -> str:
    """Sign in through /api/v1 (password, then the code when 2FA is on): the bearer token."""
    answer = client.post(
        "/api/v1/sign-in", json={"login": person.login, "password": person.password}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    if body["status"] == "mfa_required":
        assert clock is not None
        answer = client.post(
            "/api/v1/sign-in/code",
            json={"challenge": body["challenge"], "code": person.totp(clock)},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
    assert body["status"] == "signed_in"
    token: str = body["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_row(runtime: Runtime, person: Person) -> User:
    with runtime.db() as db:
        user = db.get(User, person.id)
        assert user is not None
        return user


def add_authenticator(
    runtime: Runtime, person: Person, clock: FixedClock, name: str = "Work phone"
) -> bytes:
    """Add an authenticator as the person would; returns the new app's secret."""
    user = user_row(runtime, person)
    with runtime.db() as db:
        pending, shown_name = authenticators.begin_adding(
            db,
            runtime,
            user,
            name=name,
            password=person.password,
            code=person.totp(clock),
            client=ClientInfo(),
        )
    assert shown_name == " ".join(name.split())
    secret = pyotp.TOTP(pending.secret_b32)
    clock.advance(30)
    with runtime.db() as db:
        authenticators.confirm_adding(
            db, runtime, user, secret.at(unix_time(clock.now())), ClientInfo()
        )
    clock.advance(30)
    return secret.byte_secret()


def code_of(secret: bytes, clock: FixedClock) -> str:
    return pyotp.TOTP(encode_secret(secret)).at(unix_time(clock.now()))


def delete_redis_keys(redis_url: str, prefix: str) -> None:
    """Every key under `prefix:` in that Redis: what a test's own key prefix left behind."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
