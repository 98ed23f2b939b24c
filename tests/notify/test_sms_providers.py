"""SMS providers: Twilio and the signed webhook against a real HTTP server on 127.0.0.1 that
checks each request as the real receiver would; the development outbox; and the choice of
provider from the settings (docs/sms.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import stat
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from sms_gateway import (
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    WEBHOOK_SECRET,
    Answer,
    SmsGateway,
    twilio_error,
)
from smtp_server import free_port
from twofold.core import words
from twofold.core.errors import ConfigurationError
from twofold.notify.sms import (
    OutboxSms,
    SmsSender,
    SmsSendFailed,
    TwilioSms,
    WebhookSms,
    webhook_signature,
)
from twofold.otp.clock import FixedClock, SystemClock, unix_time
from twofold.services.runtime import make_sms_sender, outbox_refused_in_production
from twofold.settings import Settings
from twofold.web.errors import message_for, status_for

TO = "+14155550123"
MESSAGE = "Your Twofold code is 314159. It expires in 5 minutes."
# Short for the slow-provider tests, so that they are quick; generous for every other test,
# whose provider answers at once: a busy machine must not turn an answer into a timeout.
SHORT_TIMEOUT = 0.3
TIMEOUT = 10.0
SECRETS = (TWILIO_TOKEN, WEBHOOK_SECRET)


def twilio_sms(
    twilio: SmsGateway, *, token: str = TWILIO_TOKEN, timeout: float = TIMEOUT
) -> TwilioSms:
    return TwilioSms(
        account_sid=TWILIO_SID,
        auth_token=token,
        from_=TWILIO_FROM,
        base_url=twilio.base_url,
        timeout=timeout,
    )


def webhook_sms(
    gateway: SmsGateway,
    clock: FixedClock,
    *,
    secret: str = WEBHOOK_SECRET,
    timeout: float = TIMEOUT,
) -> WebhookSms:
    return WebhookSms(url=gateway.webhook_url, secret=secret, timeout=timeout, clock=clock)


def failure_of(sender: SmsSender, to: str = TO) -> SmsSendFailed:
    with pytest.raises(SmsSendFailed) as failed:
        sender.send(to, MESSAGE)
    return failed.value


def assert_says_nothing_secret(failure: SmsSendFailed) -> None:
    for said in (str(failure), failure.reason, repr(failure)):
        for secret in (*SECRETS, TO, "314159"):
            assert secret not in said


# --- Twilio -------------------------------------------------------------------------------


def test_twilio_posts_the_form_with_basic_auth_to_the_accounts_messages_resource(
    twilio: SmsGateway,
) -> None:
    twilio_sms(twilio).send(TO, MESSAGE)
    assert twilio.problems == []
    [request] = twilio.received
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {"To": [TO], "From": [TWILIO_FROM], "Body": [MESSAGE]}


def test_twilio_refusing_the_token_is_a_failure_that_names_twilios_code_not_the_token(
    twilio: SmsGateway,
) -> None:
    wrong = "another-token-that-must-never-show"
    failure = failure_of(twilio_sms(twilio, token=wrong))
    assert twilio.problems == ["basic auth"]
    assert failure.reason == "http 401 (twilio 20003: Authenticate)"
    assert_says_nothing_secret(failure)
    assert wrong not in failure.reason
    assert wrong not in str(failure)


def test_twilios_error_document_gives_the_reason_without_the_phone_number(
    twilio: SmsGateway,
) -> None:
    twilio.answer = twilio_error(400, 21211, f"The 'To' number {TO} is not a valid phone number.")
    failure = failure_of(twilio_sms(twilio))
    assert failure.reason == (
        "http 400 (twilio 21211: The 'To' number [number] is not a valid phone number.)"
    )
    assert_says_nothing_secret(failure)


def test_twilio_echoing_the_token_in_its_error_does_not_put_it_in_the_reason(
    twilio: SmsGateway,
) -> None:
    twilio.answer = twilio_error(400, 20001, f"Bad credentials {TWILIO_SID}:{TWILIO_TOKEN}")
    failure = failure_of(twilio_sms(twilio))
    assert failure.reason == "http 400 (twilio 20001: Bad credentials [redacted]:[redacted])"
    assert_says_nothing_secret(failure)


@pytest.mark.parametrize("status", [500, 503])
def test_a_twilio_server_error_without_an_error_document_gives_the_status(
    twilio: SmsGateway, status: int
) -> None:
    twilio.answer = Answer(status, b"<html>Service Unavailable</html>", "text/html")
    failure = failure_of(twilio_sms(twilio))
    assert failure.reason == f"http {status}"
    assert_says_nothing_secret(failure)


def test_twilio_describes_the_account_and_sender_but_never_the_token(twilio: SmsGateway) -> None:
    sender = twilio_sms(twilio)
    assert sender.describe() == f"Twilio (account {TWILIO_SID}, from {TWILIO_FROM})"
    assert TWILIO_TOKEN not in repr(sender)


# --- Webhook ------------------------------------------------------------------------------


def test_the_webhook_posts_signed_json_that_the_gateway_accepts(
    gateway: SmsGateway, clock: FixedClock
) -> None:
    webhook_sms(gateway, clock).send(TO, MESSAGE)
    assert gateway.problems == []
    [request] = gateway.received
    assert request.method == "POST"
    assert request.path == "/hooks/sms"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"to": TO, "message": MESSAGE}


def test_the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_raw_body(
    gateway: SmsGateway, clock: FixedClock
) -> None:
    webhook_sms(gateway, clock).send(TO, "Grüße: 271828 ✓")
    [request] = gateway.received
    timestamp = request.headers["x-twofold-timestamp"]
    assert timestamp == str(unix_time(clock.now()))
    expected = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["x-twofold-signature"] == f"sha256={expected}"
    assert json.loads(request.body) == {"to": TO, "message": "Grüße: 271828 ✓"}
    assert webhook_signature(WEBHOOK_SECRET, int(timestamp), request.body) == f"sha256={expected}"


def test_the_timestamp_comes_from_the_injected_clock(
    gateway: SmsGateway, clock: FixedClock
) -> None:
    sender = webhook_sms(gateway, clock)
    sender.send(TO, MESSAGE)
    clock.advance(3600)
    gateway.clock = FixedClock(clock.now())
    sender.send(TO, MESSAGE)
    first, second = (int(r.headers["x-twofold-timestamp"]) for r in gateway.received)
    assert second - first == 3600
    assert gateway.problems == []


def test_a_request_replayed_later_is_refused_by_a_gateway_that_checks_the_timestamp(
    gateway: SmsGateway, clock: FixedClock
) -> None:
    sender_clock = FixedClock(clock.now())
    sender_clock.advance(-301)  # as if captured five minutes ago and sent again now
    failure = failure_of(webhook_sms(gateway, sender_clock))
    assert gateway.problems == ["timestamp"]
    assert failure.reason == "http 401"


def test_a_wrong_secret_is_refused_and_the_reason_never_holds_a_secret(
    gateway: SmsGateway, clock: FixedClock
) -> None:
    wrong = "a-wrong-secret-that-must-never-show"
    failure = failure_of(webhook_sms(gateway, clock, secret=wrong))
    assert gateway.problems == ["signature"]
    assert failure.reason == "http 401"
    assert_says_nothing_secret(failure)
    assert wrong not in failure.reason
    assert wrong not in str(failure)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_from_the_gateway_is_success(
    gateway: SmsGateway, clock: FixedClock, status: int
) -> None:
    gateway.answer = Answer(status)
    webhook_sms(gateway, clock).send(TO, MESSAGE)
    assert len(gateway.received) == 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(500, b"boom"), "http 500"),
        (Answer(503, b'{"error":"try later"}'), "http 503"),
        (Answer(400, b'{"error":"bad number"}'), "http 400"),
        (Answer(302, b""), "http 302"),  # never followed: the body would go elsewhere
    ],
)
def test_a_gateway_error_gives_its_status_as_the_reason(
    gateway: SmsGateway, clock: FixedClock, answer: Answer, reason: str
) -> None:
    gateway.answer = answer
    failure = failure_of(webhook_sms(gateway, clock))
    assert failure.reason == reason
    assert_says_nothing_secret(failure)
    assert len(gateway.received) == 1


def test_the_webhook_describes_its_address_without_a_login_or_query() -> None:
    sender = WebhookSms(
        url="https://user:pass@sms.example.org:8443/send?key=k123", secret=WEBHOOK_SECRET
    )
    assert sender.describe() == "SMS webhook https://sms.example.org:8443/send"
    assert WEBHOOK_SECRET not in repr(sender)


# --- Both: slow, silent and absent providers ----------------------------------------------


def senders(twilio: SmsGateway, gateway: SmsGateway, clock: FixedClock) -> list[SmsSender]:
    """Both providers with the short timeout, for the slow-provider tests."""
    return [
        twilio_sms(twilio, timeout=SHORT_TIMEOUT),
        webhook_sms(gateway, clock, timeout=SHORT_TIMEOUT),
    ]


def test_a_provider_slower_than_the_timeout_is_a_timeout(
    twilio: SmsGateway, gateway: SmsGateway, clock: FixedClock
) -> None:
    for sender in senders(twilio, gateway, clock):
        twilio.delay = gateway.delay = 5.0
        started = time.monotonic()
        failure = failure_of(sender)
        assert failure.reason == "timeout"
        assert time.monotonic() - started < 2.0
        assert_says_nothing_secret(failure)


def test_an_answer_trickling_in_byte_by_byte_is_cut_off_at_the_total_timeout(
    twilio: SmsGateway, gateway: SmsGateway, clock: FixedClock
) -> None:
    """Each byte comes well within httpx's read timeout; only the total deadline ends it."""
    for sender in senders(twilio, gateway, clock):
        twilio.drip = gateway.drip = 0.05
        started = time.monotonic()
        failure = failure_of(sender)
        assert failure.reason == "timeout"
        assert time.monotonic() - started < 2.0


def test_a_provider_that_is_down_is_connection_refused(clock: FixedClock) -> None:
    port = free_port()
    down: list[SmsSender] = [
        TwilioSms(TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM, f"http://127.0.0.1:{port}", TIMEOUT),
        WebhookSms(f"http://127.0.0.1:{port}/hooks/sms", WEBHOOK_SECRET, TIMEOUT, clock),
    ]
    for sender in down:
        failure = failure_of(sender)
        assert failure.reason == "connection refused"
        assert_says_nothing_secret(failure)


def test_the_person_reads_a_clear_message_and_the_page_is_not_a_500(
    gateway: SmsGateway, clock: FixedClock
) -> None:
    gateway.answer = Answer(503)
    failure = failure_of(webhook_sms(gateway, clock))
    assert message_for(failure) == (
        "We could not send the text message. Try again in a moment, or use another method "
        "or a recovery code."
    )
    # 503: the provider is unavailable, said as such with the other ways in (the page and the
    # API alike), never the 500 "something went wrong" page of an unexpected error.
    assert status_for(failure) == 503
    assert failure.code == "sms_send_failed"


@pytest.mark.parametrize("number", ["14155550123", "+0123456789", "+1 415 555 0123", ""])
def test_a_number_not_in_e164_form_is_refused_before_anything_is_sent(
    gateway: SmsGateway, clock: FixedClock, number: str
) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        webhook_sms(gateway, clock).send(number, MESSAGE)
    assert gateway.received == []


# --- The development outbox ---------------------------------------------------------------


def test_the_outbox_writes_one_file_per_message_only_its_owner_can_read(tmp_path: Path) -> None:
    outbox = OutboxSms(tmp_path / "outbox" / "sms")
    outbox.send(TO, MESSAGE)
    outbox.send("+4930123456", "second")
    first, second = sorted((tmp_path / "outbox" / "sms").iterdir())
    assert first.read_text(encoding="utf-8") == f"To: {TO}\n\n{MESSAGE}\n"
    assert second.read_text(encoding="utf-8") == "To: +4930123456\n\nsecond\n"
    assert stat.S_IMODE(first.stat().st_mode) == 0o600


def test_the_outbox_prints_the_message_on_the_console_in_development(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="twofold.sms"):
        OutboxSms(tmp_path).send(TO, MESSAGE)
    [line] = caplog.messages
    assert TO in line
    assert MESSAGE in line


def test_the_outbox_prints_nothing_when_told_not_to(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        OutboxSms(tmp_path, print_to_console=False).send(TO, MESSAGE)
    assert caplog.messages == []
    assert len(list(tmp_path.iterdir())) == 1


def test_an_outbox_that_cannot_be_written_is_a_send_failure(tmp_path: Path) -> None:
    blocked = tmp_path / "outbox"
    blocked.write_text("a file where the directory should be")
    failure = failure_of(OutboxSms(blocked / "sms"))
    assert failure.reason.startswith("outbox not writable")
    assert_says_nothing_secret(failure)


# --- Choosing the provider from the settings ----------------------------------------------


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", **values)  # type: ignore[arg-type]


TWILIO_SETTINGS = {
    "twilio_account_sid": TWILIO_SID,
    "twilio_auth_token": TWILIO_TOKEN,
    "twilio_from": TWILIO_FROM,
}
WEBHOOK_SETTINGS = {
    "sms_webhook_url": "https://sms.example.org/send",
    "sms_webhook_secret": WEBHOOK_SECRET,
}


def test_the_default_provider_is_the_outbox_in_the_data_dir(tmp_path: Path) -> None:
    sender = make_sms_sender(settings_for(tmp_path))
    assert isinstance(sender, OutboxSms)
    assert sender.directory == tmp_path / "data" / "outbox" / "sms"
    assert sender.print_to_console
    assert str(tmp_path / "data" / "outbox" / "sms") in sender.describe()


def test_the_outbox_prints_nothing_in_production(tmp_path: Path) -> None:
    sender = make_sms_sender(settings_for(tmp_path, env="production"))
    assert isinstance(sender, OutboxSms)
    assert not sender.print_to_console


def test_twilio_settings_make_a_twilio_sender_with_the_timeout(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, sms_provider="twilio", sms_timeout_seconds=4, **TWILIO_SETTINGS
    )
    sender = make_sms_sender(settings)
    assert sender == TwilioSms(TWILIO_SID, TWILIO_TOKEN, TWILIO_FROM, timeout=4)
    assert sender.url == f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"


def test_webhook_settings_make_a_webhook_sender_on_the_given_clock(
    tmp_path: Path, clock: FixedClock
) -> None:
    sender = make_sms_sender(
        settings_for(tmp_path, sms_provider="webhook", **WEBHOOK_SETTINGS), clock
    )
    assert sender == WebhookSms("https://sms.example.org/send", WEBHOOK_SECRET, 10, clock)


@pytest.mark.parametrize("missing", sorted(TWILIO_SETTINGS))
def test_twilio_without_one_of_its_settings_refuses_to_start_naming_it(
    tmp_path: Path, missing: str
) -> None:
    given = {name: value for name, value in TWILIO_SETTINGS.items() if name != missing}
    with pytest.raises(ConfigurationError) as refused:
        make_sms_sender(settings_for(tmp_path, sms_provider="twilio", **given))
    assert f"TWOFOLD_{missing.upper()}" in str(refused.value)
    assert "TWOFOLD_SMS_PROVIDER=twilio" in str(refused.value)
    assert TWILIO_TOKEN not in str(refused.value)


@pytest.mark.parametrize("missing", sorted(WEBHOOK_SETTINGS))
def test_the_webhook_without_one_of_its_settings_refuses_to_start_naming_it(
    tmp_path: Path, missing: str
) -> None:
    given = {name: value for name, value in WEBHOOK_SETTINGS.items() if name != missing}
    given[missing] = "  "  # blank counts as missing
    with pytest.raises(ConfigurationError) as refused:
        make_sms_sender(settings_for(tmp_path, sms_provider="webhook", **given))
    assert f"TWOFOLD_{missing.upper()}" in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://sms.example.org/send",
        "sms.example.org/send",
        "https://",
        "https://sms.example.org:0/send",
        "https://sms.example.org:99999/send",
        "javascript:alert(1)",
    ],
)
def test_a_webhook_url_that_is_not_http_refuses_to_start_without_repeating_it(
    tmp_path: Path, url: str
) -> None:
    settings = settings_for(
        tmp_path, sms_provider="webhook", sms_webhook_url=url, sms_webhook_secret=WEBHOOK_SECRET
    )
    with pytest.raises(ConfigurationError) as refused:
        make_sms_sender(settings)
    assert refused.value.message == words.SMS_WEBHOOK_URL_SHAPE
    assert "TWOFOLD_SMS_WEBHOOK_URL" in str(refused.value)


def test_a_short_webhook_secret_refuses_to_start(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        sms_provider="webhook",
        sms_webhook_url="https://sms.example.org/send",
        sms_webhook_secret="short",
    )
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        make_sms_sender(settings)


@pytest.mark.parametrize("seconds", [0, -1, 61])
def test_the_timeout_setting_is_bounded(tmp_path: Path, seconds: float) -> None:
    with pytest.raises(ValidationError):
        settings_for(tmp_path, sms_timeout_seconds=seconds)


def test_an_unknown_provider_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        settings_for(tmp_path, sms_provider="carrier-pigeon")


@pytest.mark.parametrize(
    ("env", "provider", "refused"),
    [
        ("production", "outbox", True),
        ("production", "webhook", False),
        ("development", "outbox", False),
    ],
)
def test_production_refuses_the_outbox_for_text_messages(
    tmp_path: Path, env: str, provider: str, refused: bool
) -> None:
    settings = settings_for(tmp_path, env=env, sms_provider=provider)
    assert outbox_refused_in_production(settings) is refused


# --- docs/sms.md: the example and the receiver's check work as written ------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sms.md"


def fenced_after(heading: str, language: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    after = text[text.index(heading) :]
    start = after.index(f"```{language}\n") + len(language) + 4
    return after[start : after.index("```", start)]


def test_the_documented_example_signature_is_what_the_webhook_sends() -> None:
    body = fenced_after("and the body", "json").strip().encode()
    sent = json.loads(body)
    assert sent == {"to": sent["to"], "message": sent["message"]}
    signature = webhook_signature("example-secret-do-not-use", 1772366400, body)
    assert f"X-Twofold-Signature: {signature}\n" in DOCS.read_text(encoding="utf-8")
    assert "X-Twofold-Timestamp: 1772366400\n" in DOCS.read_text(encoding="utf-8")


def test_the_documented_receiver_accepts_a_fresh_request_and_refuses_a_changed_or_old_one(
    gateway: SmsGateway,
) -> None:
    receiver: dict[str, object] = {}
    exec(fenced_after("### Checking the signature", "python"), receiver)  # noqa: S102
    receiver["SECRET"] = WEBHOOK_SECRET.encode()
    is_genuine = receiver["is_genuine"]
    assert callable(is_genuine)
    now = SystemClock()  # the documented receiver reads the real time
    gateway.clock = now
    WebhookSms(gateway.webhook_url, WEBHOOK_SECRET, TIMEOUT, now).send(TO, MESSAGE)
    [request] = gateway.received
    headers = {
        "X-Twofold-Timestamp": request.headers["x-twofold-timestamp"],
        "X-Twofold-Signature": request.headers["x-twofold-signature"],
    }
    assert is_genuine(headers, request.body)
    assert not is_genuine(headers, request.body.replace(b"314159", b"000000"))
    old = str(int(headers["X-Twofold-Timestamp"]) - 301)
    resigned = webhook_signature(WEBHOOK_SECRET, int(old), request.body)
    assert not is_genuine(
        {"X-Twofold-Timestamp": old, "X-Twofold-Signature": resigned}, request.body
    )
    assert not is_genuine({**headers, "X-Twofold-Signature": "sha256=" + "0" * 64}, request.body)
