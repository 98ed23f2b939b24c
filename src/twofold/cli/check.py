"""`twofold check`: the configuration checked before a start, one line per check."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from twofold.cli.common import DataDirOption, make_settings
from twofold.core import words
from twofold.core.words import translate
from twofold.services.config_check import Finding, Level, check, error, ok

COLOURS = {Level.OK: typer.colors.GREEN, Level.WARNING: typer.colors.YELLOW}


def check_command(
    data_dir: DataDirOption = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="The --workers `serve` will be given (TWOFOLD_WORKERS)."),
    ] = None,
) -> None:
    """Check the configuration (TWOFOLD_* settings, database, migrations, keys, mail, Redis)
    without starting; exit status 1 when something must be fixed first."""
    try:
        settings = make_settings(data_dir, workers=workers)
    except ValidationError as exc:
        findings = [error("settings", _invalid(detail)) for detail in exc.errors()]
    else:
        findings = [ok("settings", words.CHECK_SETTINGS_PARSE), *check(settings)]
    for finding in findings:
        _show(finding)
    errors = sum(finding.level is Level.ERROR for finding in findings)
    if errors:
        typer.secho(translate(words.CHECK_SUMMARY_ERRORS(n=errors)), fg=typer.colors.RED)
        raise typer.Exit(code=1)
    warnings = sum(finding.level is Level.WARNING for finding in findings)
    typer.echo(translate(words.CHECK_SUMMARY_OK(n=warnings)))


def _invalid(detail: ErrorDetails) -> words.Text:
    """One invalid setting, named as the operator wrote it; the value itself is not shown
    (it may be a secret)."""
    name = str(detail["loc"][0]) if detail["loc"] else "?"
    variable = name if name.isupper() else f"TWOFOLD_{name.upper()}"
    return words.CHECK_SETTING_INVALID(variable=variable, problem=detail["msg"])


def _show(finding: Finding) -> None:
    label = f"{finding.level.value:<8}"
    typer.secho(label, fg=COLOURS.get(finding.level, typer.colors.RED), nl=False)
    typer.echo(f"{finding.subject}: {translate(finding.message)}")
