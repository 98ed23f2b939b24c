"""Mail transports: SMTP against a real server, and the development outbox of .eml files."""

from __future__ import annotations

import email
import email.policy
import stat
from email.message import EmailMessage
from pathlib import Path

import pytest

from smtp_server import REFUSAL, SmtpServer, free_port
from support import TEST_KEYS
from twofold.core.errors import ConfigurationError
from twofold.notify.mailer import DeliveryError, OutboxMailer, SmtpMailer, build_message
from twofold.services.runtime import make_mailer
from twofold.settings import Settings

SENDER = "Twofold <no-reply@example.org>"


def a_message(recipient: str = "alice@example.org") -> EmailMessage:
    return build_message(
        sender=SENDER,
        recipient=recipient,
        subject="Twofold: password changed",
        text="Hello,\n\nThe password was changed.\n",
        html="<p>Hello,</p><p>The password was changed.</p>",
    )


def test_a_built_message_has_a_plain_text_part_then_an_html_part() -> None:
    message = a_message()
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["From"] == SENDER
    assert message["To"] == "alice@example.org"
    assert message["Subject"] == "Twofold: password changed"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"]
    assert message["Date"]


def test_smtp_mailer_hands_the_message_to_a_real_smtp_server(smtp: SmtpServer) -> None:
    smtp.mailer().send(a_message())
    [received] = smtp.received
    assert received.sender == "no-reply@example.org"
    assert received.recipients == ("alice@example.org",)
    assert received.message["From"] == SENDER
    assert received.message["To"] == "alice@example.org"
    assert received.subject == "Twofold: password changed"
    assert "The password was changed." in received.text
    assert "<p>The password was changed.</p>" in received.html


def test_a_refusing_server_makes_a_delivery_error_naming_the_smtp_answer(
    smtp: SmtpServer,
) -> None:
    smtp.refuse_with = REFUSAL
    with pytest.raises(DeliveryError) as refused:
        smtp.mailer().send(a_message())
    assert "SMTP 550" in str(refused.value)
    assert "Mailbox unavailable" in str(refused.value)
    assert smtp.received == []


def test_a_server_that_is_down_makes_a_delivery_error() -> None:
    mailer = SmtpMailer(host="127.0.0.1", port=free_port(), security="none", timeout=5)
    with pytest.raises(DeliveryError) as down:
        mailer.send(a_message())
    assert "ConnectionRefusedError" in str(down.value)


def test_the_delivery_error_does_not_repeat_the_message_content(smtp: SmtpServer) -> None:
    smtp.refuse_with = REFUSAL
    with pytest.raises(DeliveryError) as refused:
        smtp.mailer().send(a_message())
    assert "password was changed" not in str(refused.value)


def test_starttls_against_a_server_without_it_is_a_delivery_error_not_plain_text(
    smtp: SmtpServer,
) -> None:
    mailer = SmtpMailer(host=smtp.host, port=smtp.port, security="starttls", timeout=5)
    with pytest.raises(DeliveryError):
        mailer.send(a_message())
    assert smtp.received == []


def test_smtp_mailer_describes_where_it_sends() -> None:
    assert SmtpMailer(host="mail.example.org", port=587).describe() == (
        "SMTP mail.example.org:587 (starttls)"
    )


def test_outbox_mailer_writes_an_eml_file_only_its_owner_can_read(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    OutboxMailer(outbox).send(a_message())
    [written] = list(outbox.iterdir())
    assert written.suffix == ".eml"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    parsed = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "alice@example.org"
    assert parsed["Subject"] == "Twofold: password changed"


def test_outbox_mailer_keeps_each_message_in_its_own_file(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    mailer = OutboxMailer(outbox)
    mailer.send(a_message("alice@example.org"))
    mailer.send(a_message("bob@example.org"))
    assert len(list(outbox.glob("*.eml"))) == 2


def test_outbox_mailer_that_cannot_write_raises_a_delivery_error(tmp_path: Path) -> None:
    blocked = tmp_path / "outbox"
    blocked.write_text("a file where the directory should be")
    with pytest.raises(DeliveryError) as failed:
        OutboxMailer(blocked).send(a_message())
    assert "cannot write to the outbox" in str(failed.value)


def test_outbox_mailer_says_which_directory_it_writes_to(tmp_path: Path) -> None:
    assert str(tmp_path / "outbox") in OutboxMailer(tmp_path / "outbox").describe()


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'twofold.db'}",
        secret_keys=TEST_KEYS.to_text(),
        **values,  # type: ignore[arg-type]
    )


def test_development_without_smtp_writes_to_the_outbox_in_the_data_dir(tmp_path: Path) -> None:
    mailer = make_mailer(settings_for(tmp_path))
    assert isinstance(mailer, OutboxMailer)
    assert mailer.directory == tmp_path / "data" / "outbox"


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465), ("none", 25)])
def test_smtp_settings_make_an_smtp_mailer_with_the_usual_port(
    tmp_path: Path, security: str, port: int
) -> None:
    mailer = make_mailer(
        settings_for(
            tmp_path,
            smtp_host="mail.example.org",
            smtp_security=security,
            smtp_user="twofold",
            smtp_password="s3cret",
        )
    )
    assert mailer == SmtpMailer(
        host="mail.example.org",
        port=port,
        security=security,  # type: ignore[arg-type]
        username="twofold",
        password="s3cret",
    )


def test_an_explicit_smtp_port_wins(tmp_path: Path) -> None:
    mailer = make_mailer(settings_for(tmp_path, smtp_host="mail.example.org", smtp_port=2525))
    assert isinstance(mailer, SmtpMailer)
    assert mailer.port == 2525


def test_production_without_smtp_refuses_to_make_a_mailer(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        make_mailer(settings_for(tmp_path, env="production"))
    assert "TWOFOLD_SMTP_HOST" in str(refused.value)


def test_production_with_smtp_makes_an_smtp_mailer(tmp_path: Path) -> None:
    mailer = make_mailer(settings_for(tmp_path, env="production", smtp_host="mail.example.org"))
    assert isinstance(mailer, SmtpMailer)
