"""`make` installs the pins of requirements-dev.lock: every dependency that pyproject.toml
declares must be pinned there, at a version the declaration allows (else run `make lock`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;]+)")


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "requirements-dev.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]
    ]


def test_every_declared_dependency_is_pinned_in_the_lock_at_an_allowed_version() -> None:
    locked = pins()
    stale = [
        str(requirement)
        for requirement in declared()
        if canonicalize_name(requirement.name) not in locked
        or not requirement.specifier.contains(locked[canonicalize_name(requirement.name)])
    ]
    assert not stale, f"requirements-dev.lock is stale for {stale}: run `make lock`"


def test_the_lock_pins_uv_which_make_installs_first() -> None:
    assert "uv" in pins()
