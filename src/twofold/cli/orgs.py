"""`twofold org …`: organizations and their 2FA policies."""

from __future__ import annotations

from typing import Annotated

import typer

from twofold.cli.common import DataDirOption, open_runtime
from twofold.core import words
from twofold.core.errors import InvalidInput
from twofold.core.policy import (
    MAX_REMEMBER_DAYS,
    TwoFactorPolicy,
    parse_methods,
    parse_passkeys,
    parse_phishing_resistant,
    parse_policy,
    parse_remember_days,
)
from twofold.core.words import translate
from twofold.services import organizations as org_service

org_app = typer.Typer(
    help="Create and list organizations; set their 2FA policy.", no_args_is_help=True
)

TwoFactorOption = Annotated[
    str | None,
    typer.Option(
        "--two-factor",
        help="off (not offered), optional (members choose) or required (everyone).",
        show_default=False,
    ),
]


def _members(count: int) -> str:
    return f"{count} member{'' if count == 1 else 's'}"


def _signup_open(value: str) -> bool:
    choice = value.strip().lower()
    if choice not in {"open", "closed"}:
        raise InvalidInput("signup", words.SIGNUP_CHOICES)
    return choice == "open"


@org_app.command("create")
def org_create(
    slug: Annotated[str, typer.Argument(help="Short name: lower-case letters, digits, dashes.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name.")] = None,
    two_factor: TwoFactorOption = None,
    signup: Annotated[
        str, typer.Option("--signup", help="open: anyone may sign up at /signup; closed.")
    ] = "closed",
    data_dir: DataDirOption = None,
) -> None:
    """Create an organization (2FA optional and sign-up closed unless you say otherwise)."""
    with open_runtime(data_dir) as (runtime, db):
        policy = parse_policy(two_factor or TwoFactorPolicy.OPTIONAL.value)
        organization = org_service.create_organization(
            db,
            runtime,
            slug=slug,
            name=name,
            two_factor=policy,
            signup_open=_signup_open(signup),
        )
        typer.echo(
            f"Created organization '{organization.slug}' ({organization.name}): 2FA "
            f"{policy.value}, sign-up {'open' if organization.signup_open else 'closed'}."
        )


@org_app.command("list")
def org_list(data_dir: DataDirOption = None) -> None:
    """List organizations with their policy, members, and members without 2FA."""
    with open_runtime(data_dir) as (_runtime, db):
        rows = org_service.list_organizations(db)
        header = f"{'SLUG':<20} {'2FA':<9} {'GRACE':>5}  {'SIGN-UP':<7} {'MEMBERS':>7}"
        typer.echo(f"{header} {'NO 2FA':>6}  NAME")
        for organization in rows:
            typer.echo(
                f"{organization.slug:<20} {organization.two_factor_policy:<9} "
                f"{organization.grace_days:>5}  "
                f"{'open' if organization.signup_open else 'closed':<7} "
                f"{org_service.member_count(db, organization.id):>7} "
                f"{org_service.members_without_2fa(db, organization.id):>6}  {organization.name}"
            )


@org_app.command("policy")
def org_policy(
    slug: Annotated[str, typer.Argument(help="Organization short name.")],
    two_factor: TwoFactorOption = None,
    grace_days: Annotated[
        int | None,
        typer.Option(
            "--grace-days",
            help="Days, counted from when 2FA became required, during which members may "
            "postpone setting it up. Changing it applies at once, to open sessions too.",
        ),
    ] = None,
    sign_out_everyone: Annotated[
        bool, typer.Option("--sign-out-everyone", help="End every member's sessions now.")
    ] = False,
    methods: Annotated[
        str | None,
        typer.Option(
            "--methods",
            help="Second factors members may use: totp (always) or totp,sms. SMS needs "
            "TWOFOLD_SMS_ALLOWED_COUNTRIES; see docs/sms.md.",
        ),
    ] = None,
    passkeys: Annotated[
        str | None,
        typer.Option(
            "--passkeys",
            help="Security keys and passkeys: off, second-factor (after the password) or "
            "passwordless (a passkey may also replace the password).",
            show_default=False,
        ),
    ] = None,
    phishing_resistant: Annotated[
        str | None,
        typer.Option(
            "--phishing-resistant",
            help="Require a security key or passkey of: off (nobody), admins, or all "
            "members, who must then sign in with it here. Members already here get the "
            "grace days to add one.",
            show_default=False,
        ),
    ] = None,
    remember_days: Annotated[
        str | None,
        typer.Option(
            "--remember-days",
            help=f"Days a browser may skip the second factor (0 = off, at most "
            f"{MAX_REMEMBER_DAYS}).",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Show what a policy change would do, then apply it."""
    with open_runtime(data_dir) as (runtime, db):
        organization = org_service.get_organization(db, slug)
        allowed = parse_methods(methods) if methods is not None else None
        keys = parse_passkeys(passkeys) if passkeys is not None else None
        resistant = (
            parse_phishing_resistant(phishing_resistant) if phishing_resistant is not None else None
        )
        remember = parse_remember_days(remember_days) if remember_days is not None else None
        current = TwoFactorPolicy(organization.two_factor_policy)
        policy = parse_policy(two_factor) if two_factor else current
        effect = org_service.preview_policy(
            db,
            runtime,
            organization,
            two_factor=policy,
            grace_days=grace_days,
            methods=allowed,
            passkeys=keys,
            phishing_resistant=resistant,
            remember_days=remember,
        )
        if allowed is not None:
            typer.echo(f"Methods: {effect.methods_before} -> {effect.methods_after}.")
            if effect.members_with_sms_only is not None:
                typer.echo(
                    f"{effect.members_with_sms_only} member(s) use SMS only: they keep it for "
                    f"{organization.grace_days if grace_days is None else grace_days} grace "
                    "day(s), then must set up an authenticator app."
                )
        change = (
            f"stays {policy.value}" if policy is current else f"{current.value} -> {policy.value}"
        )
        typer.echo(f"Organization '{organization.slug}': 2FA {change}.")
        if policy is TwoFactorPolicy.REQUIRED:
            verb = "has" if effect.members_without_2fa == 1 else "have"
            typer.echo(
                f"{effect.members_without_2fa} of {_members(effect.members)} {verb} no 2FA yet."
            )
            if effect.grace_ends_at is None or effect.members_without_2fa == 0:
                typer.echo("They must set it up at their next sign-in or page view.")
            else:
                typer.echo(
                    "Members who were in the organization before 2FA became required may "
                    f"postpone setting it up until {effect.grace_ends_at:%Y-%m-%d %H:%M} UTC; "
                    "anyone who joins later sets it up at once."
                )
        _echo_key_effect(effect, asked=(keys, resistant, remember))
        if sign_out_everyone:
            typer.echo(f"Every member ({_members(effect.members)}) will be signed out now.")
        if not yes and not typer.confirm("Apply?", default=False):
            # Declining is an answer, not an error: say so and exit 0.
            typer.echo(translate(words.NOT_APPLIED))
            return
        ended = org_service.set_policy(
            db,
            runtime,
            organization,
            two_factor=policy,
            grace_days=grace_days,
            sign_out_everyone=sign_out_everyone,
            methods=allowed,
            passkeys=keys,
            phishing_resistant=resistant,
            remember_days=remember,
        )
        typer.echo(f"Applied. 2FA is {policy.value} for '{organization.slug}'.")
        if sign_out_everyone:
            typer.echo(f"Signed out {ended} session{'s' if ended != 1 else ''}.")


def _change(before: object, after: object) -> str:
    return f"stays {before}" if before == after else f"{before} -> {after}"


def _days(days: int) -> str:
    return "off" if days == 0 else f"{days} day{'' if days == 1 else 's'}"


def _echo_key_effect(effect: org_service.PolicyEffect, *, asked: tuple[object, ...]) -> None:
    """The preview lines for the security-key settings (decision 0029), when any was given."""
    if all(value is None for value in asked):
        return
    typer.echo(f"Passkeys: {_change(effect.passkeys_before, effect.passkeys_after)}.")
    if effect.passkeys_after == "off" and effect.passkeys_before != "off":
        typer.echo(
            f"{_members(effect.members_with_key)} with a security key or passkey will no "
            "longer be able to use it here."
        )
    typer.echo(
        "Phishing-resistant: "
        f"{_change(effect.phishing_resistant_before, effect.phishing_resistant_after)}."
    )
    if effect.phishing_resistant_after != "off":
        whom = "admin" if effect.phishing_resistant_after == "admins" else "member"
        covered = effect.members_requiring_key
        plural = "" if covered == 1 else "s"
        verb = "has" if effect.requiring_key_without_one == 1 else "have"
        typer.echo(
            f"{effect.requiring_key_without_one} of {covered} {whom}{plural} {verb} no "
            "security key or passkey yet."
        )
        if effect.requiring_key_without_one:
            if effect.key_grace_ends_at is None:
                typer.echo("They must add one at their next sign-in or page view.")
            else:
                typer.echo(
                    f"Those already here may put off adding one until "
                    f"{effect.key_grace_ends_at:%Y-%m-%d %H:%M} UTC; anyone who joins later "
                    "adds one at once."
                )
        typer.echo(
            "From then on they must sign in here with it: a code alone is not enough. A "
            "lost key is replaced after an admin reset (twofold user reset-2fa)."
        )
    before, after = _days(effect.remember_days_before), _days(effect.remember_days_after)
    typer.echo(f"Remember this browser: {_change(before, after)}.")
