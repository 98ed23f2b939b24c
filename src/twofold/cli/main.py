"""The `twofold` command: serve, migrate, keys (users and organizations have their own
modules). Every command explains itself with --help; none prints a secret, code or password."""

from __future__ import annotations

from typing import Annotated

import typer

from twofold.cli.common import DataDirOption, fail, make_settings
from twofold.cli.keys import keys_app
from twofold.cli.logging_filters import log_config
from twofold.cli.orgs import org_app
from twofold.cli.purge import purge_command
from twofold.cli.users import user_app
from twofold.core.errors import TwofoldError
from twofold.services import setup as setup_service
from twofold.services.runtime import build_runtime
from twofold.store.db import make_engine, migrate

app = typer.Typer(
    name="twofold",
    help="Twofold: a self-hosted sign-in service with two-factor authentication.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(keys_app, name="keys")
app.command("purge")(purge_command)


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (TWOFOLD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (TWOFOLD_PORT).")] = None,
) -> None:
    """Start the web server (migrating the embedded SQLite database first)."""
    import uvicorn

    from twofold.web.app import create_app

    settings = make_settings(data_dir, host=host, port=port)
    typer.echo(
        f"Twofold: data in {settings.data_dir.resolve()}"
        if settings.uses_embedded_database
        else "Twofold: using TWOFOLD_DATABASE_URL"
    )
    try:
        runtime = build_runtime(settings)
    except TwofoldError as exc:
        raise fail(exc.detail) from exc
    url = runtime.public_url()
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
    typer.echo(f"Email: {runtime.mailer.describe()}")
    typer.secho(f"Serving on {url}  (Ctrl+C to stop)", fg=typer.colors.GREEN)
    uvicorn.run(
        create_app(runtime=runtime),
        host=settings.host,
        port=settings.port,
        proxy_headers=settings.trust_proxy_headers,
        log_config=log_config(),
        log_level="info",
    )


@app.command("migrate")
def migrate_command(data_dir: DataDirOption = None) -> None:
    """Apply database migrations (needed before `serve` on PostgreSQL)."""
    settings = make_settings(data_dir)
    if settings.uses_embedded_database:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    typer.echo("Applying migrations…")
    migrate(make_engine(settings.resolved_database_url))
    typer.echo("The database schema is up to date.")


def main() -> None:
    app()
