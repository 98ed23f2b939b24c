"""THE redirect-target rule (`rd`): only exact allowed host[:port], https unless the entry
says http://, no userinfo, backslash or control characters."""

from __future__ import annotations

import pytest

from twofold.core.redirects import AllowedHost, allowed_target, origin_of, parse_allowed_hosts

ALLOWED = parse_allowed_hosts(
    "app.example.com, grafana.example.com:8443, http://intranet.local:8080, Bücher.Example, "
    "http://127.0.0.1:9000, [::1]:4443"
)


@pytest.mark.parametrize(
    "target",
    [
        "https://app.example.com/",
        "https://app.example.com",
        "https://APP.Example.COM/dash?x=1&y=2#top",
        "https://app.example.com:443/path",
        "https://app.example.com./path",
        "https://grafana.example.com:8443/d/abc",
        "http://intranet.local:8080/wiki",
        "https://bücher.example/",
        "https://BÜCHER.example/",
        "https://xn--bcher-kva.example/",
        "http://127.0.0.1:9000/",
        "https://[::1]:4443/x",
    ],
)
def test_an_allowed_host_is_honoured(target: str) -> None:
    assert allowed_target(target, ALLOWED) == target


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("", "empty"),
        ("/account/security", "relative"),
        ("//app.example.com/", "scheme-relative"),
        ("app.example.com/", "no scheme"),
        ("https://evil.example/", "another host"),
        ("https://app.example.com.evil.example/", "a suffix"),
        ("https://sub.app.example.com/", "a subdomain (no wildcards)"),
        ("https://example.com/", "the parent domain"),
        ("http://app.example.com/", "http for an https entry"),
        ("https://intranet.local:8080/", "https for an http entry"),
        ("https://grafana.example.com/", "the default port for an entry with a port"),
        ("https://grafana.example.com:8444/", "another port"),
        ("https://app.example.com:8443/", "a port the entry does not name"),
        ("https://app.example.com:99999/", "a port out of range"),
        ("https://app.example.com:x/", "a port that is no number"),
        ("https://user@app.example.com/", "userinfo"),
        ("https://user:pw@app.example.com/", "userinfo with a password"),
        ("https://evil.example@app.example.com/", "userinfo naming a host"),
        ("https://app.example.com\\@evil.example/", "backslash"),
        ("https:\\\\app.example.com/", "backslashes for slashes"),
        ("https://app.example.com/\\evil", "backslash in the path"),
        ("https://app.example.com/\x00", "NUL"),
        ("https://app.example.com/\r\nLocation: x", "CR LF"),
        ("https://app.example.com/\t", "tab"),
        ("https://app.example.com/\x7f", "DEL"),
        ("https://app.example.com/\x85", "a C1 control"),
        (" https://app.example.com/", "leading space"),
        ("javascript://app.example.com/%0aalert(1)", "another scheme"),
        ("ftp://app.example.com/", "ftp"),
        ("https:app.example.com/", "no authority"),
        ("https://%61pp.example.com/", "percent-encoded host"),
        ("https://app.example.com:443:443/", "two ports"),
        ("https://[::1/", "broken IPv6"),
        ("https://" + "a" * 64 + ".example.com/", "a label over 63 characters"),
        ("https://app.example.com/" + "x" * 2000, "too long"),
    ],
)
def test_anything_else_is_ignored(target: str, why: str) -> None:
    assert allowed_target(target, ALLOWED) is None, why


def test_nothing_is_honoured_without_allowed_hosts() -> None:
    assert allowed_target("https://app.example.com/", ()) is None
    assert parse_allowed_hosts(None) == ()
    assert parse_allowed_hosts(" , ") == ()


def test_entries_are_normalised_case_idna_and_default_port() -> None:
    assert parse_allowed_hosts("Bücher.Example:443, HTTP://Intranet.Local:80") == (
        AllowedHost("https", "xn--bcher-kva.example", None),
        AllowedHost("http", "intranet.local", None),
    )


@pytest.mark.parametrize(
    "entry",
    [
        "*.example.com",
        "app.example.com/path",
        "user@app.example.com",
        "app.example.com:0",
        "app.example.com:70000",
        "app..example.com",
        "https://",
        "a\\b",
        "ftp://x.example",
    ],
)
def test_a_malformed_entry_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="not a host"):
        parse_allowed_hosts(entry)


def test_origins_for_the_content_security_policy() -> None:
    assert [origin_of(entry) for entry in ALLOWED] == [
        "https://app.example.com",
        "https://grafana.example.com:8443",
        "http://intranet.local:8080",
        "https://xn--bcher-kva.example",
        "http://127.0.0.1:9000",
        "https://[::1]:4443",
    ]
