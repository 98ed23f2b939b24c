"""`twofold …` run in the test's process through the Typer app, as the CLI tests use it:
one home for the runner and its two helpers (they were copied into five modules)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from twofold.cli.main import app

runner = CliRunner()


def twofold(data_dir: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    """Exit status and output of `twofold ARGS… --data-dir DATA_DIR`."""
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], input=stdin)
    return result.exit_code, result.output


def ok(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    """The output of a command that must succeed."""
    code, output = twofold(data_dir, *args, stdin=stdin)
    assert code == 0, output
    return output
