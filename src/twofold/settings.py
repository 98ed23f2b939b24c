"""Configuration from TWOFOLD_* environment variables, built once by create_app or the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from twofold.core import words
from twofold.core.client_ip import (
    EVERY_ADDRESS,
    LOOPBACK,
    TrustedProxies,
    parse_trusted_proxies,
)
from twofold.core.rate_limits import Rate, parse_rate
from twofold.core.redirects import AllowedHost, parse_allowed_hosts
from twofold.core.webauthn import rp_id_fits
from twofold.core.words import Words
from twofold.notify.phones import parse_allowed_countries


class Settings(BaseSettings):
    """Every knob an operator can turn; see docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="TWOFOLD_", extra="ignore")

    env: Literal["development", "production"] = Field(
        default="development",
        description="production refuses to start without SMTP (and other unsafe defaults).",
    )
    data_dir: Path = Path("var")
    database_url: str | None = None
    secret_keys: SecretStr | None = Field(
        default=None,
        description="Key ring 'kid:base64key,...' (first is primary); required off SQLite.",
    )
    issuer: str = "Twofold"
    base_url: str | None = Field(
        default=None,
        description="Public URL: the only base of every absolute link Twofold writes "
        "(emails, printed links); in development defaults to the address `serve` prints.",
    )
    webauthn_rp_id: str | None = Field(
        default=None,
        description="Relying-party id of security keys and passkeys (default: the base URL's "
        "host; may be a parent domain of it). Changing it orphans every key registered.",
    )
    allowed_hosts: str | None = Field(
        default=None,
        description="Comma-separated Host names answered (default in production: the base "
        "URL's host); '*' answers any.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    password_session_minutes: int = Field(default=10, ge=1, le=60)
    trusted_proxies: str | None = Field(
        default=None,
        description="Addresses and CIDR networks of the reverse proxies (commas or spaces, "
        "IPv4 and IPv6): only a connection from one of them may name the client in "
        "X-Forwarded-For (read from the right, skipping these). Unset: no proxy is trusted.",
    )
    trust_proxy_headers: bool = Field(
        default=False,
        description="Deprecated: use TWOFOLD_TRUSTED_PROXIES. True (with TRUSTED_PROXIES "
        "unset) trusts uvicorn's FORWARDED_ALLOW_IPS, by default 127.0.0.1 and ::1.",
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        validation_alias="FORWARDED_ALLOW_IPS",
        description="uvicorn's variable, read only for the deprecated "
        "TWOFOLD_TRUST_PROXY_HEADERS=true ('*': every address).",
    )
    allowed_redirect_hosts: str | None = Field(
        default=None,
        description="Comma-separated host[:port] a sign-in may return to (`rd`, forward-auth): "
        "https only, or http for an entry written as http://host[:port]; no wildcards.",
    )
    cookie_domain: str | None = Field(
        default=None,
        description="Domain for a second cookie that carries the sign-in to sibling "
        "subdomains, accepted only by /auth/forward; the console's cookie stays host-only.",
    )
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "Twofold <no-reply@localhost>"
    mail_poll_seconds: float = Field(default=2.0, gt=0, le=300)
    sms_provider: Literal["outbox", "twilio", "webhook"] = Field(
        default="outbox",
        description="Who sends text messages: outbox (files in <data dir>/outbox/sms/, "
        "development), twilio, or webhook (a signed JSON POST to any gateway); docs/sms.md.",
    )
    twilio_account_sid: str | None = Field(
        default=None, description="Twilio Account SID (AC...), for TWOFOLD_SMS_PROVIDER=twilio."
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, description="Twilio Auth Token (or an API key secret), never logged."
    )
    twilio_from: str | None = Field(
        default=None, description="The sending number in E.164 form (+15551234567)."
    )
    sms_webhook_url: str | None = Field(
        default=None,
        description="The gateway's http(s) URL, for TWOFOLD_SMS_PROVIDER=webhook.",
    )
    sms_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret the webhook requests are signed with (HMAC-SHA-256).",
    )
    sms_timeout_seconds: float = Field(
        default=10,
        gt=0,
        le=60,
        description="The longest one text message may take to hand over to the provider.",
    )
    sms_allowed_countries: str = Field(
        default="",
        description="ISO 3166 codes (commas) of the countries whose phone numbers may receive "
        "sign-in codes, e.g. 'GB,IE,DE'. Empty: SMS cannot be enabled anywhere. Numbers "
        "without a + are read as the first one's.",
    )
    sms_per_ip_per_hour: int = Field(
        default=10, ge=1, le=100_000, description="Text messages one client address may ask for."
    )
    sms_global_per_hour: int = Field(
        default=200,
        ge=1,
        le=10_000_000,
        description="Text messages the whole service sends at most per hour (toll-fraud cap).",
    )
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    purge_interval_seconds: float = Field(
        default=900, gt=0, le=86400, description="How often expired rows are purged."
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Server processes `twofold serve` runs (or --workers); more than one "
        "needs PostgreSQL (docs/deploy.md, Processes and workers).",
    )
    shutdown_grace_seconds: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="On SIGTERM, how long requests in flight may take to finish before they "
        "are cancelled.",
    )
    log_format: Literal["json", "text"] | None = Field(
        default=None,
        description="json (one JSON object a line, with the request id) or text; default: "
        "json in production, text in development.",
    )
    metrics_allowed: str | None = Field(
        default=None,
        description="Addresses and CIDR networks (commas or spaces) that may read /metrics, "
        "besides loopback. The client address is the one TWOFOLD_TRUSTED_PROXIES decides.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="A bearer token that may read /metrics from any address "
        "(`Authorization: Bearer ...`), at least 16 characters.",
    )
    metrics_dir: Path | None = Field(
        default=None,
        description="prometheus-client's multiprocess directory, emptied by `serve` at each "
        "start; default: <data dir>/metrics.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis for the request-rate limits, shared by every process "
        "(redis://[:password@]host:port/db, rediss://, unix:///path). Unset: each process "
        "counts on its own. See docs/deploy.md, 'Redis and request-rate limits'.",
    )
    redis_key_prefix: str = Field(
        default="twofold",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="Prefix of this deployment's keys in Redis (several may share one).",
    )
    rate_limit_per_ip: str = Field(
        default="300/minute",
        description="Requests one client address may send (e.g. 300/minute; 0 or off: no "
        "limit). Static files, /healthz, /readyz, /metrics and /auth/forward are not counted.",
    )
    rate_limit_per_client: str = Field(
        default="600/minute",
        description="Token requests one OpenID Connect client may send (0 or off: no limit).",
    )

    @property
    def public_url(self) -> str:
        """The one source of absolute URLs: TWOFOLD_BASE_URL, else the address `serve` prints
        (never the request's Host header)."""
        if self.base_url:
            return self.base_url.strip().rstrip("/")
        host = self.host.strip("[]")
        shown = "localhost" if host in LOOPBACK_OR_ANY else f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    @property
    def rp_id(self) -> str:
        """The WebAuthn relying-party id: TWOFOLD_WEBAUTHN_RP_ID, else the base URL's host."""
        if self.webauthn_rp_id and self.webauthn_rp_id.strip():
            return self.webauthn_rp_id.strip().lower().rstrip(".")
        return host_name(urlsplit(self.public_url).netloc)

    @property
    def webauthn_origin(self) -> str:
        """The origin every WebAuthn response must come from: the base URL's scheme and
        host (and port), never the request's Host header."""
        parts = urlsplit(self.public_url)
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"

    @property
    def uses_https(self) -> bool:
        """Decided by the configured public URL, not by the scheme a request arrived with."""
        return urlsplit(self.public_url).scheme.lower() == "https"

    @property
    def allowed_host_names(self) -> frozenset[str] | None:
        """Host names requests may be addressed to; None accepts any. Production defaults to
        the base URL's host; development checks only when TWOFOLD_ALLOWED_HOSTS is set."""
        if self.allowed_hosts is not None and self.allowed_hosts.strip():
            names = frozenset(
                host_name(name) for name in self.allowed_hosts.split(",") if name.strip()
            )
            return None if "*" in names else names
        if self.env == "production":
            return frozenset({host_name(urlsplit(self.public_url).netloc)})
        return None

    @field_validator("allowed_redirect_hosts")
    @classmethod
    def _check_redirect_hosts(cls, value: str | None) -> str | None:
        parse_allowed_hosts(value)  # a mistyped entry stops the start, not a later sign-in
        return value

    @field_validator("sms_allowed_countries")
    @classmethod
    def _check_sms_countries(cls, value: str) -> str:
        try:
            parse_allowed_countries(value)  # a mistyped code stops the start
        except ValueError as exc:
            raise ValueError(f"TWOFOLD_SMS_ALLOWED_COUNTRIES: {exc}") from None
        return value

    @property
    def sms_countries(self) -> tuple[str, ...]:
        """The countries SMS codes may go to, upper case; empty: SMS is off everywhere."""
        return parse_allowed_countries(self.sms_allowed_countries)

    @field_validator("rate_limit_per_ip", "rate_limit_per_client")
    @classmethod
    def _check_rate(cls, value: str, info: ValidationInfo) -> str:
        try:
            parse_rate(value)  # a mistyped rate stops the start
        except ValueError as exc:
            raise ValueError(f"TWOFOLD_{str(info.field_name).upper()}: {exc}") from None
        return value

    @property
    def ip_rate(self) -> Rate | None:
        return parse_rate(self.rate_limit_per_ip)

    @property
    def client_rate(self) -> Rate | None:
        return parse_rate(self.rate_limit_per_client)

    @field_validator("cookie_domain")
    @classmethod
    def _check_cookie_domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        domain = value.strip().lower().lstrip(".")
        if "." not in domain or not all(c.isalnum() or c in "-." for c in domain):
            raise ValueError("TWOFOLD_COOKIE_DOMAIN must be a domain such as example.com")
        return domain

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str | None) -> str | None:
        try:
            parse_trusted_proxies(value)  # a mistyped entry stops the start
        except ValueError as exc:
            raise ValueError(f"TWOFOLD_TRUSTED_PROXIES: {exc}") from None
        return value

    @field_validator("metrics_allowed")
    @classmethod
    def _check_metrics_allowed(cls, value: str | None) -> str | None:
        try:
            parse_trusted_proxies(value)  # a mistyped entry stops the start
        except ValueError as exc:
            raise ValueError(f"TWOFOLD_METRICS_ALLOWED: {exc}") from None
        return value

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        token = value.get_secret_value().strip()
        if len(token) < METRICS_TOKEN_MIN or not token.isascii() or not token.isprintable():
            raise ValueError(
                f"TWOFOLD_METRICS_TOKEN must be at least {METRICS_TOKEN_MIN} printable ASCII "
                "characters (try: openssl rand -hex 32)"
            )
        return SecretStr(token)

    @property
    def metrics_networks(self) -> TrustedProxies:
        """Who may read /metrics besides loopback and holders of the token."""
        return parse_trusted_proxies(self.metrics_allowed)

    @property
    def resolved_log_format(self) -> Literal["json", "text"]:
        """JSON for a log collector in production, text for a person at a terminal."""
        if self.log_format is not None:
            return self.log_format
        return "json" if self.env == "production" else "text"

    @property
    def resolved_metrics_dir(self) -> Path:
        return self.metrics_dir if self.metrics_dir is not None else self.data_dir / "metrics"

    @model_validator(mode="after")
    def _check_rp_id(self) -> Settings:
        """An RP id set by hand must fit the base URL's host. A base URL that is not an
        http(s) address is refused at start by its own check (runtime.check_public_url)."""
        host = host_name(urlsplit(self.public_url).netloc)
        if not host or not (self.webauthn_rp_id and self.webauthn_rp_id.strip()):
            return self
        if not rp_id_fits(self.rp_id, host):
            raise ValueError(
                f"TWOFOLD_WEBAUTHN_RP_ID={self.rp_id!r} must be the base URL's host ({host}) "
                "or a parent domain of it"
            )
        return self

    @model_validator(mode="after")
    def _check_legacy_proxies(self) -> Settings:
        if self.trust_proxy_headers and not self._uses_trusted_proxies:
            self.proxy_trust  # noqa: B018 - FORWARDED_ALLOW_IPS must parse, or no start
        return self

    @property
    def _uses_trusted_proxies(self) -> bool:
        return bool(self.trusted_proxies and self.trusted_proxies.strip())

    @property
    def proxy_trust(self) -> TrustedProxies:
        """The peers whose X-Forwarded-For is read (core.client_ip): TWOFOLD_TRUSTED_PROXIES;
        else, for the deprecated TWOFOLD_TRUST_PROXY_HEADERS=true, what uvicorn trusted with
        it (FORWARDED_ALLOW_IPS, by default 127.0.0.1 and ::1); else none."""
        if self._uses_trusted_proxies:
            return parse_trusted_proxies(self.trusted_proxies)
        if not self.trust_proxy_headers:
            return ()
        legacy = (self.forwarded_allow_ips or "").strip()
        if not legacy:
            return LOOPBACK
        if "*" in legacy.replace(",", " ").split():
            return EVERY_ADDRESS
        try:
            return parse_trusted_proxies(legacy)
        except ValueError as exc:
            raise ValueError(
                f"FORWARDED_ALLOW_IPS (read for TWOFOLD_TRUST_PROXY_HEADERS): {exc}; "
                "set TWOFOLD_TRUSTED_PROXIES instead"
            ) from None

    @property
    def proxy_setting_warning(self) -> Words | None:
        """What to say once at start while the deprecated TWOFOLD_TRUST_PROXY_HEADERS is set."""
        if "trust_proxy_headers" not in self.model_fields_set:
            return None
        if self._uses_trusted_proxies:
            return words.TRUST_PROXY_HEADERS_IGNORED
        if not self.trust_proxy_headers:
            return words.TRUST_PROXY_HEADERS_REMOVE
        cidrs = ",".join(str(network) for network in self.proxy_trust)
        return words.TRUST_PROXY_HEADERS_DEPRECATED(cidrs=cidrs)

    @property
    def redirect_hosts(self) -> tuple[AllowedHost, ...]:
        return parse_allowed_hosts(self.allowed_redirect_hosts)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'twofold.db').resolve()}"

    @property
    def uses_embedded_database(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def sms_outbox_dir(self) -> Path:
        return self.data_dir / "outbox" / "sms"

    @property
    def resolved_smtp_port(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"tls": 465, "starttls": 587, "none": 25}[self.smtp_security]

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret-keys"


METRICS_TOKEN_MIN = 16
LOOPBACK_OR_ANY = frozenset({"127.0.0.1", "0.0.0.0", "::", "::1", "localhost"})  # noqa: S104


def host_name(host: str) -> str:
    """A Host header value or a URL's netloc as a comparable name: no port, no brackets around
    an IPv6 address, lower case, no trailing dot."""
    host = host.strip().rpartition("@")[2].lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")
