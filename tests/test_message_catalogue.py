"""Every user-facing sentence lives in the catalogue (twofold.core.words): the extracted
template is up to date, errors and emails are given catalogue messages rather than English
literals, and each message is given exactly the parameters it has. See docs/decisions/
0013-message-catalogue.md."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

import twofold.crypto.keyring
import twofold.services.keys
from twofold.core import errors as e
from twofold.core import words
from twofold.core.words import Msg, Plural
from twofold.web.errors import and_list, message_for

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "twofold"
TEMPLATE = PACKAGE / "locale" / "twofold.pot"
CATALOGUE_MODULE = PACKAGE / "core" / "words.py"


def catalogue() -> dict[str, Msg | Plural]:
    return {name: v for name, v in vars(words).items() if isinstance(v, Msg | Plural)}


def msgid_of(message: Msg | Plural) -> str | tuple[str, str]:
    return message.msgid if isinstance(message, Msg) else (message.singular, message.plural)


# --- the template translators start from ---------------------------------------------------


def test_the_extracted_template_is_up_to_date() -> None:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    extracted = {
        msgid
        for _file, _line, msgid, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map
        )
    }
    with TEMPLATE.open("rb") as handle:
        in_template = {message.id for message in read_po(handle) if message.id}
    hint = "run `make messages` and commit src/twofold/locale/twofold.pot"
    assert extracted - in_template == set(), f"missing from the template: {hint}"
    assert in_template - extracted == set(), f"no longer in the code: {hint}"


def test_every_message_of_the_catalogue_is_extracted() -> None:
    """A message written so that extraction misses it (not a plain literal) is refused."""
    with TEMPLATE.open("rb") as handle:
        in_template = {message.id for message in read_po(handle) if message.id}
    missing = [name for name, m in catalogue().items() if msgid_of(m) not in in_template]
    assert missing == []


# --- no English literals where a catalogue message belongs ---------------------------------


def subclasses(kind: type) -> Iterator[type]:
    for sub in kind.__subclasses__():
        yield sub
        yield from subclasses(sub)


# Callables whose text reaches people: errors (pages, CLI), email messages, key ring errors
# (shown by the CLI through ConfigurationError), the CLI's "Error:" line.
# The first argument of an error with a `field` (its name), an `error` (a protocol code,
# OidcRefused) or a `reason` (for the audit log, SmsSendFailed) is not words.
_NOT_WORDS = ("field", "error", "reason")
SAYERS: dict[str, set[str]] = {
    kind.__name__: {p for p in _NOT_WORDS if p in inspect.signature(kind.__init__).parameters}
    for kind in [*subclasses(e.TwofoldError), twofold.crypto.keyring.KeyRingError]
}
SAYERS |= {"Message": set(), "fail": set()}
# What a page says besides its template: the sentences given to `render`.
PAGE_SENTENCES = {"error", "notice", "title", "message"}


def is_literal_text(node: ast.AST) -> bool:
    """English written in place: a string literal, an f-string, a concatenation or
    `.format` of one, or a tuple of those (email paragraphs)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(node.value.strip())
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return is_literal_text(node.left) or is_literal_text(node.right)
    if isinstance(node, ast.Tuple):
        return any(is_literal_text(item) for item in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and is_literal_text(node.func.value)
    return False


def called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def literals_in_source(source: str, name: str) -> list[str]:
    """`name:line` of every user-facing literal given to an error, an email, `fail` (the
    CLI's "Error:" line), `refuse(message=...)` or a page's sentences (`render(...,
    error=, notice=, title=, message=)`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        skipped = SAYERS.get(called_name(node) or "")
        given: list[ast.AST] = []
        if skipped is not None:
            # the first positional argument of an error with a `field` is the field's name
            given = node.args[1:] if skipped else list(node.args)
            given += [k.value for k in node.keywords if k.arg not in skipped]
        if called_name(node) == "refuse":  # an admin refusal: recorded, then raised
            given = [k.value for k in node.keywords if k.arg == "message"]
        if called_name(node) == "render":  # a page: its template name is not words
            given = [k.value for k in node.keywords if k.arg in PAGE_SENTENCES]
        if any(is_literal_text(arg) for arg in given):
            found.append(f"{name}:{node.lineno}")
    return found


def literals_in(path: Path) -> list[str]:
    return literals_in_source(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))


def sources() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts]


def test_user_facing_words_are_catalogue_messages_not_literals() -> None:
    found = [hit for path in sources() for hit in literals_in(path)]
    assert found == [], (
        "give these a message of twofold.core.words (see docs/development.md, "
        f"'Words and translation'): {found}"
    )


def test_the_scan_finds_literals_and_passes_catalogue_messages() -> None:
    source = (
        "raise InvalidInput('email', 'Enter your email address.')\n"
        "raise NotFound(f'There is no user {login!r}.')\n"
        "raise InvalidInput('email', words.ENTER_EMAIL)\n"
        "raise NotFound(words.NO_SUCH_USER(login=login))\n"
        "raise refuse(db, message='Only a super-admin can do that.')\n"
        "Message('subject', ('First paragraph.',))\n"
        "raise ConfigurationError(str(exc))\n"
        "raise WeakPassword('Too short. ' + hint)\n"
        "render(request, 'login.html', error='Enter your password.', login=login)\n"
        "render(request, 'login.html', notice=words.NOTICE_SIGNED_OUT, login='')\n"
    )
    assert literals_in_source(source, "sample.py") == [
        "sample.py:1",
        "sample.py:2",
        "sample.py:5",
        "sample.py:6",
        "sample.py:8",
        "sample.py:9",
    ]


def test_messages_are_made_only_in_the_catalogue() -> None:
    made_elsewhere = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in sources()
        if path != CATALOGUE_MODULE
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and called_name(node) in {"Msg", "Plural"}
    ]
    assert made_elsewhere == []


def test_every_use_of_a_message_gives_exactly_its_parameters() -> None:
    messages = catalogue()
    wrong = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "words"
                and node.func.attr in messages
            ):
                continue
            given = {k.arg for k in node.keywords}
            if None in given:  # **params: checked when the message is made
                continue
            expected = messages[node.func.attr].placeholders
            if node.args or given != expected:
                wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {sorted(expected)}")
    assert wrong == []


# --- how pages say an error ---------------------------------------------------------------


def test_a_page_shows_the_words_an_input_error_was_given() -> None:
    error = e.InvalidInput("login", words.LOGIN_TAKEN)
    assert message_for(error) == "That login name is taken. Choose another."
    assert message_for(e.NotFound(words.NO_SUCH_USER(login="bob"))) == "There is no user 'bob'."
    assert message_for(e.NotFound()) == "We couldn't find that."
    assert message_for(e.Forbidden(words.SIGNUP_CLOSED)) == (
        "Sign-up is closed for this organization. Ask its administrator for an account."
    )


def test_a_page_never_shows_operator_words() -> None:
    """Key ids and settings are for the operator (the CLI prints them), not for a page."""
    error = e.KeysMismatch(words.MISSING_PRIMARY_KEY(kid="k2"))
    assert "k2" in error.detail
    assert message_for(error) == "Something went wrong. Please try again."


def test_a_page_says_how_long_a_lock_lasts() -> None:
    until = datetime(2026, 3, 1, 12, 15, tzinfo=UTC)
    said = message_for(e.SecondFactorLocked(until), until - timedelta(minutes=3))
    assert said == (
        "Too many wrong codes: two-factor sign-in is locked until 12:15 UTC (about 3 minutes). "
        "You can try again then."
    )


def test_the_template_filter_joins_names_and_catalogue_words() -> None:
    assert and_list(["Acme", "Bank", words.PLATFORM_ADMINISTRATORS]) == (
        "Acme, Bank and platform administrators"
    )
