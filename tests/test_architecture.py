"""Imports point down (docs: architecture.md): the domain core uses the standard library only,
and nothing below the pages and the CLI imports them."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PURE_LAYERS = ("twofold.otp", "twofold.core")
LOWER_LAYERS = (*PURE_LAYERS, "twofold.services", "twofold.store", "twofold.crypto")
UPPER_LAYERS = ("twofold.web", "twofold.cli", "twofold.oidc")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_in(layer: str) -> list[Path]:
    path = SRC.joinpath(*layer.split("."))
    if path.with_suffix(".py").is_file():
        return [path.with_suffix(".py")]
    return sorted(path.rglob("*.py"))


def imported_names(source: str, package: str) -> Iterator[str]:
    """Every module (or name in a module) an import statement reaches, relative ones made
    absolute against `package`, the package the importing module is in."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                target = f"{base}.{target}" if target else base
            yield from (f"{target}.{alias.name}" for alias in node.names)


def imports_of(path: Path) -> list[str]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return list(imported_names(path.read_text(encoding="utf-8"), package))


def within(name: str, layers: tuple[str, ...]) -> bool:
    return any(name == layer or name.startswith(layer + ".") for layer in layers)


def is_standard_library(name: str) -> bool:
    return name.partition(".")[0] in sys.stdlib_module_names


def not_pure(names: list[str]) -> list[str]:
    return [n for n in names if not within(n, PURE_LAYERS) and not is_standard_library(n)]


def from_upper_layers(names: list[str]) -> list[str]:
    return [n for n in names if within(n, UPPER_LAYERS)]


def ids(path: Path) -> str:
    return module_name(path)


@pytest.mark.parametrize("path", [p for layer in PURE_LAYERS for p in modules_in(layer)], ids=ids)
def test_otp_and_core_import_only_the_standard_library_and_each_other(path: Path) -> None:
    assert not_pure(imports_of(path)) == []


@pytest.mark.parametrize("path", [p for layer in LOWER_LAYERS for p in modules_in(layer)], ids=ids)
def test_services_store_and_crypto_import_nothing_from_the_pages_or_the_cli(path: Path) -> None:
    assert from_upper_layers(imports_of(path)) == []


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_every_checked_layer_has_modules(layer: str) -> None:
    assert modules_in(layer)


@pytest.mark.parametrize(
    ("source", "package", "expected"),
    [
        ("import sqlalchemy.orm", "twofold.core", ["sqlalchemy.orm"]),
        ("from fastapi import Depends", "twofold.core", ["fastapi.Depends"]),
        ("from . import lockout", "twofold.core", ["twofold.core.lockout"]),
        ("from .errors import X", "twofold.core", ["twofold.core.errors.X"]),
        ("from ..web import app", "twofold.services", ["twofold.web.app"]),
        ("from twofold import cli", "twofold.store", ["twofold.cli"]),
        ("if TYPE_CHECKING:\n    import pydantic", "twofold.otp", ["pydantic"]),
        ("def f():\n    import httpx", "twofold.otp", ["httpx"]),
    ],
)
def test_the_import_reader_sees_every_form_of_import(
    source: str, package: str, expected: list[str]
) -> None:
    assert list(imported_names(source, package)) == expected


def test_a_third_party_import_in_the_core_would_be_caught() -> None:
    names = list(
        imported_names(
            "from __future__ import annotations\nimport hmac\nfrom datetime import datetime\n"
            "from twofold.otp import hotp\nfrom . import errors\nfrom sqlalchemy import select\n",
            "twofold.core",
        )
    )
    assert not_pure(names) == ["sqlalchemy.select"]


def test_an_import_of_the_pages_from_the_services_would_be_caught() -> None:
    names = list(
        imported_names("from ..web.errors import x\nimport twofold.cli", "twofold.services")
    )
    assert from_upper_layers(names) == ["twofold.web.errors.x", "twofold.cli"]


# The one place above the services that may end a transaction: the request's session, whose
# closing is the safety net that rolls back whatever a crash left (decision 0001).
TRANSACTION_SAFETY_NET = {("twofold.web.deps", "get_db")}


def transaction_calls(source: str) -> Iterator[tuple[str, str, int]]:
    """(enclosing function, method, line) of every `.commit(` and `.rollback(` call."""

    def visit(node: ast.AST, function: str) -> Iterator[tuple[str, str, int]]:
        for child in ast.iter_child_nodes(node):
            inner = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = child.name
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in {"commit", "rollback"}
            ):
                yield function, child.func.attr, child.lineno
            yield from visit(child, inner)

    yield from visit(ast.parse(source), "")


@pytest.mark.parametrize(
    "path", [p for layer in UPPER_LAYERS for p in modules_in(layer)], ids=module_name
)
def test_pages_and_cli_never_commit_or_roll_back(path: Path) -> None:
    """Services own their transactions (decisions 0001, 0012)."""
    module = module_name(path)
    calls = [
        f"{module}:{line} {function}() calls .{method}()"
        for function, method, line in transaction_calls(path.read_text())
        if (module, function) not in TRANSACTION_SAFETY_NET
    ]
    assert calls == []


def test_a_commit_in_a_page_would_be_caught() -> None:
    source = "def page(db):\n    with x:\n        db.commit()\n"
    assert list(transaction_calls(source)) == [("page", "commit", 3)]
    assert list(transaction_calls("async def get_db(db):\n    db.rollback()\n")) == [
        ("get_db", "rollback", 2)
    ]
