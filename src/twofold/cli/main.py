"""The `twofold` command: serve, migrate, keys (users, organizations and applications have
their own modules). Every command explains itself with --help; none prints a secret, code or
password — except a new client secret, once, to the operator who made it."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from twofold.cli.apikeys import apikey_app
from twofold.cli.check import check_command
from twofold.cli.clients import client_app
from twofold.cli.common import DataDirOption, fail, make_settings
from twofold.cli.keys import keys_app
from twofold.cli.logging_filters import log_config
from twofold.cli.orgs import org_app
from twofold.cli.purge import purge_command
from twofold.cli.users import user_app
from twofold.core import words
from twofold.core.errors import TwofoldError
from twofold.core.words import translate
from twofold.services import setup as setup_service
from twofold.services import signing_keys
from twofold.services.runtime import build_runtime
from twofold.settings import Settings
from twofold.store.db import make_engine, migrate

if TYPE_CHECKING:
    import uvicorn

app = typer.Typer(
    name="twofold",
    help="Twofold: a self-hosted sign-in service with two-factor authentication.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(keys_app, name="keys")
app.add_typer(client_app, name="client")
app.add_typer(apikey_app, name="apikey")
app.command("purge")(purge_command)
app.command("check")(check_command)


WORKER_APP = "twofold.web.app:create_app"  # a factory: each worker builds its own runtime
WORKERS_START_SECONDS = 120.0  # how long `serve` waits for its workers before saying so


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (TWOFOLD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (TWOFOLD_PORT).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Server processes to run (TWOFOLD_WORKERS, default 1); more than one "
            "needs PostgreSQL.",
        ),
    ] = None,
) -> None:
    """Start the web server (migrating the embedded SQLite database first)."""
    import uvicorn

    from twofold.web.app import create_app
    from twofold.web.metrics import prepare_multiprocess

    settings = make_settings(data_dir, host=host, port=port, workers=workers)
    if settings.workers > 1 and settings.uses_embedded_database:
        raise fail(words.WORKERS_NEED_POSTGRESQL(workers=settings.workers))
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
    setup_link = None
    with runtime.db() as db:
        signing_keys.ensure_signing_keys(db, runtime)  # the JWKS is never empty
        if setup_service.needs_setup(db):
            setup_link = f"{url}/setup/{setup_service.issue_setup_token(db, runtime)}"
    typer.echo(f"Email: {runtime.mailer.describe()}")
    typer.echo(f"Text messages: {runtime.sms.describe()}")
    if settings.proxy_setting_warning is not None:
        typer.secho(f"Warning: {translate(settings.proxy_setting_warning)}", fg=typer.colors.YELLOW)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        # The client's address is decided by one rule, TWOFOLD_TRUSTED_PROXIES, in the app
        # (web/client_address.py). uvicorn's own proxy headers (on by default, trusting
        # FORWARDED_ALLOW_IPS) would rewrite the client first, by a rule of its own.
        "proxy_headers": False,
        "log_config": log_config(log_format=settings.resolved_log_format),
        "log_level": "info",
        # On SIGTERM: stop accepting, let requests in flight finish (up to the grace), then
        # stop the background workers (the app's lifespan) and exit 0.
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
    prepare_multiprocess(settings)  # before any request is counted (workers share it)
    signal.signal(signal.SIGTERM, _stopped)

    def announce() -> None:
        _announce(url, setup_link)

    if settings.workers == 1:
        _run_then_announce(uvicorn.Config(create_app(runtime=runtime), **options), announce)
        return
    runtime.engine.dispose()  # the supervisor keeps no connection; each worker opens its own
    typer.echo(f"Processes: {settings.workers} workers")
    prepare_worker_processes(settings)
    config = uvicorn.Config(WORKER_APP, factory=True, workers=settings.workers, **options)
    _supervise_then_announce(config, announce)


def prepare_worker_processes(settings: Settings) -> None:
    """The one place for what must happen once, before the worker processes start: they
    inherit this process's environment and build their runtime from TWOFOLD_* settings, so
    the options given on the command line are handed on as those variables."""
    os.environ["TWOFOLD_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["TWOFOLD_HOST"] = settings.host
    os.environ["TWOFOLD_PORT"] = str(settings.port)
    os.environ["TWOFOLD_WORKERS"] = str(settings.workers)


def _stopped(_signal: int, _frame: FrameType | None) -> None:
    """SIGTERM is how a service manager stops the server: uvicorn shuts down gracefully,
    then raises the signal again once it is done, which ends here with exit status 0."""
    raise SystemExit(0)


def _announce(url: str, setup_link: str | None) -> None:
    """Printed once the server listens, below its start-up lines: the setup link comes last,
    where a first `make run` leaves it on screen."""
    if setup_link is not None:
        rule = "-" * 72
        typer.echo("")
        typer.echo(rule)
        typer.secho("No users yet. Create the first administrator:", bold=True)
        typer.secho(f"  in the browser (one-time link, valid 24 hours): {setup_link}", bold=True)
        typer.echo(
            "  or on the command line: twofold user create LOGIN --superadmin --password-stdin"
        )
        typer.echo(rule)
    typer.secho(f"Serving on {url}  (Ctrl+C to stop)", fg=typer.colors.GREEN)


def _run_then_announce(config: uvicorn.Config, announce: Callable[[], None]) -> None:
    """uvicorn's server, calling `announce` once it has started listening."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                announce()

    AnnouncingServer(config).run()


def _supervise_then_announce(config: uvicorn.Config, announce: Callable[[], None]) -> None:
    """uvicorn's supervisor of `config.workers` processes on one listening socket, calling
    `announce` once every worker serves. Exits 3 (uvicorn's start-up failure) when a worker
    could not start."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess

    class AnnouncingSupervisor(Multiprocess):
        def init_processes(self) -> None:
            super().init_processes()
            deadline = time.monotonic() + WORKERS_START_SECONDS
            for process in self.processes:
                while not process.is_ready(timeout=1):
                    if self.signal_queue or process.exitcode is not None:
                        return  # the supervisor's loop stops or reports it
                    if time.monotonic() > deadline:
                        typer.secho("Warning: the workers are slow to start", err=True)
                        return
                    time.sleep(0.1)  # polling the workers' start-up
            announce()

    sock = config.bind_socket()
    supervisor = AnnouncingSupervisor(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise typer.Exit(code=STARTUP_FAILURE)


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
