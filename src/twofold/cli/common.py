"""What every `twofold` command shares: options, settings, the runtime, errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from twofold.core.errors import TwofoldError
from twofold.core.words import Words, translate
from twofold.services.runtime import Runtime, build_runtime
from twofold.settings import Settings

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where the SQLite database and generated keys live (env TWOFOLD_DATA_DIR; "
        "default ./var).",
        show_default=False,
    ),
]


def make_settings(data_dir: Path | None, **overrides: object) -> Settings:
    values: dict[str, object] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


def fail(message: Words) -> typer.Exit:
    """Say what went wrong on stderr (in English, for now) and exit 1."""
    typer.secho(f"Error: {translate(message)}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@contextmanager
def open_runtime(data_dir: Path | None) -> Iterator[tuple[Runtime, Session]]:
    try:
        runtime = build_runtime(make_settings(data_dir))
    except TwofoldError as exc:
        raise fail(exc.detail) from exc
    try:
        with runtime.db() as db:
            try:
                yield runtime, db
            except TwofoldError as exc:
                raise fail(exc.detail) from exc
    finally:
        runtime.engine.dispose()  # no connection outlives the command
