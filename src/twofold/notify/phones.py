"""Phone numbers for text messages: parsed to E.164 with the `phonenumbers` library, limited
to the countries the operator allows (TWOFOLD_SMS_ALLOWED_COUNTRIES), and masked for anyone
but their owner. (Not in core/: it needs the phonenumbers library.)"""

from __future__ import annotations

from collections.abc import Sequence

import phonenumbers

from twofold.core import words
from twofold.core.errors import InvalidInput

PHONE_INPUT_MAX = 40
BULLET = "•"


def supported_country(code: str) -> str | None:
    """`code` as an ISO 3166-1 alpha-2 region phonenumbers knows (upper case), or None."""
    region = code.strip().upper()
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def parse_allowed_countries(value: str | None) -> tuple[str, ...]:
    """The setting's list: comma- or space-separated ISO codes; ValueError names a wrong one."""
    countries: list[str] = []
    for item in (value or "").replace(",", " ").split():
        region = supported_country(item)
        if region is None:
            raise ValueError(f"{item!r} is not an ISO 3166 country code phonenumbers knows")
        if region not in countries:
            countries.append(region)
    return tuple(countries)


def parse(raw: str, allowed_countries: Sequence[str]) -> str:
    """The number in E.164 (+447700900123), or InvalidInput("phone", ...) saying why not.
    A number without a leading + is read as one of the first allowed country."""
    text = raw.strip()
    if not text or len(text) > PHONE_INPUT_MAX or not text.isprintable():
        raise InvalidInput("phone", words.PHONE_INVALID)
    if not allowed_countries:
        raise InvalidInput("phone", words.SMS_NOT_AVAILABLE)
    try:
        number = phonenumbers.parse(text, allowed_countries[0])
    except phonenumbers.NumberParseException:
        raise InvalidInput("phone", words.PHONE_INVALID) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("phone", words.PHONE_INVALID)
    region = phonenumbers.region_code_for_number(number)
    if region not in allowed_countries:
        raise InvalidInput(
            "phone", words.PHONE_COUNTRY_NOT_ALLOWED(countries=", ".join(allowed_countries))
        )
    kind = phonenumbers.number_type(number)
    if kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidInput("phone", words.PHONE_NOT_MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask(e164: str) -> str:
    """ "+44 •••• ••12 34": the country code, then the national number with every digit but
    the last four hidden, in groups of four. Shown to everyone but the number's owner."""
    try:
        number = phonenumbers.parse(e164, None)
        country = str(number.country_code)
        national = e164.removeprefix("+").removeprefix(country)
    except phonenumbers.NumberParseException:
        country, national = "", e164.removeprefix("+")
    shown = BULLET * max(0, len(national) - 4) + national[-4:]
    groups = [shown[i : i + 4] for i in range(0, len(shown), 4)]
    return " ".join([f"+{country}" if country else "+", *groups])


def pretty(e164: str) -> str:
    """The whole number, written as is usual internationally: for its owner only."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
