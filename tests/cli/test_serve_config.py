"""`twofold serve` refuses to start in production without TWOFOLD_BASE_URL, and refuses a
base URL that is not a plain http(s) address, with a clear message and exit status 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from twofold.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SECRET_KEYS", "DATA_DIR", "BASE_URL", "ENV", "ALLOWED_HOSTS"):
        monkeypatch.delenv(f"TWOFOLD_{name}", raising=False)
    monkeypatch.setenv("TWOFOLD_SMTP_HOST", "smtp.invalid")  # production's mail requirement


def serve(data_dir: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["serve", "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def test_production_without_a_base_url_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOFOLD_ENV", "production")
    status, output = serve(tmp_path / "data")
    assert status == 1
    assert "TWOFOLD_ENV=production needs TWOFOLD_BASE_URL" in output
    assert "Serving on" not in output
    assert not (tmp_path / "data").exists()  # refused before anything was created


@pytest.mark.parametrize(
    "base_url",
    [
        "id.example.org",
        "ftp://id.example.org",
        "https://",
        "https://id.example.org/?x=1",
        "https://user@id.example.org",
        "https://id.example.org:99999",
    ],
)
def test_a_base_url_that_is_not_a_plain_http_address_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, base_url: str
) -> None:
    monkeypatch.setenv("TWOFOLD_BASE_URL", base_url)
    status, output = serve(tmp_path / "data")
    assert status == 1
    assert "TWOFOLD_BASE_URL must be an http:// or https:// address" in output
