"""The tables. The schema itself is created by the Alembic migrations in migrations/."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: the same on SQLite (no time zones) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    two_factor_policy: Mapped[str] = mapped_column(String(16), default="optional")
    # When `required` was last switched on; members who joined before it get the grace days.
    required_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    grace_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    signup_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The second factors its members may use, comma-separated in the order totp,sms
    # (core.policy.parse_methods); totp is always among them (decision 0021).
    allowed_methods: Mapped[str] = mapped_column(String(32), default="totp", server_default="totp")
    # When SMS stopped being allowed: members whose only method is SMS keep it for the
    # organization's grace days from then.
    methods_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Passkeys and security keys (decision 0027): off | second-factor | passwordless.
    passkeys: Mapped[str] = mapped_column(
        String(16), default="second-factor", server_default="second-factor"
    )
    # Whether members must use a phishing-resistant method (WebAuthn): off | admins | all,
    # and since when (members then get the organization's grace days to add one).
    phishing_resistant: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
    phishing_resistant_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "Don't ask for a code on this browser for N days" (decision 0028): 0 = off, at most 30.
    remember_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_hash: Mapped[str] = mapped_column(String(255))
    is_superadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Consecutive wrong second-factor codes; only a successful second factor resets it.
    failed_code_count: Mapped[int] = mapped_column(Integer, default=0)
    code_locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Consecutive wrong codes sent through organization API keys: they count toward the hard
    # stop (with failed_code_count) but never toward the pages' timed locks (decision 0017).
    key_failed_code_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when an admin resets 2FA: from then on only the emailed link may enroll a new
    # authenticator (a stolen password alone must not), until that is done.
    two_factor_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the password changed, 2FA was reset or turned off, or every session was signed
    # out: an OpenID Connect refresh token from a sign-in before this is refused.
    credentials_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The OpenID Connect `sub`: random and stable, never the login or a database id. Given
    # at the first token (users.subject_of).
    oidc_subject: Mapped[str | None] = mapped_column(String(43), unique=True)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship()


DEFAULT_AUTHENTICATOR_NAME = "Authenticator app"
DEFAULT_SMS_NAME = "Text messages"


class Authenticator(Base):
    """A second factor. kind "totp": the TOTP secret is sealed (AES-GCM); kind "sms": the
    phone number in E.164 is sealed instead (decision 0021). `secret_kid` names the key."""

    __tablename__ = "authenticators"
    # "Has a confirmed authenticator" (the admin table's 2FA filter, sort and adoption) is
    # answered from this index alone; it also serves every lookup by user_id.
    __table_args__ = (Index("ix_authenticators_user_id_confirmed_at", "user_id", "confirmed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="totp")
    # The person's own name for it ("Work phone"), shown to them and to their admins.
    name: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_AUTHENTICATOR_NAME, server_default=DEFAULT_AUTHENTICATOR_NAME
    )
    secret_kid: Mapped[str] = mapped_column(String(32))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    algorithm: Mapped[str] = mapped_column(String(8), default="SHA1")
    digits: Mapped[int] = mapped_column(Integer, default=6)
    period: Mapped[int] = mapped_column(Integer, default=30)
    # RFC 6238 §5.2: a step at or before this one is refused (consumed by a conditional UPDATE).
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RecoveryCode(Base):
    """Only an HMAC of (user id, normalised code) under a server subkey is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(String(32))
    code_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebAuthnCredential(Base):
    """A security key or passkey (decision 0027): only its public key is kept. `sign_count`
    is the last counter the authenticator reported; a lower one (a cloned key) is refused."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The person's own name for it ("YubiKey 5", "This laptop").
    name: Mapped[str] = mapped_column(String(64))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[str] = mapped_column(String(200), default="", server_default="")  # a,b
    aaguid: Mapped[str] = mapped_column(String(36), default="", server_default="")
    # Backup eligible: a synced passkey (amr "swk"); otherwise bound to the device ("hwk").
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    # A discoverable (resident) credential that verified its user: usable without a password.
    discoverable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The relying-party id it was registered for: a key answers only for that id, so
    # `twofold check` tells when TWOFOLD_WEBAUTHN_RP_ID no longer matches (migration 0017).
    rp_id: Mapped[str] = mapped_column(String(253), default="", server_default="")


class WebAuthnChallenge(Base):
    """A WebAuthn challenge, kept only as its SHA-256: single use (`used_at`, set by one
    conditional UPDATE), 5 minutes, and bound to the session that asked for it or, before a
    session exists (passwordless sign-in), to the digest of a random cookie (`binding_digest`)."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # register | second_factor | passwordless
    challenge_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    binding_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RememberedBrowser(Base):
    """A browser whose person ticked "don't ask for a code on this browser" (decision 0028).
    Its cookie holds a random token, kept here only as its SHA-256 and replaced on each use.
    `remembered_at` is the second factor it stands for: it counts for the entered
    organization's remember_days from then (read at each use), and never past `expires_at`."""

    __tablename__ = "remembered_browsers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    remembered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class AuthSession(Base):
    """Server-side session; the cookie carries only a random token whose SHA-256 is stored."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(24))  # password_verified | authenticated
    # browser (cookie) | api (bearer token from the API sign-in); see core.sessions.SessionKind
    kind: Mapped[str] = mapped_column(String(16), default="browser", server_default="browser")
    amr: Mapped[str] = mapped_column(String(64), default="pwd")  # space-separated methods
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    # Organization ids (space-separated) this session passed the second factor for.
    verified_organizations: Mapped[str] = mapped_column(String(400), default="", server_default="")
    # When this session last passed a second factor (admins are asked again after a while).
    second_factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class AuditEvent(Base):
    """Append-only: written in the same transaction as the change it records."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_user_time", "user_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=False
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON, never a secret


class Throttle(Base):
    """Counts password failures per key ('login:<digest>', 'ip:<address>') for growing delays."""

    __tablename__ = "throttles"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OneTimeToken(Base):
    """Links sent or printed to people (setup, later reset and invitation); stored hashed."""

    __tablename__ = "one_time_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # What the link is about, e.g. the address being verified; never a secret.
    payload: Mapped[str | None] = mapped_column(String(254))
    # Invitations: the organization and role the person joins.
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    role: Mapped[str | None] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KeyFingerprint(Base):
    """Fingerprints of the key ring the data was sealed with: wrong keys fail loudly at start."""

    __tablename__ = "key_fingerprints"

    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set by `twofold keys retire`: nothing is sealed with it any more; it may leave the ring.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KeyPrimary(Base):
    """The one key id new values are sealed with (one row). Running servers re-read it, so
    `twofold keys promote` takes effect everywhere without a restart."""

    __tablename__ = "key_primary"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kid: Mapped[str] = mapped_column(ForeignKey("key_fingerprints.kid"))
    promoted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutgoingEmail(Base):
    """The mail queue: written in the same transaction as the event, sent by a background
    worker with retries. The content (which may hold a link) is sealed, and wiped once sent."""

    __tablename__ = "outgoing_emails"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48))
    recipient: Mapped[str] = mapped_column(String(254))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    content_kid: Mapped[str | None] = mapped_column(String(32))
    content_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))


# --- OpenID Connect provider (decision 0014) -------------------------------------------------


class OidcSigningKey(Base):
    """A key that signs ID tokens. The private half is sealed with the key ring; the public
    half is published in the JWKS from `created_at` (so clients learn it before it signs)
    until `unpublish_at`, and it signs from `activates_at` until a newer key of its
    algorithm activates."""

    __tablename__ = "oidc_signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(8))  # RS256 | ES256
    public_jwk: Mapped[str] = mapped_column(Text)  # JSON, public members only
    private_kid: Mapped[str] = mapped_column(String(32))  # key-ring key id of the sealing
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)  # sealed PEM (PKCS#8)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activates_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set when a successor is scheduled: the successor's activation + the longest lifetime of
    # a token this key may have signed. Null: published for as long as it is the newest.
    unpublish_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcClient(Base):
    """An application that signs its people in through Twofold. It belongs to one
    organization; a confidential client's secret is kept only as its SHA-256."""

    __tablename__ = "oidc_clients"
    # One active application of a name per organization, any case (migration 0011).
    __table_args__ = (
        Index(
            "uq_oidc_clients_active_name",
            "organization_id",
            text("lower(name)"),
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    secret_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))  # None: public client
    require_two_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    redirect_uris: Mapped[str] = mapped_column(Text)  # JSON list, matched exactly
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    # How its ID tokens are signed (RS256 or ES256), as it registered (OIDC Registration §2).
    id_token_signed_response_alg: Mapped[str] = mapped_column(
        String(8), default="RS256", server_default="RS256"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_public(self) -> bool:
        return self.secret_digest is None


class OidcGrant(Base):
    """One sign-in of a person to a client: what the tokens it issued may claim (amr, acr,
    auth_time) and when they all stop (revoked_at, or expires_at: 30 days after the sign-in
    at most). Every code, access token and refresh token hangs off one grant, so revoking it
    (a replayed code, a reused refresh token, "revoke" on the security page) ends them all."""

    __tablename__ = "oidc_grants"
    __table_args__ = (Index("ix_oidc_grants_user_id_client_id", "user_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oidc_clients.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The Twofold session it came from; signing out of that session revokes the grant.
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="SET NULL"), index=True
    )
    scope: Mapped[str] = mapped_column(String(200))
    amr: Mapped[str] = mapped_column(String(64))  # space-separated RFC 8176 values
    acr: Mapped[str] = mapped_column(String(64))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class OidcAuthorizationCode(Base):
    """A single-use authorization code (60 s), stored as its SHA-256."""

    __tablename__ = "oidc_authorization_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    grant_id: Mapped[int] = mapped_column(
        ForeignKey("oidc_grants.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OidcToken(Base):
    """An access token or refresh token (kind), stored as its SHA-256. A refresh token is
    used once (`used_at`); presenting a used one revokes its whole grant."""

    __tablename__ = "oidc_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    grant_id: Mapped[int] = mapped_column(
        ForeignKey("oidc_grants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))  # access | refresh
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiKey(Base):
    """An organization's key for the verify endpoint, kept only as its SHA-256. Its
    requests_per_minute are counted by services/rate_limits.py (decision 0023)."""

    __tablename__ = "api_keys"
    # One active key of a name per organization, any case (migration 0011).
    __table_args__ = (
        Index(
            "uq_api_keys_active_name",
            "organization_id",
            text("lower(name)"),
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    key_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    requests_per_minute: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    # The request window of before decision 0023, no longer read or written: kept so that
    # processes of the previous version, still running during a rolling upgrade, work.
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    window_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiKeyCodeFailures(Base):
    """Wrong codes sent through one key for one person, in a row; at the limit the key
    answers no more for that person until they next pass their second factor."""

    __tablename__ = "api_key_code_failures"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    failed_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SmsChallenge(Base):
    """One code sent by text message, kept only as a keyed digest (key id beside it). It is
    good for one use, until `expires_at`, and for MAX wrong tries; a sign-in code is bound to
    the session that asked for it, an API one to its transaction id and its API key."""

    __tablename__ = "sms_challenges"
    __table_args__ = (Index("ix_sms_challenges_user_id_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    authenticator_id: Mapped[int] = mapped_column(
        ForeignKey("authenticators.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))  # sign_in | enroll | api | change
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    # An API challenge (purpose 'api'): the SHA-256 of its transaction id (base64url, never
    # the id itself) and the API key that asked for it, the only one that may answer it.
    transaction_id: Mapped[str | None] = mapped_column(String(43), unique=True)
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    code_kid: Mapped[str] = mapped_column(String(32))
    code_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    wrong_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SmsRateWindow(Base):
    """A fixed one-hour window of texts sent per key ('account:<id>', 'ip:<address>',
    'global'), counted by one conditional UPDATE so that every process shares the limit."""

    __tablename__ = "sms_rate_windows"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Lease(Base):
    """Which process of a deployment does a share of the background work (the mail queue,
    housekeeping) until `expires_at`: taken and renewed by one conditional upsert, released
    on shutdown, taken over once expired (services/leases.py)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
