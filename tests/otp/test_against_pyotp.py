"""Cross-checks against independent implementations: pyotp always, and oathtool (skipped
locally when it is missing, a failure under CI=true: `.ci/run` installs it)."""

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import require_or_skip
from twofold.otp import TotpParams, encode_secret, hotp, totp_at

DIGESTS: dict[str, Callable[..., Any]] = {
    "SHA1": hashlib.sha1,
    "SHA256": hashlib.sha256,
    "SHA512": hashlib.sha512,
}

secrets_ = st.binary(min_size=20, max_size=64)
algorithms = st.sampled_from(sorted(DIGESTS))
cross_check = settings(max_examples=200, deadline=None, database=None)


@cross_check
@given(
    secret=secrets_,
    unix_seconds=st.integers(min_value=0, max_value=2**33),
    algorithm=algorithms,
    digits=st.sampled_from([6, 8]),
)
def test_totp_agrees_with_pyotp(
    secret: bytes, unix_seconds: int, algorithm: str, digits: int
) -> None:
    reference = pyotp.TOTP(
        encode_secret(secret), digits=digits, digest=DIGESTS[algorithm], interval=30
    )
    params = TotpParams(algorithm=algorithm, digits=digits, period=30)
    assert totp_at(secret, unix_seconds, params) == reference.at(unix_seconds)


@cross_check
@given(
    secret=secrets_,
    counter=st.integers(min_value=0, max_value=2**64 - 1),
    algorithm=algorithms,
    digits=st.sampled_from([6, 7, 8]),
)
def test_hotp_agrees_with_pyotp(secret: bytes, counter: int, algorithm: str, digits: int) -> None:
    reference = pyotp.HOTP(encode_secret(secret), digits=digits, digest=DIGESTS[algorithm])
    assert hotp(secret, counter, digits=digits, algorithm=algorithm) == reference.at(counter)


OATHTOOL = shutil.which("oathtool")


@pytest.fixture
def oathtool() -> None:
    require_or_skip(OATHTOOL is not None, "oathtool (install oath-toolkit)")


needs_oathtool = pytest.mark.usefixtures("oathtool")
OATH_SECRET = bytes.fromhex("3d6f0c2a9be14f8572c0d1e2f3a4b5c6d7e8f901")


def run_oathtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run oathtool; keys are passed in hex, its default encoding."""
    assert OATHTOOL is not None
    return subprocess.run([OATHTOOL, *args], capture_output=True, text=True, check=False)


def oathtool_code(*args: str) -> str:
    result = run_oathtool(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@needs_oathtool
@pytest.mark.parametrize("counter", [0, 1, 7, 123456789])
@pytest.mark.parametrize("digits", [6, 8])
def test_hotp_agrees_with_oathtool(counter: int, digits: int) -> None:
    expected = oathtool_code(f"--counter={counter}", f"--digits={digits}", OATH_SECRET.hex())
    assert hotp(OATH_SECRET, counter, digits=digits) == expected


@needs_oathtool
@pytest.mark.parametrize("unix_seconds", [59, 1234567890, 2000000000])
@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
def test_totp_agrees_with_oathtool(unix_seconds: int, algorithm: str) -> None:
    when = datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    common = ["--digits=8", "--time-step-size=30s", f"--now={when}", OATH_SECRET.hex()]
    result = run_oathtool(f"--totp={algorithm}", *common)
    if result.returncode != 0:  # oath-toolkit spelled the mode in lower case before 2.6.7
        result = run_oathtool(f"--totp={algorithm.lower()}", *common)
    assert result.returncode == 0, result.stderr
    params = TotpParams(algorithm=algorithm, digits=8)
    assert totp_at(OATH_SECRET, unix_seconds, params) == result.stdout.strip()
