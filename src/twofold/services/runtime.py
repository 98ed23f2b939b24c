"""What every use case needs, built once at start-up from Settings (never a global)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from twofold.core import words
from twofold.core.errors import ConfigurationError, KeysMismatch
from twofold.crypto.key_file import load_or_create_key_file
from twofold.crypto.keyring import KeyRing, KeyRingError
from twofold.crypto.passwords import PasswordHasher, PasswordHashingParams
from twofold.notify.mailer import Mailer, OutboxMailer, SmtpMailer
from twofold.notify.sms import OutboxSms, SmsSender, TwilioSms, WebhookSms
from twofold.otp.clock import Clock, SystemClock
from twofold.services.key_state import (
    LiveKeyRing,
    RecordedState,
    check_recorded_primary,
    record_primary_if_missing,
)
from twofold.services.rate_limits import RequestLimits
from twofold.settings import Settings
from twofold.store.db import (
    insert_unless_present,
    make_engine,
    make_session_factory,
    migrate,
    pending_migrations,
    read_only,
)
from twofold.store.models import KeyFingerprint, Organization


@dataclass
class ClientInfo:
    """Who is on the other end of a request, for the audit log and throttling."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    keys: LiveKeyRing
    hasher: PasswordHasher
    engine: Engine
    session_factory: sessionmaker[Session]
    mailer: Mailer
    sms: SmsSender
    request_limits: RequestLimits
    read_session_factory: sessionmaker[Session] | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def db(self) -> Session:
        """A session for a unit of work that may write (on SQLite: queued behind the writer)."""
        return self.session_factory()

    def read_db(self) -> Session:
        """A session that only reads: on SQLite it never waits for a writer."""
        factory = self.read_session_factory or self.session_factory
        return factory()

    def public_url(self) -> str:
        """Base of every absolute link: from configuration only, never from a request."""
        return self.settings.public_url


def load_keys(settings: Settings) -> KeyRing:
    """TWOFOLD_SECRET_KEYS wins; on the embedded default a key file is made on first start."""
    try:
        if settings.secret_keys is not None:
            return KeyRing.parse(settings.secret_keys.get_secret_value())
        if not settings.uses_embedded_database:
            raise ConfigurationError(words.SHARED_DATABASE_NEEDS_KEYS)
        ring, _created = load_or_create_key_file(settings.key_file)
        return ring
    except KeyRingError as exc:
        raise ConfigurationError(exc.message) from exc


def key_file_of(settings: Settings) -> Path | None:
    """The key file servers re-read while running, or None when keys come from the env."""
    if settings.secret_keys is None and settings.uses_embedded_database:
        return settings.key_file
    return None


def check_public_url(settings: Settings) -> None:
    """Links in emails carry one-time tokens, so their base must be a plain http(s) URL that
    the operator chose; production must name it (see docs/deploy.md)."""
    if not settings.base_url:
        if settings.env == "production":
            raise ConfigurationError(words.PRODUCTION_NEEDS_BASE_URL)
        return
    parts = urlsplit(settings.base_url.strip())
    try:
        valid = (
            parts.scheme.lower() in {"http", "https"}
            and bool(parts.hostname)
            and parts.username is None
            and not parts.query
            and not parts.fragment
            and parts.port != 0
        )
    except ValueError:  # a port that is not a number in 1-65535
        valid = False
    if not valid:
        raise ConfigurationError(words.BASE_URL_SHAPE(given=repr(settings.base_url)))


def redis_url_of(settings: Settings) -> str | None:
    """TWOFOLD_REDIS_URL, checked now so that a mistyped one stops the start (the message
    never repeats it: it may hold a password); None when unset."""
    if settings.redis_url is None or not settings.redis_url.get_secret_value().strip():
        return None
    url = settings.redis_url.get_secret_value().strip()
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("unix", "redis+unix"):
            valid = bool(parts.path)
        else:
            valid = scheme in ("redis", "rediss") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number in 1-65535
        valid = False
    if not valid:
        raise ConfigurationError(words.REDIS_URL_SHAPE)
    return url


def make_request_limits(settings: Settings, clock: Clock) -> RequestLimits:
    return RequestLimits(
        clock=clock,
        per_address=settings.ip_rate,
        per_client=settings.client_rate,
        redis_url=redis_url_of(settings),
        key_prefix=settings.redis_key_prefix,
    )


def make_mailer(settings: Settings) -> Mailer:
    """SMTP when configured; in development an outbox directory of .eml files."""
    if settings.smtp_host:
        return SmtpMailer(
            host=settings.smtp_host,
            port=settings.resolved_smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        )
    if settings.env == "production":
        raise ConfigurationError(words.PRODUCTION_NEEDS_SMTP)
    return OutboxMailer(settings.outbox_dir)


WEBHOOK_SECRET_MIN_CHARS = 16


def make_sms_sender(settings: Settings, clock: Clock | None = None) -> SmsSender:
    """The provider TWOFOLD_SMS_PROVIDER names, with its settings checked now, so that a
    missing one stops the start rather than a sign-in."""
    timeout = settings.sms_timeout_seconds
    if settings.sms_provider == "twilio":
        sid = _required(settings.twilio_account_sid, "twilio", "TWOFOLD_TWILIO_ACCOUNT_SID")
        token = _required_secret(settings.twilio_auth_token, "twilio", "TWOFOLD_TWILIO_AUTH_TOKEN")
        sender = _required(settings.twilio_from, "twilio", "TWOFOLD_TWILIO_FROM")
        return TwilioSms(account_sid=sid, auth_token=token, from_=sender, timeout=timeout)
    if settings.sms_provider == "webhook":
        url = _required(settings.sms_webhook_url, "webhook", "TWOFOLD_SMS_WEBHOOK_URL")
        secret = _required_secret(
            settings.sms_webhook_secret, "webhook", "TWOFOLD_SMS_WEBHOOK_SECRET"
        )
        if not _is_http_url(url):
            raise ConfigurationError(words.SMS_WEBHOOK_URL_SHAPE)
        if len(secret) < WEBHOOK_SECRET_MIN_CHARS:
            raise ConfigurationError(
                words.SMS_WEBHOOK_SECRET_TOO_SHORT(min=WEBHOOK_SECRET_MIN_CHARS)
            )
        return WebhookSms(url=url, secret=secret, timeout=timeout, clock=clock or SystemClock())
    return OutboxSms(settings.sms_outbox_dir, print_to_console=settings.env == "development")


def outbox_refused_in_production(settings: Settings) -> bool:
    """True when production would write text messages to the development outbox. To be
    called at start when an organization allows SMS, which then refuses to start with
    words.PRODUCTION_REFUSES_SMS_OUTBOX."""
    return settings.env == "production" and settings.sms_provider == "outbox"


def check_sms_provider(db: Session, settings: Settings) -> None:
    """Refuse to start in production with the development outbox while an organization
    allows SMS: codes would go to a file instead of to people."""
    if not outbox_refused_in_production(settings):
        return
    allowing = db.scalar(
        select(Organization.id).where(Organization.allowed_methods.like("%sms%")).limit(1)
    )
    if allowing is not None:
        raise ConfigurationError(words.PRODUCTION_REFUSES_SMS_OUTBOX)


def _required(value: str | None, provider: str, variable: str) -> str:
    if value is None or not value.strip():
        raise ConfigurationError(words.SMS_SETTING_MISSING(provider=provider, variable=variable))
    return value.strip()


def _required_secret(value: SecretStr | None, provider: str, variable: str) -> str:
    return _required(value.get_secret_value() if value else None, provider, variable)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return (
            parts.scheme.lower() in {"http", "https"} and bool(parts.hostname) and (parts.port != 0)
        )
    except ValueError:  # a port that is not a number in 1-65535
        return False


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    hashing: PasswordHashingParams | None = None,
    apply_migrations: bool | None = None,
    mailer: Mailer | None = None,
    engine: Engine | None = None,
    sms: SmsSender | None = None,
) -> Runtime:
    """Connect, migrate (by default only the embedded database), and check the keys.

    `engine`: one the caller made with make_engine for settings' database and already
    migrated; it is used as it is (neither migrated nor checked), so that its compiled
    statements serve many runtimes (the test suite builds one runtime per test)."""
    check_public_url(settings)
    redis_url_of(settings)
    mailer = mailer or make_mailer(settings)
    if settings.uses_embedded_database:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    keys = load_keys(settings)
    given_engine = engine is not None
    engine = engine or make_engine(settings.resolved_database_url)
    try:
        if apply_migrations is None:
            apply_migrations = settings.uses_embedded_database and not given_engine
        if apply_migrations:
            migrate(engine)
        elif not given_engine and pending_migrations(engine):
            raise ConfigurationError(words.SCHEMA_OUT_OF_DATE)
        params = hashing or PasswordHashingParams(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        clock = clock or SystemClock()
        runtime = Runtime(
            settings=settings,
            clock=clock,
            keys=LiveKeyRing(keys, engine=engine, clock=clock, key_file=key_file_of(settings)),
            hasher=PasswordHasher(params),
            engine=engine,
            session_factory=make_session_factory(engine),
            mailer=mailer,
            sms=sms or make_sms_sender(settings, clock),
            request_limits=make_request_limits(settings, clock),
            read_session_factory=make_session_factory(read_only(engine)),
        )
        with runtime.db() as db:
            now = runtime.now()
            recorded = check_recorded_primary(db, keys)
            retired = check_key_fingerprints(db, keys, now)
            primary = record_primary_if_missing(db, keys, now, recorded)
            check_sms_provider(db, settings)
            db.commit()
        runtime.keys.adopt(RecordedState(primary_kid=primary, retired=retired), now)
    except BaseException:
        if not given_engine:
            engine.dispose()  # a refused start must not leave pooled connections open
        raise
    return runtime


def check_key_fingerprints(db: Session, keys: KeyRing, now: datetime) -> frozenset[str]:
    """Refuse keys that differ from those the data was sealed with; record new key ids.
    Returns the retired key ids."""
    rows = list(db.scalars(select(KeyFingerprint)))
    stored = {row.kid: row.fingerprint for row in rows}
    retired = {row.kid for row in rows if row.retired_at is not None}  # may leave the ring
    current = keys.fingerprints()
    for kid, fingerprint in stored.items():
        if kid not in current and kid not in retired:
            raise KeysMismatch(words.UNKNOWN_SEALING_KEY(kid=kid))
        if kid in current and current[kid] != fingerprint:
            raise KeysMismatch(words.KEY_FINGERPRINT_DIFFERS(kid=kid))
    for kid, fingerprint in current.items():
        if kid in stored:
            continue
        values = {"kid": kid, "fingerprint": fingerprint, "created_at": now}
        if not insert_unless_present(db, KeyFingerprint, values):
            # another process starting just now recorded this kid first
            theirs = db.scalar(select(KeyFingerprint.fingerprint).where(KeyFingerprint.kid == kid))
            if theirs != fingerprint:
                raise KeysMismatch(words.KEY_RECORDED_CONCURRENTLY(kid=kid)) from None
    return frozenset(retired)
