"""Every absolute link Twofold writes comes from configuration (TWOFOLD_BASE_URL, else the
address `serve` prints), never from the request's Host header; production answers only its
own host names; /healthz and /readyz answer load balancers whatever Host they use."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from apps import app_for
from asgi_client import TestClient
from support import (
    STRONG_PASSWORD,
    CapturingMailer,
    Person,
    enroll_totp,
    make_org,
    make_person,
    post_form,
    sign_in,
)
from twofold.core.policy import Role
from twofold.otp.clock import FixedClock
from twofold.services import mail, users
from twofold.services.runtime import Runtime
from twofold.settings import Settings

ATTACKER = "attacker.example"
CONFIGURED = "https://id.example.org"
SERVE_DEFAULT = "http://localhost:8000"  # what `twofold serve` prints with the default settings
LINK = re.compile(r"https?://[^\s\"'<>]+")


def delivered_text(runtime: Runtime) -> str:
    """Every part (plain text and HTML) of every message sent so far."""
    mailer = CapturingMailer()
    mail.deliver_pending(runtime, mailer)
    return "\n".join(
        str(part.get_content())  # type: ignore[attr-defined]
        for message in mailer.messages
        for part in message.walk()
        if part.get_content_maintype() == "text"
    )


def browser_at(runtime: Runtime, host: str, scheme: str = "http") -> TestClient:
    """A browser whose every request carries `Host: host`."""
    return TestClient(
        app_for(runtime),
        base_url=f"{scheme}://{host}",
        follow_redirects=False,
        headers={"X-Forwarded-Host": host},
    )


# --- links in emails -----------------------------------------------------------------------


@pytest.fixture(params=[None, CONFIGURED], ids=["serve-default", "base-url"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    return settings.model_copy(update={"base_url": request.param})


@pytest.fixture
def public(runtime: Runtime) -> str:
    return CONFIGURED if runtime.settings.base_url else SERVE_DEFAULT


@pytest.fixture
def attacker(runtime: Runtime, public: str) -> Iterator[TestClient]:
    """Development (no allowed-hosts check), so the forged Host reaches the pages."""
    scheme = "https" if public.startswith("https") else "http"  # Secure cookies need https
    with browser_at(runtime, ATTACKER, scheme) as client:
        yield client


def forgot_password(runtime: Runtime, client: TestClient, clock: FixedClock) -> None:
    make_person(runtime, "alice", email="alice@example.org")
    post_form(client, "/password/forgot", {"email": "alice@example.org"})


def sign_up(runtime: Runtime, client: TestClient, clock: FixedClock) -> None:
    make_org(runtime, "club", signup_open=True)
    data = {"login": "newbie", "email": "newbie@example.org", "password": STRONG_PASSWORD}
    assert post_form(client, "/signup/club", data).status_code == 200  # "check your email"


def change_email(runtime: Runtime, client: TestClient, clock: FixedClock) -> None:
    alice = make_person(runtime, "alice", email="alice@example.org")
    sign_in(client, alice)
    data = {"new_email": "alice.new@example.org", "password": alice.password}
    assert post_form(client, "/account/email", data).status_code == 200


def admin_of_acme(runtime: Runtime, client: TestClient, clock: FixedClock) -> None:
    make_org(runtime, "acme")
    with runtime.db() as db:
        user = users.create_user(
            db,
            runtime,
            login="boss",
            password=STRONG_PASSWORD,
            email="boss@example.org",
            email_verified=True,
            organization_slug="acme",
            role=Role.ADMIN.value,
        )
        db.commit()
        boss = Person(id=user.id, login="boss", password=STRONG_PASSWORD)
        enroll_totp(db, runtime, user, boss)
    clock.advance(30)
    sign_in(client, boss, clock)
    delivered_text(runtime)  # the enrollment notice: not a link under test


def invite(runtime: Runtime, client: TestClient, clock: FixedClock) -> None:
    admin_of_acme(runtime, client, clock)
    data = {"email": "new.person@example.org", "role": "member"}
    assert post_form(client, "/admin/invite?org=acme", data).status_code == 303


def admin_reset(runtime: Runtime, client: TestClient, clock: FixedClock) -> None:
    admin_of_acme(runtime, client, clock)
    with runtime.db() as db:
        user = users.create_user(
            db,
            runtime,
            login="bob",
            password=STRONG_PASSWORD,
            email="bob@example.org",
            email_verified=True,
            organization_slug="acme",
        )
        db.commit()
        enroll_totp(db, runtime, user, Person(id=user.id, login="bob", password=STRONG_PASSWORD))
    delivered_text(runtime)
    reset = f"/admin/members/{user.id}/reset?org=acme"
    assert post_form(client, reset, {"reason": "lost phone"}).status_code == 303


@pytest.mark.parametrize(
    ("send_link", "path"),
    [
        (forgot_password, "/password/reset/"),
        (sign_up, "/email/verify/"),
        (change_email, "/email/verify/"),
        (invite, "/invite/"),
        (admin_reset, "/reenroll/"),
    ],
    ids=["password-reset", "signup-verification", "email-change", "invitation", "admin-reset"],
)
def test_a_link_sent_from_a_request_with_a_forged_host_uses_the_configured_address(
    runtime: Runtime,
    clock: FixedClock,
    attacker: TestClient,
    public: str,
    send_link: Callable[[Runtime, TestClient, FixedClock], None],
    path: str,
) -> None:
    send_link(runtime, attacker, clock)
    sent = delivered_text(runtime)
    assert ATTACKER not in sent
    links = LINK.findall(sent)
    assert any(link.startswith(f"{public}{path}") for link in links), sent
    assert all(link.startswith(f"{public}/") for link in links), links
