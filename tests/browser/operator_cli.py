"""The operator at the terminal: `twofold …` commands against the running test server's data.

The server and these commands share the data directory (SQLite in WAL mode, so they may run
side by side) and the cheap Argon2 settings, exactly as an operator's shell would. The
commands run in the test's own process, through the same Typer app the `twofold` script
starts, with the environment a shell would give them: a fresh Python for each of the ~60
commands cost about a second of CPU apiece (imports), an eighth of the browser tests' CPU.
`twofold` as a separate process is covered by the server, CLI and deployment tests.
"""

from __future__ import annotations

import os

from typer.testing import CliRunner

from browser.server import Server, server_env
from support import STRONG_PASSWORD
from twofold.cli.main import app as cli_app


def _command_env(server: Server) -> dict[str, str | None]:
    """server_env as a change to this process's environment: every other TWOFOLD_* unset."""
    wanted = server_env(server.data_dir)
    unset = {k: None for k in os.environ if k.startswith("TWOFOLD_") and k not in wanted}
    return {**unset, **{k: v for k, v in wanted.items() if k.startswith("TWOFOLD_")}}


class Operator:
    """Runs `twofold` sub-commands for one test server; a failing command fails the test."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def run(self, *args: str, stdin: str | None = None) -> str:
        """Run `twofold ARGS --data-dir …`; returns what it printed."""
        command = [*args, "--data-dir", str(self._server.data_dir)]
        env = _command_env(self._server)
        result = CliRunner().invoke(cli_app, command, input=stdin or "", env=env)
        assert result.exit_code == 0, (
            f"`twofold {' '.join(args)}` exited with {result.exit_code}:\n{result.output}"
            f"{result.exception!r}"
        )
        return result.stdout

    def create_org(
        self, slug: str, name: str, *, two_factor: str = "optional", signup: str = "closed"
    ) -> None:
        self.run(
            "org", "create", slug, "--name", name, "--two-factor", two_factor, "--signup", signup
        )

    def create_user(self, login: str, *, org: str = "default", role: str = "member") -> None:
        """A user with the tests' strong password, given on standard input."""
        self.run(
            "user",
            "create",
            login,
            "--email",
            f"{login}@example.test",
            "--password-stdin",
            "--org",
            org,
            "--role",
            role,
            stdin=STRONG_PASSWORD + "\n",
        )

    def add_to_org(self, login: str, slug: str) -> None:
        self.run("user", "add-to-org", login, slug)

    def set_policy(self, slug: str, *options: str) -> str:
        """`twofold org policy SLUG OPTIONS --yes`: applied without the "Apply?" question."""
        output = self.run("org", "policy", slug, *options, "--yes")
        assert "Applied." in output, output
        return output
