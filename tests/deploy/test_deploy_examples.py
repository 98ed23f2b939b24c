"""The production examples in deploy/ (systemd units, compose), docs/deploy.md and the
README name only settings Twofold reads and commands it has, and the examples' environment
files are accepted by the settings as they stand: an example that drifted from the product
would fail at an operator's first start, not here."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from twofold.cli.main import app
from twofold.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "deploy").rglob("*") if p.is_file())
ENV_FILES = [p for p in EXAMPLES if p.name.endswith(".env.example")]
NAME = re.compile(r"\bTWOFOLD_[A-Z0-9_]+")
# Read by the example itself, not by Twofold: Caddy's site name in compose.
NOT_SETTINGS = {"TWOFOLD_PUBLIC_HOST"}
# `twofold serve`, `…/bin/twofold check`; not the user in `useradd … twofold`.
COMMAND = re.compile(r"(?<![\w-])twofold[ \t]+(?!-|twofold\b)([a-z][a-z-]*)")


def _setting_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"TWOFOLD_{name.upper()}")
    return names


def _read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def test_there_are_examples_for_systemd_and_compose() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"twofold.service", "twofold-migrate.service", "compose.yaml", "Dockerfile"} <= names
    assert len(ENV_FILES) == 2


@pytest.mark.parametrize(
    "path",
    [*EXAMPLES, ROOT / "docs" / "deploy.md", ROOT / "README.md"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_twofold_name_is_a_setting_and_every_command_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    settings = _setting_names()
    unknown = {
        name
        for name in set(NAME.findall(text)) - settings - NOT_SETTINGS
        # `TWOFOLD_SMTP_*` names a family; the test hooks are named (check refuses them).
        if not (name.endswith("_") and any(s.startswith(name) for s in settings))
        and not name.startswith("TWOFOLD_TEST_")
    }
    assert not unknown, f"{path.name} names settings Twofold does not read: {sorted(unknown)}"
    commands = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback} | {
        g.name for g in app.registered_groups if g.name
    }
    used = set(COMMAND.findall(text))
    assert used - commands == set(), f"{path.name} uses unknown commands {used - commands}"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_example_environment_files_are_valid_production_settings(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("TWOFOLD_")]:
        monkeypatch.delenv(name)
    values = _read_env_file(path)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.env == "production"
    assert settings.workers > 1
    assert settings.redis_url is not None
    assert settings.base_url == "https://id.example.org"
    assert settings.proxy_trust is not None
