"""How an operator writes a request rate, and which paths the per-address limit skips."""

from __future__ import annotations

import pytest

from twofold.core.rate_limits import Rate, is_exempt, parse_rate


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("300/minute", Rate(300, 60)),
        (" 10 / Second ", Rate(10, 1)),
        ("5/hours", Rate(5, 3600)),
        ("1000 per day", Rate(1000, 86400)),
        ("0", None),
        ("off", None),
        ("OFF", None),
    ],
)
def test_a_rate_is_a_count_per_period_or_off(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "300", "300/fortnight", "-1/minute", "1.5/minute", "x/hour"])
def test_a_malformed_rate_is_refused_with_the_shape_to_write(text: str) -> None:
    with pytest.raises(ValueError, match="300/minute"):
        parse_rate(text)


def test_a_count_beyond_the_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="from 1 to"):
        parse_rate("20000000/minute")


def test_a_rate_reads_as_it_is_written() -> None:
    assert str(parse_rate("300/minute")) == "300/minute"


@pytest.mark.parametrize(
    "path", ["/static/style.css", "/healthz", "/readyz", "/metrics", "/auth/forward"]
)
def test_assets_probes_and_forward_auth_are_not_counted_at_the_door(path: str) -> None:
    assert is_exempt(path)


@pytest.mark.parametrize("path", ["/api/v1/verify", "/oidc/token"])
def test_application_endpoints_are_counted_by_their_credential_instead(path: str) -> None:
    assert is_exempt(path)


@pytest.mark.parametrize("path", ["/login", "/api/v1/sign-in", "/oidc/userinfo", "/static"])
def test_everything_else_is_counted(path: str) -> None:
    assert not is_exempt(path)
