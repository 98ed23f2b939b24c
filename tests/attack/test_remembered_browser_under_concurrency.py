"""A remembered browser's cookie, stolen: the owner and the thief sign in with the password
and the same remember cookie at the same moment, through two server processes sharing one
database (SQLite file and PostgreSQL). One conditional UPDATE on the old digest decides:
exactly one of them skips the code; the other is asked for it, and its copy is worth nothing
afterwards (decision 0028)."""

from __future__ import annotations

import json
from functools import partial

import pytest
from sqlalchemy import select, update

from attack.servers import Answer, Browser, describe, serve_many, until_answered
from support import Person, make_person
from twofold.core.audit_events import AuditEventType
from twofold.services.runtime import Runtime
from twofold.settings import Settings
from twofold.store.models import AuditEvent, Organization

pytestmark = pytest.mark.attack

COOKIE = "twofold_remember"
ROUNDS = 3


@pytest.fixture
def owner(live_runtime: Runtime) -> Person:
    with live_runtime.db() as db:
        db.execute(
            update(Organization).where(Organization.slug == "default").values(remember_days=7)
        )
        db.commit()
    return make_person(live_runtime, "remy", with_totp=True)


def remember_this_browser(base_url: str, person: Person) -> str:
    """Password, then a recovery code (no waiting for a fresh TOTP step) with the box
    ticked: the remember cookie."""
    assert person.recovery_codes
    browser = Browser()
    form = {"login": person.login, "password": person.password}
    form["csrf_token"] = browser.csrf(base_url, "/login")
    assert browser.request(base_url, "POST", "/login", form).headers["location"] == "/login/code"
    code = {"code": person.recovery_codes.pop(), "remember": "1"}
    code["csrf_token"] = browser.csrf(base_url, "/login/recovery")
    done = browser.request(base_url, "POST", "/login/recovery", code)
    assert done.status == 303, done.body
    assert done.headers["location"] == "/account/security"
    return browser.cookies[COOKIE]


def password_with(base_url: str, person: Person, cookie: str) -> Answer:
    """A browser holding a copy of the remember cookie signs in with the password."""
    browser = Browser()
    browser.cookies[COOKIE] = cookie
    form = {"login": person.login, "password": person.password}
    form["csrf_token"] = browser.csrf(base_url, "/login")
    return browser.request(base_url, "POST", "/login", form)


def used(runtime: Runtime) -> int:
    with runtime.db() as db:
        rows = db.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.event == AuditEventType.REMEMBERED_BROWSER_USED.value
            )
        )
        return len([json.loads(detail) for detail in rows])


def test_one_remember_cookie_used_twice_at_once_through_two_servers_skips_the_code_once(
    live_runtime: Runtime, settings: Settings, database_url: str, owner: Person
) -> None:
    with serve_many(2, settings.data_dir, database_url) as servers:
        urls = [s.base_url for s in servers]
        for round_ in range(ROUNDS):
            cookie = remember_this_browser(urls[round_ % 2], owner)
            results = until_answered([partial(password_with, url, owner, cookie) for url in urls])
            assert all(a.status == 303 for a in results), describe(results)
            places = sorted(a.headers["location"] for a in results)
            assert places == ["/account/security", "/login/code"], places
            # The copy is worth nothing now, on either server.
            for url in urls:
                again = password_with(url, owner, cookie)
                assert again.headers["location"] == "/login/code"
    assert used(live_runtime) == ROUNDS
