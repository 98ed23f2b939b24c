"""Configuration from TWOFOLD_* environment variables, built once by create_app or the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        default=None, description="Public URL, used in printed links; defaults to host:port."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    password_session_minutes: int = Field(default=10, ge=1, le=60)
    trust_proxy_headers: bool = Field(
        default=False, description="Read the client IP from X-Forwarded-For (behind a proxy)."
    )
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "Twofold <no-reply@localhost>"
    mail_poll_seconds: float = Field(default=2.0, gt=0, le=300)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    purge_interval_seconds: float = Field(
        default=900, gt=0, le=86400, description="How often each server purges expired rows."
    )

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
    def resolved_smtp_port(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"tls": 465, "starttls": 587, "none": 25}[self.smtp_security]

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret-keys"
