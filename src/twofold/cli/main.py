"""The `twofold` command: serve, migrate, and manage users. Every command explains itself
with --help; none prints a secret, a code or a password."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from twofold.cli.logging_filters import RedactTokensFilter
from twofold.core.errors import TwofoldError
from twofold.crypto import KeyRing
from twofold.services import setup as setup_service
from twofold.services import users as user_service
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.db import make_engine, migrate

app = typer.Typer(
    name="twofold",
    help="Twofold: a self-hosted sign-in service with two-factor authentication.",
    no_args_is_help=True,
    add_completion=False,
)
user_app = typer.Typer(help="Create, list, inspect and unlock user accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Keys that seal secrets at rest.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where the SQLite database and generated keys live (env TWOFOLD_DATA_DIR; "
        "default ./var).",
        show_default=False,
    ),
]


def _settings(data_dir: Path | None, **overrides: object) -> Settings:
    values: dict[str, object] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@contextmanager
def _runtime(data_dir: Path | None) -> Iterator[tuple[Runtime, Session]]:
    try:
        runtime = build_runtime(_settings(data_dir))
    except TwofoldError as exc:
        raise _fail(str(exc.detail)) from exc
    with runtime.db() as db:
        try:
            yield runtime, db
        except TwofoldError as exc:
            db.rollback()
            raise _fail(exc.detail) from exc


def _base_url(settings: Settings, host: str, port: int) -> str:
    if settings.base_url:
        return settings.base_url.rstrip("/")
    shown = "localhost" if host in {"127.0.0.1", "0.0.0.0", "::"} else host  # noqa: S104
    return f"http://{shown}:{port}"


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (TWOFOLD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (TWOFOLD_PORT).")] = None,
) -> None:
    """Start the web server (migrating the embedded SQLite database first)."""
    import uvicorn

    from twofold.web.app import create_app

    settings = _settings(data_dir, host=host, port=port)
    typer.echo(
        f"Twofold: data in {settings.data_dir.resolve()}"
        if settings.uses_embedded_database
        else "Twofold: using TWOFOLD_DATABASE_URL"
    )
    try:
        runtime = build_runtime(settings)
    except TwofoldError as exc:
        raise _fail(exc.detail) from exc
    url = _base_url(settings, settings.host, settings.port)
    with runtime.db() as db:
        if setup_service.needs_setup(db):
            token = setup_service.issue_setup_token(db, runtime)
            typer.echo("")
            typer.secho("No users yet. Create the first administrator:", bold=True)
            typer.echo(f"  in the browser (one-time link, valid 24 hours): {url}/setup/{token}")
            typer.echo(
                "  or on the command line: twofold user create LOGIN --superadmin --password-stdin"
            )
            typer.echo("")
    typer.secho(f"Serving on {url}  (Ctrl+C to stop)", fg=typer.colors.GREEN)
    logging.getLogger("uvicorn.access").addFilter(RedactTokensFilter())
    uvicorn.run(
        create_app(runtime=runtime),
        host=settings.host,
        port=settings.port,
        proxy_headers=settings.trust_proxy_headers,
        log_level="info",
    )


@app.command("migrate")
def migrate_command(data_dir: DataDirOption = None) -> None:
    """Apply database migrations (needed before `serve` on PostgreSQL)."""
    settings = _settings(data_dir)
    if settings.uses_embedded_database:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    typer.echo("Applying migrations…")
    migrate(make_engine(settings.resolved_database_url))
    typer.echo("The database schema is up to date.")


@keys_app.command("generate")
def keys_generate(
    kid: Annotated[str, typer.Option(help="Key id stored beside each ciphertext.")] = "k1",
) -> None:
    """Print a new key for TWOFOLD_SECRET_KEYS (keep it secret; every server needs it)."""
    typer.echo(KeyRing.generate(kid).to_text().strip())


@user_app.command("create")
def user_create(
    login: Annotated[str, typer.Argument(help="Login name (letters, digits, . _ -).")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input."),
    ] = False,
    email: Annotated[str | None, typer.Option("--email", help="Email address.")] = None,
    superadmin: Annotated[
        bool, typer.Option("--superadmin", help="A platform administrator.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Create a user. The password comes from standard input (or is asked for)."""
    if password_stdin:
        raw = sys.stdin.read()
    else:
        raw = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _runtime(data_dir) as (runtime, db):
        password = user_service.check_stdin_password(raw)
        user = user_service.create_user(
            db,
            runtime,
            login=login,
            password=password,
            email=email,
            superadmin=superadmin,
            role="admin" if superadmin else "member",
        )
        db.commit()
        kind = "superadmin" if superadmin else "user"
        typer.echo(f"Created {kind} '{user.login}'.")


@user_app.command("list")
def user_list(data_dir: DataDirOption = None) -> None:
    """List users with their 2FA status."""
    with _runtime(data_dir) as (runtime, db):
        rows = user_service.list_users(db)
        if not rows:
            typer.echo("No users yet.")
            return
        typer.echo(f"{'LOGIN':<24} {'2FA':<9} {'CODES':>5}  {'LOCKED':<7} LAST SIGN-IN")
        for user in rows:
            status = user_service.describe(db, runtime, user)
            last = f"{status.last_sign_in_at:%Y-%m-%d %H:%M}" if status.last_sign_in_at else "never"
            typer.echo(
                f"{status.login:<24} {'on' if status.two_factor_enabled else 'off':<9} "
                f"{status.recovery_codes_left:>5}  {'yes' if status.locked else 'no':<7} {last}"
            )


@user_app.command("show")
def user_show(
    login: Annotated[str, typer.Argument(help="Login name or email.")],
    data_dir: DataDirOption = None,
) -> None:
    """Show one user's 2FA status, recovery codes left, last sign-in and lock state."""
    with _runtime(data_dir) as (runtime, db):
        status = user_service.describe(db, runtime, user_service.get_by_login(db, login))
        lock = "no"
        if status.locked:
            lock = (
                f"yes, until {status.locked_until:%Y-%m-%d %H:%M} UTC"
                if status.locked_until
                else "yes, until unlocked (twofold user unlock)"
            )
        last = f"{status.last_sign_in_at:%Y-%m-%d %H:%M} UTC" if status.last_sign_in_at else "never"
        lines = {
            "Login": status.login,
            "Email": status.email or "-",
            "Superadmin": "yes" if status.superadmin else "no",
            "Active": "yes" if status.active else "no",
            "Two-factor": "on" if status.two_factor_enabled else "off",
            "Recovery codes left": str(status.recovery_codes_left),
            "Wrong codes in a row": str(status.failed_code_count),
            "Locked": lock,
            "Last sign-in": last,
            "Organizations": ", ".join(status.organizations) or "-",
        }
        for key, value in lines.items():
            typer.echo(f"{key + ':':<22} {value}")


@user_app.command("unlock")
def user_unlock(
    login: Annotated[str, typer.Argument(help="Login name or email.")],
    data_dir: DataDirOption = None,
) -> None:
    """Unlock a user's second factor after too many wrong codes."""
    with _runtime(data_dir) as (runtime, db):
        user = user_service.get_by_login(db, login)
        user_service.unlock(db, runtime, user)
        db.commit()
        typer.echo(f"Unlocked the second factor of '{user.login}'.")


def main() -> None:
    app()
