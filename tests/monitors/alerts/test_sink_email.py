"""The email sink against a real SMTP server (aiosmtpd) with STARTTLS or implicit TLS and AUTH."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from monitors.alerts.config import EmailReceiver
from monitors.alerts.renderers import email as render_email
from monitors.alerts.sinks import Delivery, build_sink
from monitors.errors import DeliveryError
from tests.monitors.alerts.receivers import SmtpReceiver, free_port
from tests.monitors.alerts.samples import SAMPLES

# aiosmtpd 1.4 warns inside its server thread: a deprecated attribute on AUTH, and AUTH over
# implicit TLS, which it does not count as TLS
pytestmark = [
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]


def receiver(server: SmtpReceiver, **overrides: Any) -> EmailReceiver:
    values: dict[str, Any] = {
        "name": "mail",
        "type": "email",
        "host": "127.0.0.1",
        "port": server.port,
        "security": "starttls",
        "username": server.user,
        "password_env": "SMTP_PASSWORD",
        "sender": "Event Health Monitor <ehm@shop.test>",
        "to": ["oncall@shop.test", "retention@shop.test"],
        "ca_file": server.ca_file,
        **overrides,
    }
    return EmailReceiver(**values)


def received(server: SmtpReceiver) -> EmailMessage:
    [envelope] = server.messages
    mail = message_from_bytes(envelope.original_content or b"", policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


def parts(mail: EmailMessage) -> dict[str, str]:
    return {p.get_content_type(): str(p.get_content()) for p in mail.iter_parts()}  # type: ignore[attr-defined]


def test_starttls_with_auth_delivers_html_and_text_parts_with_headers(
    smtp: SmtpReceiver, http_client: Any
) -> None:
    sink = build_sink(receiver(smtp), client=http_client, env={"SMTP_PASSWORD": smtp.password})
    message = SAMPLES["firing_single"]()
    receipt = sink.send(message, Delivery("17"))
    mail = received(smtp)
    [envelope] = smtp.messages
    assert envelope.mail_from == "ehm@shop.test"
    assert envelope.rcpt_tos == ["oncall@shop.test", "retention@shop.test"]
    expected = render_email.render(message)
    assert mail["Subject"] == expected.subject == "[FIRING · CRITICAL] Order Completed stopped arriving"
    assert mail["From"] == "Event Health Monitor <ehm@shop.test>"
    assert mail["To"] == "oncall@shop.test, retention@shop.test"
    assert mail["Date"] == "Mon, 02 Nov 2026 10:01:00 +0000"
    assert (mail["X-EHM-Type"], mail["X-EHM-State"], mail["X-EHM-Severity"]) == (
        "alert",
        "firing",
        "critical",
    )
    assert mail["X-EHM-Fingerprints"] == message.items[0].fingerprint
    assert mail["Message-ID"] == receipt["message_id"] and ".ehm.17@shop.test>" in receipt["message_id"]
    assert mail.get_content_type() == "multipart/alternative"
    body = parts(mail)
    assert body["text/plain"].replace("\r\n", "\n") == expected.text
    assert body["text/html"].replace("\r\n", "\n") == expected.html
    assert smtp.password not in (envelope.original_content or b"").decode()


def test_follow_ups_reply_to_the_first_email_of_the_thread(smtp: SmtpReceiver, http_client: Any) -> None:
    sink = build_sink(receiver(smtp), client=http_client, env={"SMTP_PASSWORD": smtp.password})
    root = "<1.ehm.3@shop.test>"
    sink.send(SAMPLES["resolved_single"](), Delivery("4", thread_receipt={"message_id": root}))
    mail = received(smtp)
    assert (mail["In-Reply-To"], mail["References"]) == (root, root)


def test_implicit_tls_delivers_a_report_with_its_html_body(smtp_ssl: SmtpReceiver, http_client: Any) -> None:
    sink = build_sink(
        receiver(smtp_ssl, security="ssl"), client=http_client, env={"SMTP_PASSWORD": smtp_ssl.password}
    )
    sink.send(SAMPLES["report"](), Delivery("9"))
    mail = received(smtp_ssl)
    assert mail["Subject"] == "[REPORT] Weekly latency review"
    assert "<h3>Weekly latency review</h3>" in parts(mail)["text/html"]
    assert "Order Completed p95: 42s" in parts(mail)["text/plain"]


def test_a_wrong_password_is_permanent_and_not_echoed(smtp: SmtpReceiver, http_client: Any) -> None:
    sink = build_sink(receiver(smtp), client=http_client, env={"SMTP_PASSWORD": "not-the-password"})
    with pytest.raises(DeliveryError, match="login refused") as info:
        sink.send(SAMPLES["firing_single"](), Delivery("1"))
    assert not info.value.retryable
    assert "not-the-password" not in str(info.value) and "SMTP_PASSWORD" in str(info.value)
    assert smtp.messages == []


def test_an_untrusted_certificate_is_permanent(smtp: SmtpReceiver, http_client: Any) -> None:
    sink = build_sink(receiver(smtp, ca_file=None), client=http_client, env={"SMTP_PASSWORD": smtp.password})
    with pytest.raises(DeliveryError, match="TLS certificate not trusted") as info:
        sink.send(SAMPLES["firing_single"](), Delivery("1"))
    assert not info.value.retryable


def test_a_server_that_is_down_is_retryable(http_client: Any) -> None:
    cfg = EmailReceiver(
        name="mail",
        type="email",
        host="127.0.0.1",
        port=free_port(),
        security="none",
        sender="a@shop.test",
        to=["b@shop.test"],
    )
    with pytest.raises(DeliveryError, match="email mail: ConnectionRefusedError") as info:
        build_sink(cfg, client=http_client).send(SAMPLES["firing_single"](), Delivery("1"))
    assert info.value.retryable
