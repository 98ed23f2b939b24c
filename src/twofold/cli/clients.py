"""`twofold client …`: applications that sign people in through Twofold (OpenID Connect).

The operator acts with every organization in scope. A client secret is printed once, when
it is made (`create`, `rotate-secret`), and never again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from twofold.cli.common import DataDirOption, fail, open_runtime
from twofold.core import words
from twofold.core.words import translate
from twofold.services import oidc_clients, signing_keys
from twofold.services.admin_scope import OPERATOR
from twofold.store.models import OidcClient

client_app = typer.Typer(
    help="Register, list and revoke applications that sign people in through Twofold "
    "(OpenID Connect clients); replace a client secret.",
    no_args_is_help=True,
)

SHOWN_ONCE = "Copy the secret now: it is shown only this once (Twofold keeps only its hash)."


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def _kind(client: OidcClient) -> str:
    return "public" if client.is_public else "confidential"


@client_app.command("create")
def client_create(
    org_slug: Annotated[
        str, typer.Argument(help="Short name of the organization the application belongs to.")
    ],
    name: Annotated[
        str, typer.Option("--name", help="The application's name, as people will see it.")
    ],
    redirect_uri: Annotated[
        list[str],
        typer.Option(
            "--redirect-uri",
            help="Where Twofold may send people back after sign-in; matched exactly. https:// "
            "(http:// only for localhost). Repeat for several.",
        ),
    ],
    post_logout_redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--post-logout-redirect-uri",
            help="Where Twofold may send people after the application signs them out; "
            "matched exactly. Repeat for several.",
        ),
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="A public client (a single-page or mobile app) that cannot keep a secret: "
            "no secret, PKCE required.",
        ),
    ] = False,
    require_2fa: Annotated[
        bool,
        typer.Option(
            "--require-2fa",
            help="Always require a second factor for this application, whatever the "
            "organization's policy.",
        ),
    ] = False,
    id_token_alg: Annotated[
        str,
        typer.Option(
            "--id-token-alg",
            help="How its ID tokens are signed: RS256 (default, supported by every client) "
            "or ES256.",
        ),
    ] = signing_keys.RS256,
    data_dir: DataDirOption = None,
) -> None:
    """Register an application and print its client ID (and, unless --public, its secret,
    shown only this once). The organization's admins are told by email."""
    with open_runtime(data_dir) as (runtime, db):
        created = oidc_clients.create_client(
            db,
            runtime,
            org_slug,
            name=name,
            redirect_uris=redirect_uri,
            post_logout_redirect_uris=post_logout_redirect_uri or [],
            public=public,
            require_two_factor=require_2fa,
            id_token_alg=id_token_alg,
            actor=OPERATOR,
        )
        client = created.client
        typer.echo(f"Registered '{client.name}' ({_kind(client)}) for '{org_slug}'.")
        typer.echo(f"client_id: {client.client_id}")
        if created.secret is not None:
            typer.echo(f"client_secret: {created.secret}")
            typer.echo(SHOWN_ONCE)
        else:
            typer.echo("No secret: a public client proves itself with PKCE (S256).")


@client_app.command("list")
def client_list(
    org_slug: Annotated[str, typer.Argument(help="Organization short name.")],
    data_dir: DataDirOption = None,
) -> None:
    """List an organization's applications, revoked ones too (never a secret)."""
    with open_runtime(data_dir) as (_runtime, db):
        clients = oidc_clients.list_clients(db, org_slug)
        if not clients:
            typer.echo(f"No applications registered for '{org_slug}'.")
            return
        id_width = max(len(c.client_id) for c in clients)
        name_width = max(4, *(len(c.name) for c in clients))
        typer.echo(
            f"{'CLIENT ID':<{id_width}}  {'NAME':<{name_width}}  {'TYPE':<12}  2FA REQUIRED  "
            "ID TOKEN  "
            f"{'CREATED':<16}  {'REVOKED':<16}  REDIRECT URIS"
        )
        for client in clients:
            typer.echo(
                f"{client.client_id:<{id_width}}  {client.name:<{name_width}}  "
                f"{_kind(client):<12}  {'yes' if client.require_two_factor else 'no':<12}  "
                f"{client.id_token_signed_response_alg:<8}  "
                f"{_when(client.created_at):<16}  {_when(client.revoked_at):<16}  "
                + " ".join(oidc_clients.redirect_uris_of(client))
            )


@client_app.command("revoke")
def client_revoke(
    client_id: Annotated[str, typer.Argument(help="The application's client ID.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Revoke without asking.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Revoke an application: nobody can sign in to it any more, and every token it holds
    stops working at once. The organization's admins are told by email."""
    with open_runtime(data_dir) as (runtime, db):
        client = oidc_clients.get_client(db, client_id)
        refusal = oidc_clients.revoke_refusal(client)
        if refusal is not None:
            raise fail(refusal)
        typer.echo(
            f"Application '{client.name}' ({client.client_id}): sign-ins through Twofold "
            "stop, and its tokens stop working at once. This cannot be undone."
        )
        if not yes and not typer.confirm("Revoke?", default=False):
            # Declining is an answer, not an error: say so and exit 0.
            typer.echo(translate(words.NOT_APPLIED))
            return
        oidc_clients.revoke_client(db, runtime, client_id, OPERATOR)
        typer.echo(f"Revoked '{client.name}' ({client.client_id}).")


@client_app.command("rotate-secret")
def client_rotate_secret(
    client_id: Annotated[str, typer.Argument(help="The application's client ID.")],
    data_dir: DataDirOption = None,
) -> None:
    """Give a confidential application a new secret, printed only this once; the old
    secret stops working at once, so put the new one into the application's settings."""
    with open_runtime(data_dir) as (runtime, db):
        secret = oidc_clients.rotate_secret(db, runtime, client_id, OPERATOR)
        typer.echo(f"client_secret: {secret}")
        typer.echo(SHOWN_ONCE + " The old secret no longer works.")
