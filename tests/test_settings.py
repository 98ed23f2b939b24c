"""The public URL, https, the allowed host names and the trusted proxies are derived from
configuration only."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from twofold.core.words import translate
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


# --- which proxies may name the client (TWOFOLD_TRUSTED_PROXIES) ---------------------------


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWOFOLD_TRUSTED_PROXIES", "TWOFOLD_TRUST_PROXY_HEADERS", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)


def networks(*texts: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(text) for text in texts)


@pytest.mark.usefixtures("no_proxy_environment")
def test_by_default_no_proxy_is_trusted_and_nothing_is_said() -> None:
    settings = Settings()
    assert settings.proxy_trust == ()
    assert settings.proxy_setting_warning is None


@pytest.mark.usefixtures("no_proxy_environment")
def test_trusted_proxies_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWOFOLD_TRUSTED_PROXIES", "10.0.0.0/8 2001:db8::/32")
    settings = Settings()
    assert settings.proxy_trust == networks("10.0.0.0/8", "2001:db8::/32")
    assert settings.proxy_setting_warning is None


@pytest.mark.usefixtures("no_proxy_environment")
@pytest.mark.parametrize(
    ("value", "said"),
    [("10.0.0.0/8, proxy.internal", "'proxy.internal'"), ("10.0.0.5/8", "10.0.0.0/8")],
)
def test_a_malformed_trusted_proxy_stops_the_start_naming_the_entry(
    monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.setenv("TWOFOLD_TRUSTED_PROXIES", value)
    with pytest.raises(ValidationError, match="TWOFOLD_TRUSTED_PROXIES") as raised:
        Settings()
    assert said in str(raised.value)


@pytest.mark.usefixtures("no_proxy_environment")
def test_the_deprecated_switch_trusts_what_uvicorn_trusted_and_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWOFOLD_TRUST_PROXY_HEADERS", "true")
    settings = Settings()
    assert settings.proxy_trust == networks("127.0.0.1/32", "::1/128")
    assert translate(settings.proxy_setting_warning or "") == (
        "TWOFOLD_TRUST_PROXY_HEADERS is deprecated; set "
        "TWOFOLD_TRUSTED_PROXIES=127.0.0.1/32,::1/128 instead (the proxies trusted now). "
        "See docs/deploy.md."
    )


@pytest.mark.usefixtures("no_proxy_environment")
def test_the_deprecated_switch_keeps_uvicorns_forwarded_allow_ips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWOFOLD_TRUST_PROXY_HEADERS", "true")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.10,10.0.0.0/8")
    settings = Settings()
    assert settings.proxy_trust == networks("192.0.2.10/32", "10.0.0.0/8")
    assert "TWOFOLD_TRUSTED_PROXIES=192.0.2.10/32,10.0.0.0/8 instead" in translate(
        settings.proxy_setting_warning or ""
    )
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert Settings().proxy_trust == networks("0.0.0.0/0", "::/0")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "proxy.internal")
    with pytest.raises(ValidationError, match=r"FORWARDED_ALLOW_IPS.*'proxy\.internal'"):
        Settings()


@pytest.mark.usefixtures("no_proxy_environment")
def test_forwarded_allow_ips_alone_trusts_no_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert Settings().proxy_trust == ()


@pytest.mark.usefixtures("no_proxy_environment")
def test_trusted_proxies_win_over_the_deprecated_switch_which_is_said_to_be_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWOFOLD_TRUST_PROXY_HEADERS", "true")
    monkeypatch.setenv("TWOFOLD_TRUSTED_PROXIES", "10.0.0.0/8")
    settings = Settings()
    assert settings.proxy_trust == networks("10.0.0.0/8")
    assert "deprecated and ignored" in translate(settings.proxy_setting_warning or "")


@pytest.mark.usefixtures("no_proxy_environment")
def test_the_deprecated_switch_set_to_false_trusts_no_one_and_asks_to_be_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWOFOLD_TRUST_PROXY_HEADERS", "false")
    settings = Settings()
    assert settings.proxy_trust == ()
    assert "remove it" in translate(settings.proxy_setting_warning or "")


def test_the_webauthn_rp_id_and_origin_come_from_the_base_url() -> None:
    settings = Settings(base_url="https://Login.Example.com:8443/")
    assert settings.rp_id == "login.example.com"
    assert settings.webauthn_origin == "https://login.example.com:8443"
    parent = Settings(base_url="https://login.example.com", webauthn_rp_id="example.com")
    assert parent.rp_id == "example.com"


@pytest.mark.parametrize("rp_id", ["other.com", "ample.com", "com", "login.example.com.evil"])
def test_an_rp_id_that_does_not_fit_the_base_url_stops_the_start(rp_id: str) -> None:
    with pytest.raises(ValidationError, match="TWOFOLD_WEBAUTHN_RP_ID"):
        Settings(base_url="https://login.example.com", webauthn_rp_id=rp_id)
