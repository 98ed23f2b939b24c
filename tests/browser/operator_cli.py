"""The operator at the terminal: `twofold …` commands against the running test server's data.

The server and these commands share the data directory (SQLite in WAL mode, so they may run
side by side) and the cheap Argon2 settings, exactly as an operator's shell would.
"""

from __future__ import annotations

import subprocess

from browser.server import TWOFOLD, Server, server_env
from support import STRONG_PASSWORD

CLI_TIMEOUT = 60.0  # seconds; a command takes about one on this machine


class Operator:
    """Runs `twofold` sub-commands for one test server; a failing command fails the test."""

    def __init__(self, server: Server) -> None:
        self._server = server

    def run(self, *args: str, stdin: str | None = None) -> str:
        """Run `twofold ARGS --data-dir …`; returns what it printed."""
        command = [str(TWOFOLD), *args, "--data-dir", str(self._server.data_dir)]
        result = subprocess.run(
            command,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=server_env(self._server.data_dir),
            timeout=CLI_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, (
            f"`twofold {' '.join(args)}` exited with {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
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
