"""`twofold check`: what `twofold serve` would refuse or regret, found before a start and
without starting. Each check says ok, warning or error, and what to do; nothing is created,
migrated or written (the key comparison runs in a transaction that is rolled back)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from twofold.core import words
from twofold.core.errors import TwofoldError
from twofold.crypto.key_file import read_key_file
from twofold.crypto.keyring import KeyRing, KeyRingError
from twofold.otp.clock import SystemClock
from twofold.services import webauthn
from twofold.services.crash_points import TEST_HOOK_VARIABLES
from twofold.services.key_state import check_recorded_primary
from twofold.services.runtime import (
    check_key_fingerprints,
    check_public_url,
    make_mailer,
    make_sms_sender,
    redis_url_of,
)
from twofold.settings import Settings
from twofold.store.db import current_heads, make_engine, state_of

REDIS_TIMEOUT_SECONDS = 3.0


class Level(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str
    message: words.Words


def ok(subject: str, message: words.Words) -> Finding:
    return Finding(Level.OK, subject, message)


def warning(subject: str, message: words.Words) -> Finding:
    return Finding(Level.WARNING, subject, message)


def error(subject: str, message: words.Words) -> Finding:
    return Finding(Level.ERROR, subject, message)


def check(settings: Settings) -> list[Finding]:
    """Every check, in the order an operator fixes things."""
    findings = [*_test_hooks(), *_public_url(settings), *_hosts(settings)]
    keys, key_findings = _keys(settings)
    findings += key_findings
    findings += _mail_and_sms(settings)
    findings.append(_workers(settings))
    findings += _database(settings, keys)
    findings += _redis(settings)
    return findings


def _test_hooks() -> list[Finding]:
    return [
        error("test hooks", words.CHECK_TEST_HOOK_SET(variable=name))
        for name in TEST_HOOK_VARIABLES
        if os.environ.get(name)
    ]


def _public_url(settings: Settings) -> list[Finding]:
    try:
        check_public_url(settings)
    except TwofoldError as exc:
        return [error("base URL", exc.detail)]
    if not settings.base_url:
        return [warning("base URL", words.CHECK_BASE_URL_UNSET(url=settings.public_url))]
    if settings.env == "production" and not settings.uses_https:
        return [warning("base URL", words.CHECK_BASE_URL_NOT_HTTPS)]
    return [ok("base URL", words.CHECK_BASE_URL(url=settings.public_url))]


def _hosts(settings: Settings) -> list[Finding]:
    names = settings.allowed_host_names
    if names is not None:
        return [ok("allowed hosts", words.CHECK_HOSTS(hosts=", ".join(sorted(names))))]
    if settings.env == "production":
        return [warning("allowed hosts", words.CHECK_ANY_HOST_IN_PRODUCTION)]
    return [ok("allowed hosts", words.CHECK_ANY_HOST)]


def _keys(settings: Settings) -> tuple[KeyRing | None, list[Finding]]:
    """The key ring as `serve` would load it, but without making the key file."""
    try:
        if settings.secret_keys is not None:
            ring = KeyRing.parse(settings.secret_keys.get_secret_value())
        elif not settings.uses_embedded_database:
            return None, [error("secret keys", words.SHARED_DATABASE_NEEDS_KEYS)]
        elif not settings.key_file.exists():
            path = str(settings.key_file.resolve())
            return None, [ok("secret keys", words.CHECK_KEY_FILE_NEW(path=path))]
        else:
            ring = read_key_file(settings.key_file)
    except KeyRingError as exc:
        return None, [error("secret keys", exc.message)]
    return ring, [ok("secret keys", words.CHECK_KEYS_CONFIGURED(count=len(ring.keys)))]


def _mail_and_sms(settings: Settings) -> list[Finding]:
    findings = []
    try:
        findings.append(ok("email", words.CHECK_EMAIL(how=make_mailer(settings).describe())))
    except TwofoldError as exc:
        findings.append(error("email", exc.detail))
    try:
        how = make_sms_sender(settings).describe()
        findings.append(ok("text messages", words.CHECK_TEXT_MESSAGES(how=how)))
    except TwofoldError as exc:
        findings.append(error("text messages", exc.detail))
    return findings


def _workers(settings: Settings) -> Finding:
    if settings.workers > 1 and settings.uses_embedded_database:
        return error("workers", words.WORKERS_NEED_POSTGRESQL(workers=settings.workers))
    return ok("workers", words.CHECK_WORKERS(workers=settings.workers))


def _database(settings: Settings, keys: KeyRing | None) -> list[Finding]:
    if settings.uses_embedded_database:
        path = settings.data_dir / "twofold.db"
        if not path.exists():  # connecting would make the file
            return [ok("database", words.CHECK_DATABASE_NEW(path=str(path.resolve())))]
    try:
        engine = make_engine(settings.resolved_database_url)
    except (SQLAlchemyError, ValueError) as exc:  # a URL SQLAlchemy cannot read
        return [error("database", words.CHECK_DATABASE_UNREACHABLE(reason=_reason(exc)))]
    try:
        return _database_checks(settings, engine, keys)
    finally:
        engine.dispose()


def _database_checks(settings: Settings, engine: Engine, keys: KeyRing | None) -> list[Finding]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = current_heads(connection)
    except SQLAlchemyError as exc:
        return [error("database", words.CHECK_DATABASE_UNREACHABLE(reason=_reason(exc)))]
    findings = [ok("database", words.CHECK_DATABASE_ANSWERS)]
    state = state_of(current)
    if state == "current":
        findings.append(ok("migrations", words.CHECK_SCHEMA_CURRENT))
    elif state == "unknown_revision":
        revision = ", ".join(sorted(current))
        findings.append(error("migrations", words.CHECK_SCHEMA_NEWER(revision=revision)))
    elif settings.uses_embedded_database:
        findings.append(ok("migrations", words.CHECK_SCHEMA_MIGRATED_AT_START))
    else:
        findings.append(error("migrations", words.SCHEMA_OUT_OF_DATE))
    if state == "current":
        findings += _passkey_rp_ids(settings, engine)
    if keys is not None:
        if state == "current":
            findings.append(_keys_match(engine, keys))
        else:
            findings.append(warning("secret keys", words.CHECK_KEYS_NOT_COMPARED))
    return findings


def _passkey_rp_ids(settings: Settings, engine: Engine) -> list[Finding]:
    """Keys registered for another relying-party id than the configured one cannot answer
    for it any more (decision 0027): changing TWOFOLD_WEBAUTHN_RP_ID orphans them."""
    with Session(engine) as db:
        registered = webauthn.registered_rp_ids(db)
    rp_id = settings.rp_id
    findings = [
        warning(
            "passkeys",
            words.CHECK_PASSKEYS_ORPHANED(n=count, registered=other or "?", rp_id=rp_id),
        )
        for other, count in sorted(registered.items())
        if other != rp_id
    ]
    return findings or [ok("passkeys", words.CHECK_PASSKEYS_RP_ID(rp_id=rp_id))]


def _keys_match(engine: Engine, keys: KeyRing) -> Finding:
    """The start-up comparison itself, rolled back: it records new key ids as it goes."""
    with Session(engine) as db:
        try:
            check_recorded_primary(db, keys)
            check_key_fingerprints(db, keys, SystemClock().now())
        except TwofoldError as exc:
            return error("secret keys", exc.detail)
        finally:
            db.rollback()
    return ok("secret keys", words.CHECK_KEYS_MATCH)


def _redis(settings: Settings) -> list[Finding]:
    try:
        url = redis_url_of(settings)
    except TwofoldError as exc:  # malformed: the message never repeats the URL
        return [error("redis", exc.detail)]
    if url is None:
        return []
    import redis

    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError, OSError) as exc:
        return [error("redis", words.CHECK_REDIS_UNREACHABLE(reason=_reason(exc)))]
    return [ok("redis", words.CHECK_REDIS_ANSWERS)]


def _reason(exc: BaseException) -> str:
    """The cause's first line, short; never the URL (it may hold a password)."""
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first[:200]}" if first else type(cause).__name__
