"""`twofold org …` and the membership commands of `twofold user …`, as an operator uses them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cli.commands import ok, runner, twofold
from support import STRONG_PASSWORD
from twofold.cli.main import app
from twofold.crypto.passwords import PasswordHashingParams
from twofold.services import signin
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.settings import Settings
from twofold.store.models import AuthSession, Membership, User

pytestmark = pytest.mark.usefixtures("cli_environment", "migrated_data_dir")


def create_user(data_dir: Path, login: str, *options: str) -> str:
    return ok(
        data_dir, "user", "create", login, "--password-stdin", *options, stdin=STRONG_PASSWORD
    )


def org_line(data_dir: Path, slug: str) -> list[str]:
    """The columns of one organization's row in `org list`."""
    for line in ok(data_dir, "org", "list").splitlines():
        if line.split() and line.split()[0] == slug:
            return line.split()
    raise AssertionError(f"{slug} is not listed")


def listed_slugs(data_dir: Path) -> list[str]:
    return [line.split()[0] for line in ok(data_dir, "org", "list").splitlines()[1:]]


def _runtime(data_dir: Path) -> Runtime:
    return build_runtime(Settings(data_dir=data_dir), hashing=PasswordHashingParams.for_tests())


def start_sessions(data_dir: Path, *logins: str) -> None:
    runtime = _runtime(data_dir)
    for login in logins:
        with runtime.db() as db:
            signin.sign_in_with_password(
                db, runtime, login=login, password=STRONG_PASSWORD, client=ClientInfo()
            )
    runtime.engine.dispose()


def sessions_of(data_dir: Path, login: str) -> int:
    runtime = _runtime(data_dir)
    with runtime.db() as db:
        count = db.scalar(
            select(func.count(AuthSession.id))
            .join(User, User.id == AuthSession.user_id)
            .where(User.login == login)
        )
    runtime.engine.dispose()
    return int(count or 0)


def memberships_of(data_dir: Path, login: str) -> int:
    runtime = _runtime(data_dir)
    with runtime.db() as db:
        count = db.scalar(
            select(func.count(Membership.id))
            .join(User, User.id == Membership.user_id)
            .where(User.login == login)
        )
    runtime.engine.dispose()
    return int(count or 0)


def error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


# --- help ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["org"],
        ["org", "create"],
        ["org", "list"],
        ["org", "policy"],
        ["user", "create"],
        ["user", "add-to-org"],
        ["user", "remove-from-org"],
    ],
)
def test_every_organization_command_explains_itself(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    assert len(result.output.splitlines()) > 4


def test_org_policy_help_names_its_options() -> None:
    output = runner.invoke(app, ["org", "policy", "--help"]).output
    for option in ("--two-factor", "--grace-days", "--sign-out-everyone", "--yes"):
        assert option in output


def test_user_create_help_names_org_and_role() -> None:
    output = runner.invoke(app, ["user", "create", "--help"]).output
    assert "--org" in output
    assert "--role" in output


# --- org create / list ---------------------------------------------------------------------


def test_org_create_with_every_option_says_what_it_made(tmp_path: Path) -> None:
    output = ok(
        tmp_path,
        "org",
        "create",
        "acme",
        "--name",
        "Acme Inc.",
        "--two-factor",
        "required",
        "--signup",
        "open",
    )
    assert "Created organization 'acme' (Acme Inc.): 2FA required, sign-up open." in output
    assert org_line(tmp_path, "acme") == ["acme", "required", "0", "open", "0", "0", "Acme", "Inc."]


def test_org_create_defaults_to_optional_2fa_and_closed_sign_up(tmp_path: Path) -> None:
    output = ok(tmp_path, "org", "create", "Beta")
    assert "Created organization 'beta' (beta): 2FA optional, sign-up closed." in output


def test_org_list_shows_the_default_org_and_a_header(tmp_path: Path) -> None:
    output = ok(tmp_path, "org", "list")
    assert output.splitlines()[0].split() == [
        "SLUG",
        "2FA",
        "GRACE",
        "SIGN-UP",
        "MEMBERS",
        "NO",
        "2FA",
        "NAME",
    ]
    assert org_line(tmp_path, "default")[:3] == ["default", "optional", "0"]


def test_org_list_counts_members_and_members_without_2fa(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob", "--org", "acme")
    create_user(tmp_path, "carol", "--org", "acme")
    create_user(tmp_path, "dave")
    assert org_line(tmp_path, "acme")[4:6] == ["2", "2"]


def test_org_create_refuses_a_duplicate(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    code, output = twofold(tmp_path, "org", "create", "ACME")
    assert code == 1
    assert error_line(output) == "Error: An organization 'acme' exists already."
    assert listed_slugs(tmp_path).count("acme") == 1


@pytest.mark.parametrize("slug", ["a", "acme!", "acme corp", "acme_corp"])
def test_org_create_refuses_a_malformed_slug(tmp_path: Path, slug: str) -> None:
    code, output = twofold(tmp_path, "org", "create", slug)
    assert code == 1
    assert error_line(output).startswith("Error: An organization's short name is 2 to 63")
    assert listed_slugs(tmp_path) == ["default"]


def test_org_create_refuses_a_policy_that_does_not_exist(tmp_path: Path) -> None:
    code, output = twofold(tmp_path, "org", "create", "acme", "--two-factor", "mandatory")
    assert code == 1
    assert error_line(output) == "Error: The 2FA policy must be one of: off, optional, required."
    assert listed_slugs(tmp_path) == ["default"]


def test_org_create_refuses_a_sign_up_value_that_does_not_exist(tmp_path: Path) -> None:
    code, output = twofold(tmp_path, "org", "create", "acme", "--signup", "maybe")
    assert code == 1
    assert error_line(output) == "Error: Sign-up must be 'open' or 'closed'."
    assert listed_slugs(tmp_path) == ["default"]


# --- org policy ---------------------------------------------------------------------------


def test_org_policy_prints_the_effect_then_applies_it(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob", "--org", "acme")
    output = ok(
        tmp_path, "org", "policy", "acme", "--two-factor", "required", "--grace-days", "14", "--yes"
    )
    lines = output.splitlines()
    assert lines[0] == "Organization 'acme': 2FA optional -> required."
    assert lines[1] == "1 of 1 member has no 2FA yet."
    assert re.fullmatch(
        r"Members who were in the organization before 2FA became required may postpone "
        r"setting it up until \d{4}-\d\d-\d\d \d\d:\d\d UTC; anyone who joins later sets it "
        r"up at once\.",
        lines[2],
    )
    assert lines[3] == "Applied. 2FA is required for 'acme'."
    assert org_line(tmp_path, "acme")[1:3] == ["required", "14"]


def test_org_policy_without_grace_says_members_must_set_up_at_once(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    output = ok(tmp_path, "org", "policy", "acme", "--two-factor", "required", "--yes")
    assert "They must set it up at their next sign-in or page view." in output


def test_org_policy_asks_after_showing_the_effect_and_no_changes_nothing_without_error(
    tmp_path: Path,
) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob", "--org", "acme")
    start_sessions(tmp_path, "bob")
    code, output = twofold(
        tmp_path,
        "org",
        "policy",
        "acme",
        "--two-factor",
        "required",
        "--sign-out-everyone",
        stdin="n\n",
    )
    assert code == 0, output  # declining is an answer, not an error
    assert output.index("1 of 1 member has no 2FA yet.") < output.index("Apply?")
    assert output.rstrip().endswith("Not applied: nothing was changed."), output
    assert "Error" not in output
    assert "Applied" not in output
    assert org_line(tmp_path, "acme")[1] == "optional"
    assert sessions_of(tmp_path, "bob") == 1


def test_org_policy_applies_when_the_operator_answers_yes(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    output = ok(tmp_path, "org", "policy", "acme", "--two-factor", "off", stdin="y\n")
    assert "Applied. 2FA is off for 'acme'." in output
    assert org_line(tmp_path, "acme")[1] == "off"


def test_org_policy_sign_out_everyone_says_how_many_sessions_ended(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob", "--org", "acme")
    create_user(tmp_path, "carol", "--org", "acme")
    create_user(tmp_path, "dave")
    start_sessions(tmp_path, "bob", "bob", "carol", "dave")
    output = ok(
        tmp_path,
        "org",
        "policy",
        "acme",
        "--two-factor",
        "required",
        "--sign-out-everyone",
        "--yes",
    )
    assert "Every member (2 members) will be signed out now." in output
    assert "Signed out 3 sessions." in output
    assert output.index("will be signed out now") < output.index("Applied.")
    assert sessions_of(tmp_path, "bob") == 0
    assert sessions_of(tmp_path, "carol") == 0
    assert sessions_of(tmp_path, "dave") == 1


def test_org_policy_says_one_session_in_the_singular(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob", "--org", "acme")
    start_sessions(tmp_path, "bob")
    output = ok(tmp_path, "org", "policy", "acme", "--sign-out-everyone", "--yes")
    assert "Signed out 1 session." in output


def test_org_policy_with_only_a_grace_change_keeps_the_policy(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme", "--two-factor", "required")
    output = ok(tmp_path, "org", "policy", "acme", "--grace-days", "7", "--yes")
    assert "Organization 'acme': 2FA stays required." in output
    assert org_line(tmp_path, "acme")[1:3] == ["required", "7"]


def test_org_policy_refuses_a_policy_that_does_not_exist_and_changes_nothing(
    tmp_path: Path,
) -> None:
    ok(tmp_path, "org", "create", "acme")
    before = ok(tmp_path, "org", "list")
    code, output = twofold(tmp_path, "org", "policy", "acme", "--two-factor", "strict", "--yes")
    assert code == 1
    assert error_line(output) == "Error: The 2FA policy must be one of: off, optional, required."
    assert ok(tmp_path, "org", "list") == before


@pytest.mark.parametrize("days", ["-1", "366"])
def test_org_policy_refuses_a_grace_period_out_of_bounds(tmp_path: Path, days: str) -> None:
    ok(tmp_path, "org", "create", "acme")
    before = ok(tmp_path, "org", "list")
    code, output = twofold(
        tmp_path, "org", "policy", "acme", "--two-factor", "required", "--grace-days", days, "--yes"
    )
    assert code == 1
    assert error_line(output) == "Error: The grace period is 0 to 365 days."
    assert ok(tmp_path, "org", "list") == before


def test_org_policy_for_an_unknown_org_is_a_clear_error(tmp_path: Path) -> None:
    code, output = twofold(tmp_path, "org", "policy", "nowhere", "--two-factor", "off", "--yes")
    assert code == 1
    assert error_line(output) == "Error: There is no organization 'nowhere'."


# --- users and memberships -----------------------------------------------------------------


def test_user_create_with_org_and_role_makes_that_membership(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    output = create_user(tmp_path, "bob", "--org", "acme", "--role", "admin")
    assert "Created user 'bob'." in output
    assert "Organization: acme (admin)." in output
    assert "Organizations:         acme (admin)" in ok(tmp_path, "user", "show", "bob")


def test_user_create_as_superadmin_says_so(tmp_path: Path) -> None:
    output = create_user(tmp_path, "root", "--superadmin")
    assert "Created superadmin 'root'." in output
    assert "Superadmin:            yes" in ok(tmp_path, "user", "show", "root")


def test_user_create_in_an_unknown_org_is_an_error_and_creates_nobody(tmp_path: Path) -> None:
    code, output = twofold(
        tmp_path,
        "user",
        "create",
        "bob",
        "--org",
        "nowhere",
        "--password-stdin",
        stdin=STRONG_PASSWORD,
    )
    assert code == 1
    assert error_line(output) == "Error: There is no organization 'nowhere'."
    assert "No users yet." in ok(tmp_path, "user", "list")


def test_user_create_with_a_role_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    code, output = twofold(
        tmp_path,
        "user",
        "create",
        "bob",
        "--role",
        "owner",
        "--password-stdin",
        stdin=STRONG_PASSWORD,
    )
    assert code == 1
    assert error_line(output) == "Error: The role must be 'member' or 'admin'."
    assert "No users yet." in ok(tmp_path, "user", "list")


def test_add_to_org_adds_the_membership_with_its_role(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob")
    output = ok(tmp_path, "user", "add-to-org", "bob", "acme", "--role", "admin")
    assert "Added 'bob' to 'acme' as admin." in output
    shown = ok(tmp_path, "user", "show", "bob")
    assert "Organizations:         acme (admin), default (member)" in shown


def test_add_to_org_twice_is_an_error(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob", "--org", "acme")
    code, output = twofold(tmp_path, "user", "add-to-org", "bob", "acme", "--role", "admin")
    assert code == 1
    assert error_line(output) == "Error: 'bob' is already a member of 'acme'."
    assert "Organizations:         acme (member)" in ok(tmp_path, "user", "show", "bob")


def test_add_to_org_with_a_role_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob")
    code, output = twofold(tmp_path, "user", "add-to-org", "bob", "acme", "--role", "boss")
    assert code == 1
    assert error_line(output) == "Error: The role must be 'member' or 'admin'."
    assert memberships_of(tmp_path, "bob") == 1


def test_add_to_an_unknown_org_is_an_error(tmp_path: Path) -> None:
    create_user(tmp_path, "bob")
    code, output = twofold(tmp_path, "user", "add-to-org", "bob", "nowhere")
    assert code == 1
    assert error_line(output) == "Error: There is no organization 'nowhere'."
    assert memberships_of(tmp_path, "bob") == 1


def test_adding_an_unknown_user_is_an_error(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    code, output = twofold(tmp_path, "user", "add-to-org", "nobody", "acme")
    assert code == 1
    assert error_line(output) == "Error: There is no user 'nobody'."


def test_remove_from_org_removes_the_membership(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob")
    ok(tmp_path, "user", "add-to-org", "bob", "acme")
    output = ok(tmp_path, "user", "remove-from-org", "bob", "acme")
    assert "Removed 'bob' from 'acme'; their sessions ended." in output
    assert "Organizations:         default (member)" in ok(tmp_path, "user", "show", "bob")


def test_remove_from_org_signs_the_person_out_as_the_admin_console_does(tmp_path: Path) -> None:
    """One rule for pages and CLI: a removed member keeps no open session."""
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob")
    create_user(tmp_path, "carol")
    ok(tmp_path, "user", "add-to-org", "bob", "acme")
    start_sessions(tmp_path, "bob", "bob", "carol")
    assert sessions_of(tmp_path, "bob") == 2

    ok(tmp_path, "user", "remove-from-org", "bob", "acme")

    assert sessions_of(tmp_path, "bob") == 0
    assert sessions_of(tmp_path, "carol") == 1


def test_remove_from_an_org_one_is_not_in_is_an_error(tmp_path: Path) -> None:
    ok(tmp_path, "org", "create", "acme")
    create_user(tmp_path, "bob")
    code, output = twofold(tmp_path, "user", "remove-from-org", "bob", "acme")
    assert code == 1
    assert error_line(output) == "Error: 'bob' is not a member of 'acme'."
    assert memberships_of(tmp_path, "bob") == 1


def test_remove_from_an_unknown_org_is_an_error(tmp_path: Path) -> None:
    create_user(tmp_path, "bob")
    code, output = twofold(tmp_path, "user", "remove-from-org", "bob", "nowhere")
    assert code == 1
    assert error_line(output) == "Error: There is no organization 'nowhere'."


def test_org_policy_methods_needs_countries_and_keeps_totp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = twofold(tmp_path, "org", "policy", "default", "--methods", "totp,sms", "-y")
    assert code != 0
    assert "TWOFOLD_SMS_ALLOWED_COUNTRIES" in output
    code, output = twofold(tmp_path, "org", "policy", "default", "--methods", "sms", "-y")
    assert code != 0
    assert "always allowed" in output
    monkeypatch.setenv("TWOFOLD_SMS_ALLOWED_COUNTRIES", "GB,IE")
    output = ok(tmp_path, "org", "policy", "default", "--methods", "sms,totp", "-y")
    assert "Methods: totp -> totp,sms." in output
    output = ok(tmp_path, "org", "policy", "default", "--methods", "totp", "-y")
    assert "use SMS only" in output
