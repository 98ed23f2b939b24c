"""Configuration from TWOFOLD_* environment variables, built once by create_app or the CLI."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob an operator can turn; see docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="TWOFOLD_", extra="ignore")

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
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'twofold.db').resolve()}"

    @property
    def uses_embedded_database(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret-keys"
