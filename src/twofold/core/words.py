"""Every sentence Twofold says to people, in one catalogue ready for translation.

Each message is a named constant: `Msg("English text with {placeholders}")`, or
`Plural("singular with {n}", "plural with {n}")` when a count `n` chooses the form. The
English text is the gettext msgid, so English needs no catalogue at all. `pybabel extract`
(babel.cfg) collects every `Msg(...)` and `Plural(...)` of this module into
`src/twofold/locale/twofold.pot`; a translation is a compiled `locale/<lang>/LC_MESSAGES/
twofold.mo` (docs/development.md, "Words and translation").

Code never builds a finished sentence: it raises or returns the message with its
parameters, and the words are looked up and filled in only when shown (`translate`), in the
language of whoever reads them:

    raise NotFound(words.NO_SUCH_ORGANIZATION(slug=slug))
    raise InvalidInput("email", words.ENTER_EMAIL)
    translate(error_words, "de")  # -> str

Parameters that are themselves messages (`Text`, `Msg`) are translated too; plain strings
and numbers are data (names, addresses, counts) and are shown as given.
"""

from __future__ import annotations

import gettext
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeAlias

DOMAIN = "twofold"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT_LOCALE = "en"

_FORMATTER = string.Formatter()


def placeholders_of(template: str) -> frozenset[str]:
    """The `{name}` fields of a message; only plain names are allowed (no `{a.b}`, `{a[0]}`,
    no `!r`), so a translation cannot reach into the objects it is given."""
    names = set()
    for _literal, name, _spec, conversion in _FORMATTER.parse(template):
        if name is None:
            continue
        if not name.isidentifier() or conversion:
            raise ValueError(f"placeholder {{{name}}} in {template!r} is not a plain name")
        names.add(name)
    return frozenset(names)


@dataclass(frozen=True)
class Msg:
    """One message; its English text is its msgid."""

    msgid: str

    @property
    def placeholders(self) -> frozenset[str]:
        return placeholders_of(self.msgid)

    def __call__(self, **params: Param) -> Text:
        return Text(self, params)


@dataclass(frozen=True)
class Plural:
    """A message whose form depends on a count; the count is always the parameter `n`."""

    singular: str
    plural: str

    @property
    def placeholders(self) -> frozenset[str]:
        return placeholders_of(self.singular) | placeholders_of(self.plural) | {"n"}

    def __call__(self, **params: Param) -> Text:
        return Text(self, params)


@dataclass(frozen=True)
class Text:
    """A message with its parameters: what errors and emails carry until they are shown."""

    message: Msg | Plural
    params: Mapping[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = self.message.placeholders
        given = set(self.params)
        if given != expected:
            raise TypeError(f"{self.message!r} takes {sorted(expected)}, was given {sorted(given)}")
        if isinstance(self.message, Plural) and not isinstance(self.params["n"], int):
            raise TypeError(f"{self.message!r}: n must be an int")

    def __str__(self) -> str:
        return translate(self)


# What may be shown: a message (with its parameters), or a plain string that is not in the
# catalogue (data, or words not converted yet).
Words: TypeAlias = "Text | Msg | str"
Param: TypeAlias = "Text | Msg | str | int"


@lru_cache(maxsize=32)
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalogue of `locale`; English (and any language without one) is the
    msgids themselves."""
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[locale], fallback=True)


def translate(words: Words, locale: str | None = None) -> str:
    """The words in `locale` (default English), their parameters filled in."""
    if isinstance(words, str):
        return words
    text = words if isinstance(words, Text) else Text(words)
    catalogue = translations(locale or DEFAULT_LOCALE)
    message = text.message
    if isinstance(message, Plural):
        count = text.params["n"]
        assert isinstance(count, int)
        template = catalogue.ngettext(message.singular, message.plural, count)
    else:
        template = catalogue.gettext(message.msgid)
    return _fill(template, text.params, locale)


def _fill(template: str, params: Mapping[str, Param], locale: str | None) -> str:
    parts: list[str] = []
    for literal, name, spec, _conversion in _FORMATTER.parse(template):
        parts.append(literal)
        if name is None:
            continue
        value = params[name]
        shown: str | int = value if isinstance(value, str | int) else translate(value, locale)
        parts.append(format(shown, spec or ""))
    return "".join(parts)


def and_list(items: Sequence[Words]) -> Words:
    """ "a, b and c", in the reader's language."""
    if not items:
        return ""
    joined: Words = items[0]
    for item in items[1:-1]:
        joined = LIST_COMMA(head=joined, item=item)
    if len(items) > 1:
        joined = LIST_AND(head=joined, last=items[-1])
    return joined


def wait_words(seconds: int) -> Text:
    """A wait, said in seconds up to a minute and a half, in whole minutes after that."""
    if seconds < 90:
        return SECONDS(n=seconds)
    return MINUTES(n=(seconds + 59) // 60)


# -- Pieces of sentences -------------------------------------------------------------------
LIST_COMMA = Msg("{head}, {item}")
LIST_AND = Msg("{head} and {last}")
SECONDS = Plural("{n} second", "{n} seconds")
MINUTES = Plural("{n} minute", "{n} minutes")

# -- Errors: the words each kind of error says unless it is given its own -------------------
SOMETHING_WENT_WRONG = Msg("Something went wrong. Please try again.")
INVALID_CREDENTIALS = Msg(
    "That login name or password is not right. Check both and try again. Just signed "
    "up? Open the confirmation link we emailed you first."
)
WRONG_PASSWORD = Msg("That is not your current password. Try again.")
MALFORMED_CODE = Msg("Enter the 6-digit code from your authenticator app, digits only.")
MALFORMED_RECOVERY_CODE = Msg(
    "A recovery code has 16 letters and digits, like 4kq2-9xmv-t7ha-3np8. Check what you typed."
)
CODE_MISMATCH = Msg(
    "That code didn't match. Codes change every 30 seconds — try the newest one. "
    "If your phone's clock is off, turn on automatic time."
)
CODE_REUSED = Msg(
    "That code was used already. Wait for your app to show a new code (they change every "
    "30 seconds) and enter that one."
)
INVALID_RECOVERY_CODE = Msg(
    "That recovery code isn't valid, or it was used already. Each code works once."
)
TWO_FACTOR_ALREADY_ENABLED = Msg("Two-factor authentication is already on for your account.")
TOO_MANY_AUTHENTICATORS = Msg(
    "You already have {max} authenticators, the most an account can have. Remove one you no "
    "longer use first."
)
AUTHENTICATOR_NAME_SHAPE = Msg(
    "Give the authenticator a name of 1 to {max} characters, such as “Work phone”."
)
NO_SUCH_AUTHENTICATOR = Msg("That authenticator is not on your account (any more).")
PASSKEY_NAME_SHAPE = Msg(
    "Give the security key or passkey a name of 1 to {max} characters, such as “YubiKey”."
)
NO_SUCH_PASSKEY = Msg("That security key or passkey is not on your account (any more).")
PASSKEY_REFUSED = Msg(
    "Your security key or passkey could not be checked. Try again, or use another way to sign in."
)
PASSKEY_CHALLENGE_EXPIRED = Msg(
    "That request to use your security key or passkey expired or was used already. Try again."
)
UNKNOWN_PASSKEY = Msg(
    "That security key or passkey is not registered on an account here (any more). Use "
    "another one, or sign in with your password."
)
PASSKEY_ALREADY_REGISTERED = Msg("That security key or passkey is already on your account.")
SIGN_COUNT_REGRESSED = Msg(
    "That security key reported fewer uses than it did before, which is what a copied key "
    "does, so it was refused. Use another way to sign in and tell your administrator."
)
PASSKEYS_NOT_ALLOWED = Msg(
    "Your organization does not accept security keys or passkeys. Use your authenticator "
    "app or another way to sign in."
)
PASSWORDLESS_NOT_ALLOWED = Msg(
    "Signing in without a password is not allowed for your account. Enter your login name "
    "and password; you can use your passkey as the second step."
)
PASSKEY_RESPONSE_MISSING = Msg(
    "Nothing came back from your security key or passkey. Use the button (JavaScript must "
    "be on), or use another way to sign in."
)
LAST_METHOD_REQUIRED = Msg(
    "This is your only second factor, and two-factor authentication is required for "
    "{required}. Add your new phone or app first, then remove this one."
)
ENTER_CURRENT_SECOND_FACTOR = Msg(
    "Enter a code from an authenticator you already have, or one of your recovery codes."
)
TWO_FACTOR_NOT_ENABLED = Msg("Two-factor authentication is not on for your account.")
ENROLLMENT_NOT_STARTED = Msg(
    "Your setup took too long and the key expired. Scan the new QR code and try again."
)
NOT_PASSWORD_VERIFIED = Msg("Your sign-in expired. Enter your password again.")
INVALID_TOKEN = Msg(
    "This link is not valid. It may have been used already or have expired. Ask for a new one."
)
NOT_FOUND = Msg("We couldn't find that.")
FORBIDDEN = Msg("You are not allowed to do that here.")
REENROLLMENT_LINK_REQUIRED = Msg(
    "An administrator reset two-factor authentication for your account. Open the link we "
    "emailed you to set it up again (it works once, for 24 hours). Lost it? Ask your "
    "administrator for a new reset."
)
TWO_FACTOR_REQUIRED = Msg(
    "You can't turn off two-factor authentication: it is required for {reasons}."
)
PASSWORD_THROTTLED = Msg(
    "Too many wrong passwords. For your safety, wait {wait} before trying again."
)
CODES_LOCKED_UNTIL_UNLOCKED = Msg(
    "Too many wrong codes: two-factor sign-in is locked for this account. "
    "Ask your administrator to unlock it."
)
CODES_LOCKED_UNTIL = Msg(
    "Too many wrong codes: two-factor sign-in is locked until {time} UTC. You can try again then."
)
CODES_LOCKED_UNTIL_ABOUT = Msg(
    "Too many wrong codes: two-factor sign-in is locked until {time} UTC (about {wait}). "
    "You can try again then."
)
# Who requires 2FA, in TWO_FACTOR_REQUIRED's list (beside the names of organizations).
PLATFORM_ADMINISTRATORS = Msg("platform administrators")
ORGANIZATION_ADMINISTRATORS = Msg("organization administrators")

# -- What people type ----------------------------------------------------------------------
LOGIN_SHAPE = Msg(
    "A login name is 2 to 64 characters: letters, digits, dots, dashes and "
    "underscores, starting with a letter or digit."
)
EMAIL_SHAPE = Msg("That doesn't look like an email address.")
PASSWORD_TOO_SHORT = Msg("Use at least {min} characters.")
PASSWORD_TOO_LONG = Msg("Use at most {max} characters.")
# A weak new password: `reason` is zxcvbn's warning (English) or PASSWORD_EASY_TO_GUESS,
# `hint` its suggestions or PASSWORD_HINT.
WEAK_PASSWORD = Msg("{reason} {hint}")
PASSWORD_EASY_TO_GUESS = Msg("This password would be easy to guess.")
PASSWORD_HINT = Msg("Add more words or characters that are not common.")
PASSWORDS_DIFFER = Msg("The two new passwords are not the same.")
PASSWORD_UNCHANGED = Msg("The new password is the same as the current one.")
NO_PASSWORD_ON_STDIN = Msg("No password was given on standard input.")
ENTER_EMAIL = Msg("Enter your email address.")
ENTER_CODE_FROM_APP = Msg("Enter the code from your authenticator app.")
ALREADY_YOUR_EMAIL = Msg("That is already your email address.")
EMAIL_TAKEN_BY_OTHER = Msg("Another account uses that email address.")
EMAIL_TAKEN_BY_OTHER_NOW = Msg("Another account uses that email address now.")
LOGIN_TAKEN = Msg("That login name is taken. Choose another.")
EMAIL_EXISTS = Msg("An account with that email address exists already.")
INVITEE_HAS_ACCOUNT = Msg(
    "Someone already has an account with that address: add them with "
    "`twofold user add-to-org` instead."
)
NO_SUCH_USER = Msg("There is no user '{login}'.")
SESSION_NOT_SIGNED_IN = Msg("That session is not signed in (any more).")

# -- Organizations -------------------------------------------------------------------------
NO_SUCH_ORGANIZATION = Msg("There is no organization '{slug}'.")
SLUG_SHAPE = Msg(
    "An organization's short name is 2 to 63 lower-case letters, digits and dashes, "
    "starting with a letter or digit."
)
ORGANIZATION_NAME_LENGTH = Msg("An organization's name is 1 to 200 characters.")
ORGANIZATION_EXISTS = Msg("An organization '{slug}' exists already.")
GRACE_DAYS_RANGE = Msg("The grace period is 0 to {max_days} days.")
ALREADY_A_MEMBER = Msg("'{login}' is already a member of '{organization}'.")
NOT_A_MEMBER_OF = Msg("'{login}' is not a member of '{organization}'.")
NOT_YOUR_ORGANIZATION = Msg("You are not a member of that organization.")
SIGNUP_CLOSED = Msg(
    "Sign-up is closed for this organization. Ask its administrator for an account."
)
POLICY_CHOICES = Msg("The 2FA policy must be one of: off, optional, required.")
ROLE_CHOICES = Msg("The role must be 'member' or 'admin'.")

# -- Operators: configuration and keys (said by the CLI and at start-up) --------------------
SHARED_DATABASE_NEEDS_KEYS = Msg(
    "TWOFOLD_SECRET_KEYS must be set when TWOFOLD_DATABASE_URL points to a shared "
    "database, so that every server process seals and opens secrets with the same "
    "keys. Generate one with `twofold keys generate`."
)
PRODUCTION_NEEDS_BASE_URL = Msg(
    "TWOFOLD_ENV=production needs TWOFOLD_BASE_URL, the public address people "
    "use (for example https://id.example.org): every link in an email is built "
    "from it, never from the request. See docs/deploy.md."
)
BASE_URL_SHAPE = Msg(
    "TWOFOLD_BASE_URL must be an http:// or https:// address such as "
    "https://id.example.org (no query, no fragment), not {given}."
)
PRODUCTION_NEEDS_SMTP = Msg(
    "TWOFOLD_ENV=production needs a mail server: set TWOFOLD_SMTP_HOST (and "
    "TWOFOLD_SMTP_PORT, TWOFOLD_SMTP_SECURITY, TWOFOLD_SMTP_USER, "
    "TWOFOLD_SMTP_PASSWORD, TWOFOLD_MAIL_FROM as needed). See docs/email.md."
)
TRUST_PROXY_HEADERS_DEPRECATED = Msg(
    "TWOFOLD_TRUST_PROXY_HEADERS is deprecated; set TWOFOLD_TRUSTED_PROXIES={cidrs} instead "
    "(the proxies trusted now). See docs/deploy.md."
)
TRUST_PROXY_HEADERS_IGNORED = Msg(
    "TWOFOLD_TRUST_PROXY_HEADERS is deprecated and ignored: TWOFOLD_TRUSTED_PROXIES is set. "
    "Remove TWOFOLD_TRUST_PROXY_HEADERS."
)
TRUST_PROXY_HEADERS_REMOVE = Msg(
    "TWOFOLD_TRUST_PROXY_HEADERS is deprecated; remove it (without TWOFOLD_TRUSTED_PROXIES "
    "no proxy is trusted)."
)
SCHEMA_OUT_OF_DATE = Msg("The database schema is not up to date. Run `twofold migrate` first.")
# `twofold check`: one line per check, each saying what to do when it is not ok.
CHECK_SETTINGS_PARSE = Msg("The TWOFOLD_* settings are valid.")
CHECK_SETTING_INVALID = Msg("{variable}: {problem}")
CHECK_BASE_URL = Msg("Links in emails and printed links start with {url}.")
CHECK_BASE_URL_UNSET = Msg(
    "TWOFOLD_BASE_URL is not set: links start with {url}, the address `serve` listens on. "
    "Set it to the address people use."
)
CHECK_BASE_URL_NOT_HTTPS = Msg(
    "TWOFOLD_BASE_URL is not https: in production, serve Twofold over TLS (docs/deploy.md)."
)
CHECK_HOSTS = Msg("Requests are answered for the host names: {hosts}.")
CHECK_ANY_HOST = Msg("Requests are answered whatever their Host header (development).")
CHECK_ANY_HOST_IN_PRODUCTION = Msg(
    "TWOFOLD_ALLOWED_HOSTS=* answers requests for any Host: name the public host names."
)
CHECK_KEYS_CONFIGURED = Msg("The secret keys are valid ({count} in the key ring).")
CHECK_KEY_FILE_NEW = Msg("A key file will be made at {path} on the first start.")
CHECK_EMAIL = Msg("Delivered through: {how}.")
CHECK_TEXT_MESSAGES = Msg("Sent through: {how}.")
CHECK_WORKERS = Msg("Server processes: {workers}.")
CHECK_DATABASE_NEW = Msg("The embedded database will be made at {path} on the first start.")
CHECK_DATABASE_ANSWERS = Msg("The database answers.")
CHECK_DATABASE_UNREACHABLE = Msg(
    "The database does not answer ({reason}). Check TWOFOLD_DATABASE_URL and that the "
    "database server runs and lets this host in."
)
CHECK_SCHEMA_CURRENT = Msg("The database schema is up to date.")
CHECK_SCHEMA_MIGRATED_AT_START = Msg(
    "The embedded database schema is not up to date; `twofold serve` migrates it at start."
)
CHECK_SCHEMA_NEWER = Msg(
    "The database schema ({revision}) is newer than this version of Twofold knows: run the "
    "version that migrated it."
)
CHECK_KEYS_MATCH = Msg("The secret keys match the keys recorded in the database.")
CHECK_PASSKEYS_RP_ID = Msg(
    "Security keys and passkeys answer for the relying-party id {rp_id} (TWOFOLD_WEBAUTHN_RP_ID)."
)
CHECK_PASSKEYS_ORPHANED = Plural(
    "{n} security key or passkey was registered for the relying-party id {registered}; with "
    "{rp_id} it cannot sign in. Set TWOFOLD_WEBAUTHN_RP_ID={registered} again, or its owner "
    "must sign in another way and add it again.",
    "{n} security keys or passkeys were registered for the relying-party id {registered}; "
    "with {rp_id} they cannot sign in. Set TWOFOLD_WEBAUTHN_RP_ID={registered} again, or "
    "their owners must sign in another way and add them again.",
)
CHECK_KEYS_NOT_COMPARED = Msg(
    "The secret keys were not compared with the database (its schema is not up to date)."
)
CHECK_REDIS_ANSWERS = Msg("Redis answers at TWOFOLD_REDIS_URL.")
CHECK_REDIS_UNREACHABLE = Msg(
    "Redis does not answer at TWOFOLD_REDIS_URL ({reason}). Start it, fix the URL, or unset "
    "it (rate limits are then kept per process)."
)
CHECK_TEST_HOOK_SET = Msg(
    "{variable} is set: a test hook that pauses or kills the server. Unset it; never set it "
    "on a real server."
)
CHECK_SUMMARY_OK = Plural(
    "No errors ({n} warning): `twofold serve` can start.",
    "No errors ({n} warnings): `twofold serve` can start.",
)
CHECK_SUMMARY_ERRORS = Plural(
    "{n} error: fix it before `twofold serve`.", "{n} errors: fix them before `twofold serve`."
)
WORKERS_NEED_POSTGRESQL = Msg(
    "{workers} workers need PostgreSQL: the embedded SQLite database is for one server "
    "process. Set TWOFOLD_DATABASE_URL to a PostgreSQL database (docs/deploy.md, "
    '"Processes and workers"), or run one worker.'
)
UNKNOWN_SEALING_KEY = Msg(
    "The database holds data sealed with key id '{kid}', which is not in the "
    "configured keys. Start with the key ring this database was created with."
)
KEY_FINGERPRINT_DIFFERS = Msg(
    "The key with id '{kid}' is not the key this database was created with "
    "(its fingerprint differs). Check TWOFOLD_SECRET_KEYS or the key file."
)
KEY_RECORDED_CONCURRENTLY = Msg(
    "Another server recorded a different key under the id '{kid}' just now. "
    "Give every server process the same TWOFOLD_SECRET_KEYS."
)
MISSING_PRIMARY_KEY = Msg(
    "The database records key id '{kid}' as the primary key (it seals new values), but "
    "this server's keys do not include it. Add that key to this server's "
    "TWOFOLD_SECRET_KEYS (or key file) and restart it: `twofold keys promote` must only "
    "be run once every server has the key."
)
KID_SHAPE = Msg("A key id is 1-32 characters of A-Z a-z 0-9 _ . -")
KID_IN_USE = Msg(
    "Key id '{kid}' is already in use (or was used before); choose another with --kid."
)
NO_PRIMARY_KEY_RECORDED = Msg("No primary key is recorded; start Twofold once first.")
UNKNOWN_KID = Msg("Unknown key id '{kid}'. Known key ids: {known}. Run `twofold keys list`.")
NO_KIDS = Msg("none")
KEY_RETIRED_CANNOT_SEAL = Msg(
    "Key '{kid}' is retired and cannot seal again. Add a new key with "
    "`twofold keys add` and promote that one."
)
KEY_NOT_IN_THIS_PROCESS = Msg(
    "This process does not have key '{kid}'. Add it to TWOFOLD_SECRET_KEYS (or "
    "the key file) here and on every server first: a server without the primary "
    "key cannot seal anything."
)
BATCH_SIZE_TOO_SMALL = Msg("The batch size must be at least 1.")
KEY_ALREADY_RETIRED = Msg("Key '{kid}' is already retired.")
KEY_IS_PRIMARY = Msg(
    "Key '{kid}' is the primary key. Promote another key first "
    "(`twofold keys add`, then `twofold keys promote NEW_KID`)."
)
KEY_PROMOTED_RECENTLY = Msg(
    "Key '{primary}' was promoted less than {settle} s ago; running "
    "servers may still be sealing with '{kid}'. Wait {wait} s, run "
    "`twofold keys reseal`, then retry."
)
# `what` lists counts of sealed values, such as "1 TOTP secrets, 1 queued emails".
KEY_STILL_SEALS = Msg(
    "Key '{kid}' still seals {what}. Run `twofold keys reseal` first, then retry."
)
KEY_HAS_RECOVERY_CODES = Msg(
    "{codes} unused recovery codes of {people} people are keyed with '{kid}'. "
    "Only digests of recovery codes are stored, so they cannot be re-keyed: each "
    "person gets codes under the new key when they make new ones. Wait until they "
    "have, or retry with --discard-recovery-codes to withdraw those codes (the "
    "people keep their authenticator app and can make new codes on their security "
    "page)."
)
KEY_FILE_REWRITE_FAILED = Msg(
    "Key '{kid}' is retired, but removing it from the key file failed: {problem}"
)

# -- The key ring and the key file (said by the CLI and at start-up) ----------------------
KEY_HELP = Msg(
    "Each entry is 'kid:KEY' where KEY is 32 random bytes in base64url, e.g. generate one "
    'with: python -c "import base64,secrets;'
    "print('k1:'+base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip('='))\""
)
KEYS_NOT_A_MAPPING = Msg("keys must be a mapping of kid -> 32-byte key")
KEY_RING_EMPTY = Msg("the key ring is empty. {help}")
KEY_RING_KID_INVALID = Msg("a key id is invalid: kids must be 1-32 characters of A-Z a-z 0-9 _ . -")
KEY_NOT_32_BYTES = Msg("key '{kid}' must be exactly {length} bytes. {help}")
PRIMARY_KID_NOT_IN_RING = Msg("primary key id '{kid}' is not in the key ring")
KID_NOT_IN_RING = Msg(
    "key '{kid}' is not in the key ring (configured: {configured}); "
    "was it removed while data sealed with it remains?"
)
KID_APPEARS_TWICE = Msg("key id '{kid}' appears more than once")
NO_KEYS_FOUND = Msg("no keys found. {help}")
KEY_ENTRY_WITHOUT_COLON = Msg("key entry {position} has no ':' between key id and key. {help}")
KEY_ENTRY_KID_INVALID = Msg(
    "key entry {position} has an invalid key id: use 1-32 characters of A-Z a-z 0-9 _ . -"
)
KEY_EMPTY = Msg("key '{kid}' is empty. {help}")
KEY_NOT_BASE64 = Msg("key '{kid}' is not valid base64 or base64url. {help}")
KEY_WRONG_LENGTH = Msg("key '{kid}' is {length} bytes long; it must be {expected}. {help}")
KEY_FILE_VANISHED = Msg("key file {path} vanished while being created; retry")
KEY_FILE_CANNOT_CREATE = Msg("cannot create key file {path}: {problem}")
KEY_FILE_CANNOT_WRITE = Msg("cannot write key file {path}: {problem}")
KEY_FILE_CANNOT_READ = Msg("cannot read key file {path}: {problem}")
KEY_FILE_MISSING = Msg("key file {path} does not exist")
KEY_FILE_CHANGE_UNDER_WAY = Msg(
    "{path} exists: another key change is under way, or one was interrupted "
    "(then delete that file and retry)"
)
CANNOT_WRITE_FILE = Msg("cannot write {path}: {problem}")
KEY_FILE_PROBLEM = Msg("key file {path}: {problem}")
KEY_FILE_NOT_REGULAR = Msg("key file {path} is not a regular file")
KEY_FILE_TOO_OPEN = Msg(
    "key file {path} is accessible by group or others (mode {mode}); run: chmod 600 {path}"
)
KEY_FILE_NOT_UTF8 = Msg("key file {path} is not UTF-8 text")
# `listed` joins COLUMN_IDS with "; ".
VALUES_NOT_OPENED = Msg(
    "Some values could not be opened with their key and were left as they are: {listed}."
)
COLUMN_IDS = Msg("{column} ids {ids}")

# -- Administrators ------------------------------------------------------------------------
NOT_ON_YOUR_OWN_ACCOUNT = Msg("You can't do this to your own account. Ask a super-admin.")
ONLY_SUPERADMIN_FOR_SUPERADMIN = Msg(
    "Only a super-admin can change a super-admin's account. Ask a super-admin."
)
MEMBER_OF_OTHER_ORGANIZATION = Msg(
    "You can't do that for this person: they belong to an organization you don't "
    "administer. Ask a super-admin."
)
MEMBER_IS_ADMINISTRATOR = Msg(
    "This person is an administrator: only a super-admin can reset, unlock or remove "
    "an administrator. Ask a super-admin."
)
NO_SUCH_MEMBER = Msg("There is no such member.")
NO_SUCH_MEMBER_HERE = Msg("There is no such member in this organization.")
NOT_YOUR_ADMINISTERED_ORGANIZATION = Msg("You don't administer that organization.")
YOU_ADMINISTER_NO_ORGANIZATION = Msg("You administer no organization.")
CONSOLE_IS_FOR_ADMINISTRATORS = Msg("The admin console is for organization administrators.")
ONLY_SUPERADMIN_DEACTIVATES = Msg("Only a super-admin can deactivate an account.")
UNKNOWN_STATUS_FILTER = Msg("Unknown status filter.")
UNKNOWN_SORT_COLUMN = Msg("Unknown sort column.")
DATE_SHAPE = Msg("Dates are written YYYY-MM-DD.")
GRACE_DAYS_WHOLE_NUMBER = Msg("The grace period is a whole number of days.")
SIGNUP_CHOICES = Msg("Sign-up must be 'open' or 'closed'.")
RESET_REASON_MISSING = Msg("Say why you are resetting (it goes into the audit log).")
RESET_REASON_TOO_LONG = Msg("Keep the reason under {max} characters.")
# The CLI's words after a reason problem (RESET_REASON_MISSING or _TOO_LONG).
USE_REASON_OPTION = Msg("{problem} Use --reason TEXT.")
NOTHING_TO_RESET = Msg(
    "{login} has not set up two-factor authentication, so there is nothing to "
    "reset: they sign in with their password alone. Nothing was changed."
)
RESET_NEEDS_CONFIRMED_ADDRESS = Msg(
    "{login} has no confirmed email address, so the link to set up 2FA again "
    "cannot reach them. An operator can run `twofold user reset-2fa LOGIN --reason \u2026 "
    "--print-link` and hand the link over in person."
)
# A confirmation the operator declined (the CLI exits 0: an answer, not an error).
NOT_APPLIED = Msg("Not applied: nothing was changed.")

# -- Pages: notices, form prompts and error pages (templates hold the rest, for now) ---------
NOTICE_SIGN_IN_EXPIRED = Msg(
    "Your sign-in expired before you entered a code. Enter your password again."
)
NOTICE_SIGNED_OUT = Msg("You are signed out.")
NOTICE_SIGN_IN_WITH_NEW_PASSWORD = Msg("Your password was changed. Sign in with the new one.")
NOTICE_PASSWORD_RESET = Msg("Your new password is set and all sessions were signed out. Sign in.")
NOTICE_SESSION_ENDED = Msg(
    "You were signed out. Your session was ended, for example because an administrator "
    "signed everyone out when your organization's sign-in rules changed, or because it "
    "timed out. Sign in again to continue."
)
NOTICE_SIGN_IN_FIRST = Msg("Sign in first; then we'll take you back to the link you opened.")
NOTICE_AUTHENTICATOR_ADDED = Msg(
    "Authenticator added. A code from any of your authenticators now signs you in."
)
NOTICE_AUTHENTICATOR_RENAMED = Msg("Authenticator renamed.")
NOTICE_PASSKEY_ADDED = Msg(
    "Security key or passkey added. You can use it at the second step of signing in."
)
NOTICE_PASSKEY_RENAMED = Msg("Security key or passkey renamed.")
NOTICE_PASSKEY_REMOVED = Msg("Security key or passkey removed. It no longer signs you in.")
NOTICE_AUTHENTICATOR_REMOVED = Msg(
    "Authenticator removed. Its codes no longer sign you in; your other authenticators do."
)
NOTICE_TWO_FACTOR_OFF = Msg(
    "Two-factor authentication is off. Your password alone now signs you in."
)
NOTICE_PASSWORD_CHANGED = Msg("Your password was changed. Your other sessions were signed out.")
NOTICE_TWO_FACTOR_ON = Msg(
    "Two-factor authentication is on. You'll be asked for a code when you sign in."
)
NOTICE_TWO_FACTOR_NOT_OFFERED = Msg("Your organization does not use two-factor authentication.")
NOTICE_THAT_SESSION_ENDED = Msg("That session is signed out.")
NOTICE_OTHER_SESSIONS_ENDED = Msg("All your other sessions are signed out.")
NOTICE_EMAIL_CONFIRMATION_SENT = Msg(
    "We sent a confirmation link to {address}. The address changes when you open it."
)
NOTICE_RESET_LINK_SENT = Msg(
    "If an account has this verified email address, we sent it a link to choose a new "
    "password. The link works for {minutes} minutes. Check your spam folder if nothing arrives."
)
NOTICE_MEMBER_RESET = Msg(
    "Two-factor authentication was reset. The member got an email with a link to set it up again."
)
NOTICE_MEMBER_UNLOCKED = Msg("The member's second factor is unlocked.")
NOTICE_MEMBER_REMOVED = Msg("The member was removed from the organization and signed out.")
NOTICE_ACCOUNT_DEACTIVATED = Msg("The account was deactivated and signed out everywhere.")
NOTICE_POLICY_APPLIED = Msg("The 2FA policy was applied.")
NOTICE_INVITATION_SENT = Msg("The invitation was sent.")
ENTER_LOGIN_AND_PASSWORD = Msg("Enter your login name (or email) and your password.")
ENTER_SIX_DIGIT_CODE = Msg("Enter the 6-digit code from your authenticator app.")
ENTER_CODE_YOUR_APP_SHOWS = Msg("Enter the 6-digit code your app shows.")
ENTER_SETUP_CODE = Msg("Enter the 6-digit code your authenticator app shows for this account.")
ENTER_RECOVERY_CODE = Msg("Enter one of your recovery codes.")
ENTER_ACCOUNT_EMAIL = Msg("Enter the email address of your account.")
LINK_FOR_ANOTHER_ACCOUNT = Msg("This link is for another account. Sign out, then open it again.")
LINK_FOR_ANOTHER_ACCOUNT_UNCHANGED = Msg(
    "This link is for another account than the one signed in here, so nothing was changed. "
    "If the link is yours, sign out and open it again."
)
TITLE_FORM_EXPIRED = Msg("This form has expired")
FORM_EXPIRED = Msg(
    "For your safety we could not accept that form: it was open too long, or it "
    "came from another site. Go back, reload the page and try again."
)
TITLE_THAT_DID_NOT_WORK = Msg("That didn't work")
TITLE_FORM_INCOMPLETE = Msg("That form was not complete")
FORM_INCOMPLETE = Msg("Something in the form was missing or malformed. Go back and try again.")
TITLE_PAGE_NOT_FOUND = Msg("Page not found")
TITLE_NOT_ALLOWED_HERE = Msg("Not allowed here")
NO_PAGE_HERE = Msg("There is no page at this address.")
METHOD_NOT_ACCEPTED = Msg("This address does not accept that kind of request.")
TITLE_ERROR = Msg("Error")
UNEXPECTED_ERROR = Msg(
    "Something went wrong on our side. Nothing was changed. Please try again in a moment."
)
REQUEST_TOO_LARGE = Msg("Request body too large")
# The recovery codes' .txt, one line each above the codes.
RECOVERY_CODES_FILE_TITLE = Msg("Twofold recovery codes for {login}")
RECOVERY_CODES_FILE_SITE = Msg("Site: {url}")
RECOVERY_CODES_FILE_MADE = Msg("Made: {time} UTC (older codes no longer work)")
RECOVERY_CODES_FILE_USE = Msg("Each code signs you in once instead of an authentication code.")

# -- Activity and audit lists: what happened, in the words of the security page -------------
EVENT_SIGN_IN_SUCCEEDED = Msg("Signed in")
EVENT_SIGN_IN_PASSWORD_FAILED = Msg("Wrong password entered")
EVENT_SECOND_FACTOR_FAILED = Msg("Wrong authentication code entered")
EVENT_SECOND_FACTOR_CODE_REUSED = Msg("An already used code was entered")
EVENT_SECOND_FACTOR_LOCKED = Msg("Two-factor sign-in locked after wrong codes")
EVENT_SECOND_FACTOR_UNLOCKED = Msg("Two-factor sign-in unlocked")
EVENT_RECOVERY_CODE_USED = Msg("Signed in with a recovery code")
EVENT_RECOVERY_CODES_REGENERATED = Msg("New recovery codes made")
EVENT_TWO_FACTOR_ENABLED = Msg("Two-factor authentication turned on")
EVENT_TWO_FACTOR_DISABLED = Msg("Two-factor authentication turned off")
EVENT_AUTHENTICATOR_ADDED = Msg("Authenticator added")
EVENT_AUTHENTICATOR_RENAMED = Msg("Authenticator renamed")
EVENT_AUTHENTICATOR_REMOVED = Msg("Authenticator removed")
EVENT_PASSKEY_ADDED = Msg("Security key or passkey added")
EVENT_PASSKEY_RENAMED = Msg("Security key or passkey renamed")
EVENT_PASSKEY_REMOVED = Msg("Security key or passkey removed")
EVENT_PASSKEY_REFUSED = Msg("A security key or passkey was refused")
EVENT_SIGN_COUNT_REGRESSED = Msg("Refused: a security key that looks copied")
EVENT_PASSWORD_CHANGED = Msg("Password changed")
EVENT_PASSWORD_CHECK_FAILED = Msg("Wrong current password entered")
EVENT_PASSWORD_RESET_REQUESTED = Msg("Password reset link sent")
EVENT_PASSWORD_RESET = Msg("Password reset by email link")
EVENT_EMAIL_CHANGE_REQUESTED = Msg("Email address change requested")
EVENT_EMAIL_VERIFIED = Msg("Email address confirmed")
EVENT_SIGNED_OUT = Msg("Signed out")
EVENT_SESSION_ENDED = Msg("Signed out from the security page")
EVENT_USER_CREATED = Msg("Account created")
EVENT_ORGANIZATION_SWITCHED = Msg("Switched organization")
EVENT_ORGANIZATION_SWITCH_REFUSED = Msg("Refused: switch to an organization you are not in")
EVENT_MEMBERSHIP_ADDED = Msg("Added to an organization")
EVENT_MEMBERSHIP_REMOVED = Msg("Removed from an organization")
EVENT_TWO_FACTOR_RESET_BY_ADMIN = Msg("Two-factor authentication reset by an administrator")
EVENT_TWO_FACTOR_REENROLLED = Msg("Two-factor authentication set up again after a reset")
EVENT_ADMIN_ACTION_REFUSED = Msg("Refused: an admin action without permission")
EVENT_USER_DEACTIVATED = Msg("Account deactivated")
EVENT_INVITATION_SENT = Msg("Invitation sent")
EVENT_INVITATION_ACCEPTED = Msg("Invitation accepted")
EVENT_ORGANIZATION_CREATED = Msg("Organization created")
EVENT_ORGANIZATION_POLICY_CHANGED = Msg("2FA policy changed")
EVENT_ORGANIZATION_MEMBERS_SIGNED_OUT = Msg("Everyone signed out by an admin")
EVENT_SIGNUP_REFUSED = Msg("Refused: sign-up for a closed organization")
EVENT_RECOVERY_CODES_DISCARDED = Msg("Recovery codes withdrawn by a key rotation")
UNKNOWN_BROWSER = Msg("Unknown browser")
BROWSER_ON_SYSTEM = Msg("{browser} on {system}")
# An audit event's details: the policy's before -> after, then "label: value" lines.
DETAIL_POLICY = Msg("Policy: {before} \u2192 {after}")
DETAIL_LINE = Msg("{label}: {value}")
DETAIL_REASON = Msg("Reason")
DETAIL_SESSIONS_ENDED = Msg("Sessions ended")
DETAIL_OTHER_SESSIONS_ENDED = Msg("Other sessions ended")
DETAIL_ROLE = Msg("Role")
DETAIL_LOCKED_UNTIL = Msg("Locked until")
DETAIL_CODES_LEFT = Msg("Recovery codes left")

# -- Emails --------------------------------------------------------------------------------
EMAIL_HELLO = Msg("Hello,")
EMAIL_OR_OPEN = Msg("Or open this address: {url}")
IF_NOT_YOU = Msg(
    "If this wasn't you, someone may know your password: change it now and contact your "
    "administrator."
)
IF_YOU_DID_NOT_ASK = Msg("If you didn't ask for this, ignore this message.")
SUBJECT_TWO_FACTOR_ENABLED = Msg("two-factor authentication turned on")
TWO_FACTOR_ENABLED = Msg(
    "Two-factor authentication was turned on for your account {login}. From now on "
    "you sign in with your password and a code from your authenticator app."
)
SUBJECT_TWO_FACTOR_DISABLED = Msg("two-factor authentication turned off")
TWO_FACTOR_DISABLED = Msg(
    "Two-factor authentication was turned off for your account {login}. Your password "
    "alone now signs you in."
)
SUBJECT_AUTHENTICATOR_ADDED = Msg("an authenticator was added")
AUTHENTICATOR_ADDED = Msg(
    "An authenticator named “{name}” was added to your account {login}. Codes from it now "
    "sign you in, as do those of your other authenticators."
)
SUBJECT_AUTHENTICATOR_REMOVED = Msg("an authenticator was removed")
AUTHENTICATOR_REMOVED = Msg(
    "The authenticator named “{name}” was removed from your account {login}. Its codes no "
    "longer sign you in, and the applications you signed in to must ask you again."
)
SUBJECT_PASSKEY_ADDED = Msg("a security key or passkey was added")
PASSKEY_ADDED = Msg(
    "A security key or passkey named “{name}” was added to your account {login}. It now "
    "signs you in as a second factor."
)
SUBJECT_PASSKEY_REMOVED = Msg("a security key or passkey was removed")
PASSKEY_REMOVED = Msg(
    "The security key or passkey named “{name}” was removed from your account {login}. It "
    "no longer signs you in, and the applications you signed in to must ask you again."
)
SUBJECT_RECOVERY_CODES_REGENERATED = Msg("new recovery codes")
RECOVERY_CODES_REGENERATED = Msg(
    "A new set of recovery codes was made for your account {login}. The old codes no longer work."
)
SUBJECT_RECOVERY_CODE_USED = Msg("a recovery code was used")
RECOVERY_CODE_USED = Plural(
    "Someone signed in to your account {login} with one of your recovery codes. "
    "You have {n} recovery code left.",
    "Someone signed in to your account {login} with one of your recovery codes. "
    "You have {n} recovery codes left.",
)
LOST_PHONE = Msg(
    "If you lost your phone, set up two-factor authentication again on a new one. {if_not_you}"
)
SUBJECT_SECOND_FACTOR_LOCKED = Msg("sign-in locked after wrong codes")
SECOND_FACTOR_LOCKED_UNTIL = Msg(
    "Too many wrong authentication codes were entered for your account {login}, so "
    "two-factor sign-in is locked until {time} UTC."
)
SECOND_FACTOR_LOCKED_UNTIL_UNLOCKED = Msg(
    "Too many wrong authentication codes were entered for your account {login}, so "
    "two-factor sign-in is locked until an administrator unlocks it."
)
SOMEONE_KNOWS_YOUR_PASSWORD = Msg(
    "If this wasn't you, someone knows your password: change it as soon as you can "
    "sign in, and contact your administrator."
)
SUBJECT_PASSWORD_CHANGED = Msg("password changed")
PASSWORD_CHANGED = Msg(
    "The password of your account {login} was changed, and your other sessions were signed out."
)
SUBJECT_EMAIL_CHANGE_REQUESTED = Msg("email address change requested")
EMAIL_CHANGE_REQUESTED = Msg(
    "Someone asked to change the email address of your account {login} to "
    "{new_address}. It changes once the new address is confirmed."
)
IF_NOT_YOU_CHANGE_PASSWORD = Msg(
    "If this wasn't you, change your password now and contact your administrator."
)
SUBJECT_EMAIL_CHANGED = Msg("email address changed")
EMAIL_CHANGED = Msg(
    "The email address of your account {login} is now {new_address}. "
    "Security notices go there from now on."
)
IF_NOT_YOU_CONTACT_ADMIN = Msg("If this wasn't you, contact your administrator.")
SUBJECT_SIGN_IN_AFTER_FAILED_CODES = Msg("sign-in after wrong codes")
SIGN_IN_AFTER_FAILED_CODES = Msg(
    "Your account {login} was signed in to after {failures} wrong authentication codes in a row."
)
SUBJECT_VERIFY_EMAIL = Msg("confirm your email address")
VERIFY_EMAIL = Msg(
    "Confirm that this address belongs to your account {login}. The link works for {hours} hours."
)
ACTION_VERIFY_EMAIL = Msg("Confirm email address")
SUBJECT_PASSWORD_RESET = Msg("reset your password")
PASSWORD_RESET = Msg(
    "Someone asked to reset the password of your account {login}. The link works "
    "once, for {minutes} minutes. It does not turn off two-factor authentication."
)
PASSWORD_RESET_NOT_ASKED = Msg(
    "If you didn't ask for this, ignore this message: your password stays as it is."
)
ACTION_PASSWORD_RESET = Msg("Choose a new password")
SUBJECT_SIGNUP_WITH_TAKEN_ADDRESS = Msg("someone tried to sign up with your address")
SIGNUP_WITH_TAKEN_ADDRESS = Msg(
    "Someone tried to create an account in {organization} with this email address, "
    "which already belongs to your account {login}. No new account was made."
)
SIGNUP_WITH_TAKEN_ADDRESS_WHAT_TO_DO = Msg(
    "If it was you, sign in with your account instead; if you forgot your password, "
    "choose \u201cForgot your password?\u201d on the sign-in page. If it wasn't you, "
    "ignore this message: nothing changed."
)
ACTION_SIGN_IN = Msg("Sign in")
SUBJECT_INVITATION = Msg("you're invited to {organization}")
INVITATION = Msg(
    "You are invited to join {organization} on {issuer} "
    "as {role}. Choose a login name and a password with this link; "
    "it works once, for 7 days."
)
IF_NOT_EXPECTED = Msg("If you didn't expect this, ignore this message.")
ACTION_ACCEPT_INVITATION = Msg("Accept the invitation")
SUBJECT_TWO_FACTOR_RESET = Msg("set up two-factor authentication again")
TWO_FACTOR_RESET = Msg(
    "An administrator reset two-factor authentication for your account {login}, "
    "for example because you lost your phone. Your old authenticator entry and "
    "recovery codes no longer work, and you were signed out everywhere."
)
TWO_FACTOR_RESET_WHAT_TO_DO = Msg(
    "To use your account again, sign in and set up two-factor authentication with "
    "this link. It works once, for {hours} hours. If you didn't ask for this, contact your "
    "administrator."
)
ACTION_SET_UP_TWO_FACTOR = Msg("Set up two-factor authentication")

# --- OpenID Connect clients (services/oidc_clients.py) ----------------------------------------
CLIENT_NAME_REQUIRED = Msg("Give the application a name (at most 200 characters).")
CLIENT_NAME_TAKEN = Msg(
    "This organization already has an application named '{name}': choose another name, or "
    "revoke the old one first."
)
CLIENT_REDIRECT_URI_REQUIRED = Msg("Give at least one redirect URI.")
CLIENT_ID_TOKEN_ALG_INVALID = Msg(
    "'{alg}' is not an ID token signing algorithm Twofold offers: choose RS256 or ES256."
)
CLIENT_REDIRECT_URI_INVALID = Msg(
    "'{uri}' is not a usable redirect URI: give an absolute https:// address (http:// only "
    "for localhost), without a fragment, wildcard, user name or password."
)
NO_SUCH_CLIENT = Msg("There is no application with client ID '{client_id}'.")
CLIENT_TOO_MANY_URIS = Msg("Give at most {max} redirect URIs of each kind.")
CLIENT_URI_TOO_LONG = Msg("A redirect URI is at most {max} characters long.")
CLIENT_ALREADY_REVOKED = Msg(
    "The application '{name}' ({client_id}) was already revoked. Nothing was changed."
)
CLIENT_REVOKED_NO_NEW_SECRET = Msg(
    "The application '{name}' ({client_id}) is revoked: it cannot get a new secret. "
    "Register it again instead."
)
CLIENT_IS_PUBLIC = Msg(
    "The application '{name}' ({client_id}) is public: it has no secret to rotate (it "
    "proves itself with PKCE instead)."
)
EVENT_CLIENT_CREATED = Msg("Application registered")
EVENT_CLIENT_REVOKED = Msg("Application revoked")
EVENT_CLIENT_SECRET_ROTATED = Msg("Application secret replaced")
DETAIL_APPLICATION = Msg("Application")
DETAIL_CLIENT_ID = Msg("Client ID")
DETAIL_GRANTS_REVOKED = Msg("Sign-ins ended")
NOTICE_CLIENT_REVOKED = Msg(
    "The application was revoked: its sign-ins and tokens stopped working at once."
)
# Who did it, in the admins' email: a console admin or the operator's CLI.
BY_ADMINISTRATOR = Msg("The administrator {login}")
BY_OPERATOR = Msg("An operator, on the command line,")
SUBJECT_CLIENT_CREATED = Msg("application '{name}' registered for {organization}")
CLIENT_CREATED = Msg(
    "{actor} registered the application '{name}' (client ID {client_id}) for "
    "{organization}. Members of {organization} can now sign in to it with their account."
)
SUBJECT_CLIENT_REVOKED = Msg("application '{name}' revoked for {organization}")
CLIENT_REVOKED = Msg(
    "{actor} revoked the application '{name}' (client ID {client_id}) for {organization}. "
    "Nobody can sign in to it through this account any more, and its tokens stopped working."
)
IF_NOT_EXPECTED_CHECK_APPLICATIONS = Msg(
    "You get this because you administer {organization}. If you didn't expect it, check "
    "the organization's applications in the admin console."
)
ACTION_OPEN_APPLICATIONS = Msg("Open the applications")

# --- OpenID Connect: signing keys (CLI) and connected applications (security page) ------------
DURATION_SHAPE = Msg(
    "'{given}' is not a duration: give a number and a unit, such as 24h, 30m, 2d or 1h30m "
    "(d days, h hours, m minutes, s seconds), or 0 for now."
)
DURATION_TOO_LONG = Msg("A duration of at most {days} days, please.")
NO_SUCH_CONNECTED_APPLICATION = Msg("That application is not connected to your account.")
NOTICE_APPLICATION_REVOKED = Msg(
    "The application is disconnected: it must ask you to sign in again."
)
EVENT_OIDC_GRANTS_REVOKED = Msg("Application access revoked")

# --- OpenID Connect sign-in (services/oidc_flow.py, twofold/oidc/) ---------------------------
OIDC_REQUEST_REFUSED = Msg("The application's sign-in request was refused.")
OIDC_UNKNOWN_CLIENT = Msg(
    "This sign-in link names an application Twofold does not know (or no longer serves). "
    "Go back to the application and try again; if it keeps happening, tell its administrator."
)
OIDC_UNKNOWN_REDIRECT = Msg(
    "This sign-in link would send you to an address the application did not register, so "
    "Twofold will not go there. Tell the application's administrator."
)
OIDC_MISSING_PARAMETER = Msg("The request lacks the parameter '{name}'.")
OIDC_BAD_PARAMETER = Msg("The parameter '{name}' has a value Twofold does not accept.")
OIDC_ONLY_CODE_FLOW = Msg("Only response_type=code is supported.")
OIDC_OPENID_SCOPE_REQUIRED = Msg("The scope must include 'openid'.")
OIDC_PKCE_REQUIRED = Msg("A public client must send a PKCE code_challenge (S256).")
OIDC_PKCE_S256_ONLY = Msg("Only the S256 code_challenge_method is supported.")
OIDC_LOGIN_REQUIRED = Msg("The person must sign in.")
OIDC_INTERACTION_REQUIRED = Msg("The person must complete a step on a Twofold page.")
OIDC_NOT_A_MEMBER = Msg("The person is not a member of the application's organization.")
OIDC_TWO_FACTOR_DECLINED = Msg("The person did not set up two-factor authentication.")
OIDC_TWO_FACTOR_UNAVAILABLE = Msg(
    "A second factor is required, but two-factor authentication is not available in the "
    "person's organization."
)
OIDC_CLIENT_AUTHENTICATION_FAILED = Msg("Client authentication failed.")
OIDC_UNSUPPORTED_GRANT_TYPE = Msg("Only authorization_code and refresh_token are supported.")
OIDC_INVALID_CODE = Msg("The authorization code is unknown, used, expired or not yours.")
OIDC_REDIRECT_URI_MISMATCH = Msg("The redirect_uri differs from the authorization request's.")
OIDC_PKCE_MISMATCH = Msg("The code_verifier does not match the code_challenge.")
OIDC_INVALID_REFRESH_TOKEN = Msg("The refresh token is unknown, used, expired or revoked.")
OIDC_SIGN_IN_NO_LONGER_VALID = Msg(
    "The sign-in this token came from is no longer valid; the person must sign in again."
)
OIDC_INVALID_ACCESS_TOKEN = Msg("The access token is unknown, expired or revoked.")
OIDC_POST_LOGOUT_REDIRECT_UNKNOWN = Msg(
    "The application asked to send you to an address it did not register after signing out."
)
TITLE_APPLICATION_SIGN_IN = Msg("Signing in to an application")
TITLE_NOT_FOR_YOU = Msg("This application is not available to you")
EVENT_OIDC_TOKEN_ISSUED = Msg("Signed in to an application")
EVENT_OIDC_TOKEN_REFUSED = Msg("Application token refused")
EVENT_OIDC_TOKEN_REFRESHED = Msg("Application session renewed")
EVENT_OIDC_SIGN_IN_REFUSED = Msg("Application sign-in refused")
EVENT_OIDC_SIGNED_OUT = Msg("Signed out from an application")
EVENT_FORWARD_AUTH_REFUSED = Msg("Sign-in to a proxied application refused")
TITLE_FORWARD_REFUSED = Msg("Not available to you")
FORWARD_NOT_A_MEMBER = Msg(
    "Your account is not a member of the organization this address belongs to, so Twofold "
    "cannot let you in. If you should have access, ask an administrator of that organization "
    "to invite you."
)
FORWARD_TWO_FACTOR_UNAVAILABLE = Msg(
    "This address requires two-factor authentication, and none of your organizations offers "
    "it. Ask an administrator of your organization."
)
NOTICE_FORWARD_SIGN_IN_DECLINED = Msg(
    "You chose not to set up two-factor authentication now, so the application you were "
    "signing in to stays closed to you. Turn it on here whenever you are ready, then open the "
    "application again."
)

# --- Organization API keys and the verify endpoint (issue #11) -------------------------------
API_KEY_NAME_REQUIRED = Msg("Give the key a name (at most 200 characters).")
API_KEY_RATE_INVALID = Msg("Requests per minute must be a whole number from 1 to {max}.")
NO_SUCH_API_KEY = Msg("There is no API key with ID {key_id}.")
API_KEY_ALREADY_REVOKED = Msg("The API key '{name}' (ID {key_id}) is already revoked.")
API_KEY_MISSING = Msg(
    "Send the organization's API key in the Authorization header: 'Bearer <key>'."
)
API_KEY_INVALID = Msg("The API key is unknown or revoked.")
API_KEY_RATE_LIMITED = Msg("This API key sent too many requests; try again in {seconds} seconds.")
OIDC_CLIENT_RATE_LIMITED = Msg(
    "This client sent too many token requests; try again in {seconds} seconds."
)

# --- Request-rate limits and Redis (issue #13, decision 0023) ---------------------------------
TITLE_TOO_MANY_REQUESTS = Msg("Too many requests")
ADDRESS_RATE_LIMITED = Msg(
    "Too many requests came from your network address in a short time. Wait {wait}, then try again."
)
REDIS_URL_SHAPE = Msg(
    "TWOFOLD_REDIS_URL must be an address such as redis://127.0.0.1:6379/0 (or "
    "redis://:password@host:6379/0, rediss:// for TLS, unix:///path/to/redis.sock)."
)
REDIS_NOT_ANSWERING = Msg(
    "Redis at {where} is not answering ({error}): request-rate limits are counted by each "
    "process on its own until it answers again (tried again every {seconds} seconds)."
)
REDIS_ANSWERS_AGAIN = Msg(
    "Redis at {where} answers again: request-rate limits are shared by every process again."
)
API_BODY_INVALID = Msg(
    "Send a JSON object with exactly two strings, 'user' and 'code', and nothing else."
)
EVENT_API_KEY_CREATED = Msg("API key created")
EVENT_API_KEY_REVOKED = Msg("API key revoked")
EVENT_API_KEY_VERIFIED = Msg("Second factor checked through an API key")
EVENT_API_KEY_CODE_FAILED = Msg("Wrong code through an API key")
EVENT_API_KEY_LOCKED = Msg("API key stopped answering for this person")
DETAIL_API_KEY_ID = Msg("API key ID")
SUBJECT_API_KEY_CREATED = Msg("API key '{name}' created for {organization}")
API_KEY_CREATED = Msg(
    "{actor} created the API key '{name}' (ID {key_id}) for {organization}. Whoever holds "
    "it can check the second factor of {organization}'s members."
)
SUBJECT_API_KEY_REVOKED = Msg("API key '{name}' revoked for {organization}")
API_KEY_REVOKED = Msg(
    "{actor} revoked the API key '{name}' (ID {key_id}) for {organization}. It stopped "
    "working at once."
)
IF_NOT_EXPECTED_CHECK_API_KEYS = Msg(
    "You get this because you administer {organization}. If you didn't expect it, check "
    "the organization's API keys in the admin console."
)
ACTION_OPEN_API_KEYS = Msg("Open the API keys")
TITLE_API_KEYS = Msg("API keys")
API_KEY_SHOWN_ONCE = Msg(
    "Copy this key now: it is shown only once. Twofold keeps only a hash of it."
)
NOTICE_API_KEY_REVOKED = Msg("The API key was revoked: it stopped working at once.")
API_KEY_NAME_TAKEN = Msg(
    "This organization already has an active API key named '{name}': choose another name, "
    "or revoke that key first."
)
# The JSON API (/api/v1): its own refusals, in the {"error", "message"} shape.
API_REQUEST_INVALID = Msg(
    "The request was missing something, had an unknown field, or a value of the wrong type "
    "or size. See /api/openapi.json for what this address accepts."
)
API_TOKEN_MISSING = Msg(
    "Sign in first: send the header 'Authorization: Bearer <token>' with a token from "
    "POST /api/v1/sign-in."
)
API_TOKEN_INVALID = Msg("That API token is unknown, expired or revoked. Sign in again.")
API_CHALLENGE_INVALID = Msg(
    "That sign-in challenge is unknown, already used or expired. Sign in again with your password."
)
API_TWO_FACTOR_SETUP_REQUIRED = Msg(
    "Your organization requires two-factor authentication: set it up first "
    "(POST /api/v1/me/two-factor/totp, then /api/v1/me/two-factor/totp/confirm)."
)
API_SECOND_FACTOR_REQUIRED = Msg(
    "Your organization requires your second factor in this sign-in. Sign in again with "
    "your password and a code."
)
API_REQUEST_TOO_LARGE = Msg("The request body is larger than this API accepts.")

# --- SMS providers (issue #12; notify/sms.py) ---------------------------------------------
SMS_SEND_FAILED = Msg(
    "We could not send the text message. Try again in a moment, or use another method or a "
    "recovery code."
)
EVENT_SMS_SENT = Msg("Text message sent")
EVENT_SMS_SEND_FAILED = Msg("A text message could not be sent")
SMS_SETTING_MISSING = Msg(
    "TWOFOLD_SMS_PROVIDER={provider} needs {variable} to be set. See docs/sms.md."
)
SMS_WEBHOOK_URL_SHAPE = Msg(
    "TWOFOLD_SMS_WEBHOOK_URL must be an http:// or https:// address with a host, such as "
    "https://sms-gateway.example.org/send. See docs/sms.md."
)
SMS_WEBHOOK_SECRET_TOO_SHORT = Msg(
    "TWOFOLD_SMS_WEBHOOK_SECRET must be at least {min} characters long. Generate one with "
    "`openssl rand -hex 32` and give the gateway the same value."
)
PRODUCTION_REFUSES_SMS_OUTBOX = Msg(
    "TWOFOLD_ENV=production cannot write text messages to the development outbox while an "
    "organization allows SMS: set TWOFOLD_SMS_PROVIDER to twilio or webhook. See docs/sms.md."
)

# --- SMS as a second factor (issue #12; services/sms.py, decision 0021) ------------------
EVENT_SMS_LIMIT_REACHED = Msg("A text message was refused: too many were asked for")
SMS_CODE_MESSAGE = Msg(
    "{code} is your {issuer} code. It expires in {minutes} minutes. Never tell it to anyone: "
    "{issuer} will never ask for it."
)
PHONE_INVALID = Msg(
    "That is not a phone number we can send codes to. Enter your mobile number with its "
    "country code, such as +44 7911 123456."
)
PHONE_NOT_MOBILE = Msg(
    "That number cannot receive text messages (it is not a mobile number). Enter your "
    "mobile phone's number."
)
PHONE_COUNTRY_NOT_ALLOWED = Msg(
    "Codes can only be sent to phone numbers from these countries: {countries}. Use an "
    "authenticator app instead."
)
SMS_NOT_AVAILABLE = Msg(
    "Codes by text message are not available here. Use an authenticator app instead."
)
SMS_ALREADY_ON = Msg(
    "You already receive codes by text message. To use another number, remove the one you "
    "have first."
)
SMS_NOT_SET_UP = Msg("You have no phone set up for codes by text message.")
SMS_RESEND_WAIT = Plural(
    "You can ask for a new code in {n} second.", "You can ask for a new code in {n} seconds."
)
SMS_ACCOUNT_LIMIT = Msg(
    "You have asked for too many codes by text message this hour. Use your authenticator "
    "app or a recovery code, or try again later."
)
SMS_BUSY = Msg(
    "Codes by text message cannot be sent right now. Use your authenticator app or a "
    "recovery code, or try again later."
)
SMS_NO_LIVE_CODE = Msg(
    "That code has expired, was used, or was tried too many times. Ask for a new code."
)
ENTER_SMS_CODE = Msg("Enter the 6-digit code we sent to your phone.")
METHOD_CHOICES = Msg("Methods must be a list of totp and sms, such as totp,sms.")
TOTP_ALWAYS_ALLOWED = Msg(
    "TOTP (authenticator apps) is always allowed: it is the default and recommended method. "
    "Use --methods totp or --methods totp,sms."
)
SMS_NEEDS_COUNTRIES = Msg(
    "SMS cannot be allowed while TWOFOLD_SMS_ALLOWED_COUNTRIES is empty: name the countries "
    "whose numbers may receive codes (such as GB,IE). See docs/sms.md."
)
NOTICE_SMS_ADDED = Msg("Codes by text message are on. You can now sign in with a code we text you.")
NOTICE_SMS_CODE_SENT = Msg("We sent a code to {phone}.")
SMS_ANOTHER_METHOD_OWED = Msg(
    "{organization} no longer allows codes by text message. Add an authenticator app to "
    "keep signing in."
)
SMS_CHANGE_CODE_SENT = Msg(
    "We texted a code to your phone. Enter it below with your password; it works for 5 minutes."
)

# --- Organization passkey policies (issue 14, decision 0029) ---------------------------------
PASSKEYS_CHOICES = Msg("Passkeys must be one of: off, second-factor, passwordless.")
PHISHING_RESISTANT_CHOICES = Msg("Phishing-resistant must be one of: off, admins, all.")
REMEMBER_DAYS_RANGE = Msg(
    "Remember-this-browser days are a whole number from 0 (off) to {max_days}."
)
PHISHING_RESISTANT_NEEDS_PASSKEYS = Msg(
    "Security keys and passkeys cannot be required while they are turned off: allow them "
    "(second-factor or passwordless) or set phishing-resistant to off."
)
OIDC_SECURITY_KEY_UNAVAILABLE = Msg(
    "A security key or passkey is required, but none is registered and the person's "
    "organization does not offer them."
)
FORWARD_SECURITY_KEY_UNAVAILABLE = Msg(
    "This address requires a security key or passkey, and your organization does not offer "
    "them. Ask an administrator of your organization."
)

# -- Remember this browser (decision 0028) -------------------------------------------------
REMEMBER_THIS_BROWSER = Plural(
    "Don't ask for a code on this browser for {n} day",
    "Don't ask for a code on this browser for {n} days",
)
NO_SUCH_REMEMBERED_BROWSER = Msg("That browser is not remembered (any more).")
NOTICE_REMEMBERED_BROWSER_FORGOTTEN = Msg(
    "That browser is forgotten: it will be asked for a code at its next sign-in."
)
NOTICE_REMEMBERED_BROWSERS_FORGOTTEN = Msg(
    "Every remembered browser is forgotten: each will be asked for a code at its next sign-in."
)
NOTICE_MEMBER_BROWSERS_FORGOTTEN = Msg(
    "The member's remembered browsers are forgotten: each will be asked for a code again."
)
EVENT_REMEMBERED_BROWSER_ADDED = Msg("Browser remembered: no code asked there for a while")
EVENT_REMEMBERED_BROWSER_USED = Msg("Signed in on a remembered browser, without a code")
EVENT_REMEMBERED_BROWSER_REFUSED = Msg("A remembered browser was refused: the code was asked")
EVENT_REMEMBERED_BROWSER_FORGOTTEN = Msg("Remembered browsers forgotten")
