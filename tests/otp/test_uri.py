"""otpauth:// provisioning URIs in Google's Key Uri Format."""

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from twofold.otp import TotpParams, decode_secret, provisioning_uri

SECRET = b"12345678901234567890"
SECRET_BASE32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def parse(uri: str) -> tuple[str, dict[str, str]]:
    """The decoded label and single-valued query parameters of an otpauth URI."""
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    query = parse_qs(parts.query, strict_parsing=True)
    assert all(len(values) == 1 for values in query.values())
    return unquote(parts.path.removeprefix("/")), {k: v[0] for k, v in query.items()}


def test_a_simple_account_gives_the_exact_expected_uri() -> None:
    uri = provisioning_uri(secret=SECRET, account="alice@example.com", issuer="Twofold")
    assert uri == (
        "otpauth://totp/Twofold:alice%40example.com"
        f"?secret={SECRET_BASE32}&issuer=Twofold&algorithm=SHA1&digits=6&period=30"
    )


def test_spaces_are_encoded_as_percent_20_everywhere() -> None:
    uri = provisioning_uri(secret=SECRET, account="bob smith", issuer="Acme Corp")
    assert uri.startswith("otpauth://totp/Acme%20Corp:bob%20smith?")
    assert "issuer=Acme%20Corp&" in uri
    assert "+" not in uri


def test_special_characters_are_percent_encoded() -> None:
    uri = provisioning_uri(secret=SECRET, account="a+b/c?d&e=f#g", issuer="R&D / Ops")
    label = uri.removeprefix("otpauth://totp/").split("?", 1)[0]
    assert label == "R%26D%20%2F%20Ops:a%2Bb%2Fc%3Fd%26e%3Df%23g"
    assert "issuer=R%26D%20%2F%20Ops&" in uri


def test_non_ascii_names_are_encoded_as_utf8() -> None:
    uri = provisioning_uri(secret=SECRET, account="jürgen", issuer="Zürich Bank")
    assert uri.startswith("otpauth://totp/Z%C3%BCrich%20Bank:j%C3%BCrgen?")


def test_the_uri_parses_back_to_its_inputs() -> None:
    params = TotpParams(algorithm="SHA512", digits=8, period=60)
    uri = provisioning_uri(
        secret=SECRET, account="bob smith+2fa@x.org", issuer="Acme & Co", params=params
    )
    label, query = parse(uri)
    assert label == "Acme & Co:bob smith+2fa@x.org"
    assert query == {
        "secret": SECRET_BASE32,
        "issuer": "Acme & Co",
        "algorithm": "SHA512",
        "digits": "8",
        "period": "60",
    }


def test_the_secret_in_the_uri_decodes_to_the_secret() -> None:
    secret = bytes(range(1, 33))
    _, query = parse(provisioning_uri(secret=secret, account="a", issuer="b"))
    assert decode_secret(query["secret"]) == secret
    assert "=" not in query["secret"]


def test_a_colon_in_the_issuer_is_refused() -> None:
    with pytest.raises(ValueError, match="issuer"):
        provisioning_uri(secret=SECRET, account="alice", issuer="Acme:Corp")


def test_a_colon_in_the_account_is_refused() -> None:
    with pytest.raises(ValueError, match="account"):
        provisioning_uri(secret=SECRET, account="alice:admin", issuer="Acme")


@pytest.mark.parametrize("issuer", ["", "   "])
def test_an_empty_issuer_is_refused(issuer: str) -> None:
    with pytest.raises(ValueError, match="issuer"):
        provisioning_uri(secret=SECRET, account="alice", issuer=issuer)


@pytest.mark.parametrize("account", ["", "   "])
def test_an_empty_account_is_refused(account: str) -> None:
    with pytest.raises(ValueError, match="account"):
        provisioning_uri(secret=SECRET, account=account, issuer="Acme")


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        provisioning_uri(secret=b"", account="alice", issuer="Acme")
