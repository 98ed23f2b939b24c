"""The public URL, https and the allowed host names are derived from configuration only."""

from __future__ import annotations

import pytest

from twofold.settings import Settings, host_name


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 8000, "http://localhost:8000"),
        ("0.0.0.0", 8080, "http://localhost:8080"),  # noqa: S104
        ("::", 8000, "http://localhost:8000"),
        ("::1", 8000, "http://localhost:8000"),
        ("192.0.2.5", 9000, "http://192.0.2.5:9000"),
        ("2001:db8::5", 9000, "http://[2001:db8::5]:9000"),
        ("id.internal", 80, "http://id.internal:80"),
    ],
)
def test_without_a_base_url_the_public_url_is_the_address_serve_prints(
    host: str, port: int, expected: str
) -> None:
    settings = Settings(host=host, port=port)
    assert settings.public_url == expected
    assert not settings.uses_https


def test_the_base_url_wins_without_its_trailing_slash() -> None:
    settings = Settings(base_url="https://id.example.org/", host="192.0.2.5", port=9)
    assert settings.public_url == "https://id.example.org"
    assert settings.uses_https


def test_development_checks_hosts_only_when_told_to() -> None:
    assert Settings().allowed_host_names is None
    assert Settings(base_url="https://id.example.org").allowed_host_names is None
    assert Settings(allowed_hosts="a.example, B.example.").allowed_host_names == {
        "a.example",
        "b.example",
    }


def test_production_answers_the_base_url_host_by_default() -> None:
    settings = Settings(env="production", base_url="https://ID.example.org:8443/sign-in")
    assert settings.allowed_host_names == {"id.example.org"}


def test_a_star_in_allowed_hosts_answers_any_host() -> None:
    settings = Settings(env="production", base_url="https://id.example.org", allowed_hosts="*")
    assert settings.allowed_host_names is None


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("id.example.org", "id.example.org"),
        ("ID.Example.ORG:443", "id.example.org"),
        ("id.example.org.", "id.example.org"),
        ("[2001:db8::5]:8000", "2001:db8::5"),
        ("[::1]", "::1"),
        ("", ""),
    ],
)
def test_a_host_header_is_compared_by_name_without_its_port(header: str, name: str) -> None:
    assert host_name(header) == name
