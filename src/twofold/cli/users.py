"""`twofold user …`: create, list, inspect, unlock users and manage their memberships."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from twofold.cli.common import DataDirOption, fail, open_runtime
from twofold.core import words
from twofold.core.errors import InvalidInput
from twofold.core.policy import Role, parse_role
from twofold.core.words import translate
from twofold.services import admin_scope, member_actions
from twofold.services import organizations as org_service
from twofold.services import users as user_service
from twofold.services.users import MethodView

user_app = typer.Typer(
    help="Create, list, inspect and unlock user accounts; manage their organizations.",
    no_args_is_help=True,
)


def _role(value: str) -> Role:
    """Checked before anything is read or opened, and reported as an "Error:" line."""
    try:
        return parse_role(value)
    except InvalidInput as exc:
        raise fail(exc.detail) from exc


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
    org: Annotated[
        str, typer.Option("--org", help="Organization (short name) the user joins.")
    ] = user_service.DEFAULT_ORGANIZATION,
    role: Annotated[
        str, typer.Option("--role", help="Role in that organization: member or admin.")
    ] = "member",
    data_dir: DataDirOption = None,
) -> None:
    """Create a user. The password comes from standard input (or is asked for)."""
    member_role = _role(role)
    if password_stdin:
        raw = sys.stdin.read()
    else:
        raw = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with open_runtime(data_dir) as (runtime, db):
        password = user_service.check_stdin_password(raw)
        user = user_service.create_user(
            db,
            runtime,
            login=login,
            password=password,
            email=email,
            superadmin=superadmin,
            organization_slug=org,
            role=member_role.value,
            email_verified=True,
        )
        kind = "superadmin" if superadmin else "user"
        typer.echo(f"Created {kind} '{user.login}'.")
        typer.echo(f"Organization: {org} ({member_role.value}).")


@user_app.command("list")
def user_list(data_dir: DataDirOption = None) -> None:
    """List users with their 2FA status."""
    with open_runtime(data_dir) as (runtime, db):
        rows = user_service.list_users(db)
        if not rows:
            typer.echo("No users yet.")
            return
        typer.echo(
            f"{'LOGIN':<24} {'2FA':<9} {'METHODS':>7} {'CODES':>5}  {'LOCKED':<7} LAST SIGN-IN"
        )
        for user in rows:
            status = user_service.describe(db, runtime, user)
            last = f"{status.last_sign_in_at:%Y-%m-%d %H:%M}" if status.last_sign_in_at else "never"
            typer.echo(
                f"{status.login:<24} {'on' if status.two_factor_enabled else 'off':<9} "
                f"{len(status.methods):>7} "
                f"{status.recovery_codes_left:>5}  {'yes' if status.locked else 'no':<7} {last}"
            )


@user_app.command("show")
def user_show(
    login: Annotated[str, typer.Argument(help="Login name or email.")],
    data_dir: DataDirOption = None,
) -> None:
    """Show one user's 2FA status, recovery codes left, last sign-in and lock state."""
    with open_runtime(data_dir) as (runtime, db):
        user = user_service.get_by_login(db, login)
        status = user_service.describe(db, runtime, user)
        lock = "no"
        if status.locked:
            lock = (
                f"yes, until {status.locked_until:%Y-%m-%d %H:%M} UTC"
                if status.locked_until
                else "yes, until unlocked (twofold user unlock)"
            )
        last = f"{status.last_sign_in_at:%Y-%m-%d %H:%M} UTC" if status.last_sign_in_at else "never"
        two_factor = "on" if status.two_factor_enabled else "off"
        if not status.two_factor_enabled and user.two_factor_reset_at is not None:
            # as the admin console says it: locked out until they use the emailed link
            two_factor = "off — reset, waiting for the member to set it up again (emailed link)"
        lines = {
            "Login": status.login,
            "Email": status.email or "-",
            "Superadmin": "yes" if status.superadmin else "no",
            "Active": "yes" if status.active else "no",
            "Two-factor": two_factor,
            "Recovery codes left": str(status.recovery_codes_left),
            "Wrong codes in a row": str(status.failed_code_count),
            "Locked": lock,
            "Last sign-in": last,
            "Organizations": ", ".join(status.organizations) or "-",
        }
        for key, value in lines.items():
            typer.echo(f"{key + ':':<22} {value}")
        typer.echo(f"{'Methods:':<22} {len(status.methods) or 'none'}")
        for method in status.methods:
            typer.echo(f"  - {method_line(method)}")


def method_line(method: MethodView) -> str:
    """One second factor as operators see it: kind, name, dates; never its secret."""
    used = f"{method.last_used_at:%Y-%m-%d %H:%M} UTC" if method.last_used_at else "never"
    kind = {
        "totp": "authenticator app",
        "sms": "text messages",
        "passkey": "synced passkey" if method.synced else "security key or passkey",
    }.get(method.kind, method.kind)
    if method.phone:
        kind = f"{kind} to {method.phone}"
    return f"{method.name} ({kind}), added {method.created_at:%Y-%m-%d}, last used {used}"


@user_app.command("unlock")
def user_unlock(
    login: Annotated[str, typer.Argument(help="Login name or email.")],
    data_dir: DataDirOption = None,
) -> None:
    """Unlock a user's second factor after too many wrong codes."""
    with open_runtime(data_dir) as (runtime, db):
        user = user_service.get_by_login(db, login)
        member_actions.unlock(db, runtime, admin_scope.OPERATOR, user, None)
        typer.echo(f"Unlocked the second factor of '{user.login}'.")


@user_app.command("add-to-org")
def user_add_to_org(
    login: Annotated[str, typer.Argument(help="Login name or email.")],
    slug: Annotated[str, typer.Argument(help="Organization short name.")],
    role: Annotated[str, typer.Option("--role", help="member or admin.")] = "member",
    data_dir: DataDirOption = None,
) -> None:
    """Add a user to an organization; its 2FA policy applies to them from now on."""
    member_role = _role(role)
    with open_runtime(data_dir) as (runtime, db):
        user = user_service.get_by_login(db, login)
        organization = org_service.get_organization(db, slug)
        org_service.add_member(db, runtime, user, organization, member_role)
        typer.echo(f"Added '{user.login}' to '{organization.slug}' as {member_role.value}.")


@user_app.command("remove-from-org")
def user_remove_from_org(
    login: Annotated[str, typer.Argument(help="Login name or email.")],
    slug: Annotated[str, typer.Argument(help="Organization short name.")],
    data_dir: DataDirOption = None,
) -> None:
    """Remove a user from an organization and sign them out everywhere (the account stays)."""
    with open_runtime(data_dir) as (runtime, db):
        user = user_service.get_by_login(db, login)
        organization = org_service.get_organization(db, slug)
        member_actions.remove_from_organization(
            db, runtime, admin_scope.OPERATOR, user, organization, None
        )
        typer.echo(f"Removed '{user.login}' from '{organization.slug}'; their sessions ended.")


@user_app.command("reset-2fa")
def user_reset_2fa(
    login: Annotated[str, typer.Argument(help="Login name or email.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (goes into the audit log).")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")] = False,
    print_link: Annotated[
        bool,
        typer.Option(
            "--print-link",
            help="Print the set-up-again link instead of emailing it (hand it over in person).",
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Reset a user's 2FA (lost phone): their secret, recovery codes and sessions are gone,
    and only the emailed single-use link (24 h) lets them set it up again."""
    try:  # before anything is asked or opened
        member_actions.check_reason(reason)
    except InvalidInput as exc:
        raise fail(words.USE_REASON_OPTION(problem=exc.words_for())) from exc
    with open_runtime(data_dir) as (runtime, db):
        user = user_service.get_by_login(db, login)
        nothing_to_reset = member_actions.reset_refusal(db, user)
        if nothing_to_reset is not None:  # before asking; the service refuses it too
            raise fail(nothing_to_reset)
        typer.echo(
            f"This deletes the authenticator and recovery codes of '{user.login}' and signs "
            "them out everywhere. They can use their account again only after setting up 2FA "
            "through the link"
            + (" printed below." if print_link else " emailed to their confirmed address.")
        )
        if not yes and not typer.confirm("Reset?", default=False):
            # Declining is an answer, not an error: say so and exit 0.
            typer.echo(translate(words.NOT_APPLIED))
            return
        link = member_actions.reset_two_factor(
            db,
            runtime,
            admin_scope.OPERATOR,
            user,
            reason=reason,
            client=None,
            send_email=not print_link,
        )
        typer.echo(f"Reset two-factor authentication of '{user.login}'.")
        if print_link:
            typer.echo(
                f"Link (single use, {member_actions.reenroll_lifetime_hours()} hours): {link}"
            )


@user_app.command("deactivate")
def user_deactivate(
    login: Annotated[str, typer.Argument(help="Login name or email.")],
    data_dir: DataDirOption = None,
) -> None:
    """Deactivate an account: it cannot sign in, and its sessions end at once."""
    with open_runtime(data_dir) as (runtime, db):
        user = user_service.get_by_login(db, login)
        member_actions.deactivate(db, runtime, admin_scope.OPERATOR, user, None)
        typer.echo(f"Deactivated '{user.login}'; their sessions have ended.")
