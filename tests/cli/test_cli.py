"""The `twofold` command as an operator uses it."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from cli.commands import runner, twofold
from support import STRONG_PASSWORD
from twofold.cli.main import app
from twofold.crypto.passwords import PasswordHashingParams
from twofold.otp.clock import unix_time
from twofold.services import account, users
from twofold.services.runtime import ClientInfo, Runtime, build_runtime
from twofold.settings import Settings

pytestmark = pytest.mark.usefixtures("cli_environment")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["migrate"],
        ["keys", "generate"],
        ["user"],
        ["user", "create"],
        ["user", "list"],
        ["user", "show"],
        ["user", "unlock"],
    ],
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    assert len(result.output.splitlines()) > 4


def test_user_create_reads_the_password_from_stdin(tmp_path: Path) -> None:
    code, output = twofold(
        tmp_path,
        "user",
        "create",
        "Bob",
        "--email",
        "bob@example.org",
        "--password-stdin",
        stdin=STRONG_PASSWORD + "\n",
    )
    assert code == 0, output
    assert "Created user 'bob'." in output
    assert STRONG_PASSWORD not in output
    code, output = twofold(tmp_path, "user", "list")
    assert code == 0
    assert "bob" in output
    assert "off" in output


def test_user_create_refuses_a_weak_password_and_creates_nothing(tmp_path: Path) -> None:
    code, output = twofold(
        tmp_path, "user", "create", "bob", "--password-stdin", stdin="password1\n"
    )
    assert code == 1
    assert "Error:" in output
    assert "password1" not in output
    code, output = twofold(tmp_path, "user", "list")
    assert "No users yet." in output


def test_user_create_refuses_a_taken_login(tmp_path: Path) -> None:
    twofold(tmp_path, "user", "create", "bob", "--password-stdin", stdin=STRONG_PASSWORD)
    code, output = twofold(
        tmp_path, "user", "create", "BOB", "--password-stdin", stdin=STRONG_PASSWORD
    )
    assert code == 1
    assert "That login name is taken" in output


def test_user_create_with_an_empty_stdin_says_so(tmp_path: Path) -> None:
    code, output = twofold(tmp_path, "user", "create", "bob", "--password-stdin", stdin="")
    assert code == 1
    assert "No password was given on standard input." in output


def _runtime(data_dir: Path) -> Runtime:
    return build_runtime(Settings(data_dir=data_dir), hashing=PasswordHashingParams.for_tests())


def test_user_show_tells_the_2fa_status_but_never_a_secret_or_code(tmp_path: Path) -> None:
    twofold(tmp_path, "user", "create", "carol", "--password-stdin", stdin=STRONG_PASSWORD)
    runtime = _runtime(tmp_path)
    with runtime.db() as db:
        user = users.get_by_login(db, "carol")
        pending = account.begin_totp_enrollment(db, runtime, user)
        code = pyotp.TOTP(pending.secret_b32).at(unix_time(runtime.now()))
        codes = account.confirm_totp_enrollment(db, runtime, user, code, ClientInfo())
    runtime.engine.dispose()
    exit_code, output = twofold(tmp_path, "user", "show", "carol")
    assert exit_code == 0, output
    assert "Two-factor:" in output
    assert "on" in output
    assert "Recovery codes left:   10" in output
    assert "Last sign-in:" in output
    assert "Locked:                no" in output
    assert pending.secret_b32 not in output
    assert all(c not in output and c.replace("-", "") not in output for c in codes)


def test_user_unlock_clears_a_second_factor_lock(tmp_path: Path) -> None:
    twofold(tmp_path, "user", "create", "dave", "--password-stdin", stdin=STRONG_PASSWORD)
    runtime = _runtime(tmp_path)
    with runtime.db() as db:
        user = users.get_by_login(db, "dave")
        user.failed_code_count = 100
        db.commit()
    runtime.engine.dispose()
    _code, output = twofold(tmp_path, "user", "show", "dave")
    assert "yes, until unlocked" in output
    exit_code, output = twofold(tmp_path, "user", "unlock", "dave")
    assert exit_code == 0
    assert "Unlocked" in output
    _code, output = twofold(tmp_path, "user", "show", "dave")
    assert "Locked:                no" in output


def test_an_unknown_user_is_a_clear_error(tmp_path: Path) -> None:
    for command in ("show", "unlock"):
        code, output = twofold(tmp_path, "user", command, "nobody")
        assert code == 1
        assert "There is no user 'nobody'." in output


def test_migrate_creates_the_schema_and_says_so(tmp_path: Path) -> None:
    code, output = twofold(tmp_path, "migrate")
    assert code == 0
    assert "up to date" in output
    assert (tmp_path / "twofold.db").exists()


def test_the_embedded_default_generates_a_private_key_file(tmp_path: Path) -> None:
    twofold(tmp_path, "user", "list")
    key_file = tmp_path / "secret-keys"
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_keys_generate_prints_a_usable_key_ring() -> None:
    from twofold.crypto.keyring import KeyRing

    result = runner.invoke(app, ["keys", "generate", "--kid", "k2"])
    assert result.exit_code == 0
    ring = KeyRing.parse(result.output)
    assert ring.primary_kid == "k2"


def test_a_shared_database_without_keys_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    code, output = twofold(tmp_path, "user", "list")
    assert code == 1
    assert "TWOFOLD_SECRET_KEYS must be set" in output


def test_wrong_keys_for_an_existing_database_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twofold.crypto.keyring import KeyRing

    twofold(tmp_path, "user", "list")
    (tmp_path / "secret-keys").unlink()
    monkeypatch.setenv("TWOFOLD_SECRET_KEYS", KeyRing.generate("k1").to_text())
    code, output = twofold(tmp_path, "user", "list")
    assert code == 1
    assert "not the key this database was created with" in output
