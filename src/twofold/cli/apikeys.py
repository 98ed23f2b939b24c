"""`twofold apikey …`: an organization's keys for the verify endpoint (POST /api/v1/verify).

The operator acts with every organization in scope. A key is printed once, when it is made,
and never again: Twofold keeps only its SHA-256."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from twofold.cli.common import DataDirOption, fail, open_runtime
from twofold.core import words
from twofold.core.words import translate
from twofold.services import api_keys
from twofold.services.admin_scope import OPERATOR

apikey_app = typer.Typer(
    help="Create, list and revoke an organization's API keys for the verify endpoint "
    "(POST /api/v1/verify).",
    no_args_is_help=True,
)

SHOWN_ONCE = "Copy the key now: it is shown only this once (Twofold keeps only its hash)."


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


@apikey_app.command("create")
def apikey_create(
    org_slug: Annotated[str, typer.Argument(help="Short name of the organization the key is for.")],
    name: Annotated[
        str, typer.Option("--name", help="What the key is for (the application using it).")
    ],
    per_minute: Annotated[
        int,
        typer.Option(
            "--per-minute",
            help="Requests the key may send per minute; more are answered 429.",
        ),
    ] = api_keys.DEFAULT_REQUESTS_PER_MINUTE,
    data_dir: DataDirOption = None,
) -> None:
    """Create a key and print it, only this once. It answers only for members of the
    organization. The organization's admins are told by email (never the key)."""
    with open_runtime(data_dir) as (runtime, db):
        created = api_keys.create_key(
            db, runtime, org_slug, name=name, requests_per_minute=per_minute, actor=OPERATOR
        )
        typer.echo(f"Created API key '{created.key.name}' (ID {created.key.id}) for '{org_slug}'.")
        typer.echo(f"api_key: {created.secret}")
        typer.echo(SHOWN_ONCE)


@apikey_app.command("list")
def apikey_list(
    org_slug: Annotated[str, typer.Argument(help="Organization short name.")],
    data_dir: DataDirOption = None,
) -> None:
    """List an organization's keys, revoked ones too: ID, name, created, last used,
    revoked (never the key)."""
    with open_runtime(data_dir) as (_runtime, db):
        keys = api_keys.list_keys(db, org_slug)
        if not keys:
            typer.echo(f"No API keys for '{org_slug}'.")
            return
        name_width = max(4, *(len(k.name) for k in keys))
        typer.echo(
            f"{'ID':>6}  {'NAME':<{name_width}}  {'CREATED':<16}  {'LAST USED':<16}  REVOKED"
        )
        for key in keys:
            typer.echo(
                f"{key.id:>6}  {key.name:<{name_width}}  {_when(key.created_at):<16}  "
                f"{_when(key.last_used_at):<16}  {_when(key.revoked_at)}"
            )


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's ID, as `twofold apikey list` shows.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Revoke without asking.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a key: it stops working at once. The organization's admins are told by email."""
    with open_runtime(data_dir) as (runtime, db):
        key = api_keys.get_key(db, key_id)
        refusal = api_keys.revoke_refusal(key)
        if refusal is not None:
            raise fail(refusal)
        typer.echo(f"API key '{key.name}' (ID {key.id}) stops working at once.")
        if not yes and not typer.confirm("Revoke?", default=False):
            typer.echo(translate(words.NOT_APPLIED))
            return
        api_keys.revoke_key(db, runtime, key_id, OPERATOR)
        typer.echo(f"Revoked API key '{key.name}' (ID {key.id}).")
