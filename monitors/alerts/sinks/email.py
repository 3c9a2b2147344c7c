"""Email over SMTP: STARTTLS (587), implicit TLS (``ssl``, 465) or plain; optional AUTH; a
multipart/alternative message with text and HTML parts. Follow-ups of a thread reference the
first email (``In-Reply-To``), so mail clients show one conversation per incident."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from monitors.alerts.config import EmailReceiver
from monitors.alerts.message import Message
from monitors.alerts.renderers import email as render_email
from monitors.alerts.sinks.base import Delivery, Receipt, scrub, secret
from monitors.errors import DeliveryError


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip("> ") or "localhost"


class EmailSink:
    """Sends through ``host:port``; the password comes from ``password_env``."""

    def __init__(self, config: EmailReceiver, env: Mapping[str, str] | None = None) -> None:
        self.name = config.name
        self.config = config
        self.env = env

    def build(self, message: Message, delivery: Delivery) -> EmailMessage:
        """The email (headers, text part, HTML part)."""
        content = render_email.render(message)
        mail = EmailMessage()
        mail["Subject"] = content.subject
        mail["From"] = self.config.sender
        mail["To"] = ", ".join(self.config.to)
        mail["Date"] = format_datetime(message.created_at)
        mail["Message-ID"] = make_msgid(f"ehm.{delivery.id}", domain=_domain(self.config.sender))
        mail["X-EHM-Type"] = message.kind.value
        mail["X-EHM-State"] = message.state.value
        mail["X-EHM-Severity"] = message.severity.value
        if message.items:
            mail["X-EHM-Fingerprints"] = ", ".join(i.fingerprint for i in message.items[:20])
        root_id = (delivery.thread_receipt or {}).get("message_id")
        if root_id:
            mail["In-Reply-To"] = root_id
            mail["References"] = root_id
        mail.set_content(content.text)
        mail.add_alternative(content.html, subtype="html")
        return mail

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.ca_file)

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        timeout = cfg.timeout_seconds
        if cfg.security == "ssl":
            return smtplib.SMTP_SSL(cfg.host, cfg.effective_port, timeout=timeout, context=self._context())
        smtp = smtplib.SMTP(cfg.host, cfg.effective_port, timeout=timeout)
        if cfg.security == "starttls":
            smtp.ehlo()
            smtp.starttls(context=self._context())
            smtp.ehlo()
        return smtp

    def _credentials(self) -> tuple[str, str] | None:
        cfg = self.config
        user = cfg.username or (secret(self.env, cfg.username_env, self.name) if cfg.username_env else None)
        if not user:
            return None
        return user, secret(self.env, cfg.password_env, self.name)

    def send(self, message: Message, delivery: Delivery) -> Receipt:
        """Connect, secure, authenticate, send; map SMTP failures to retryable or permanent."""
        mail = self.build(message, delivery)
        credentials = self._credentials()
        try:
            with self._connect() as smtp:
                if credentials:
                    smtp.login(*credentials)
                smtp.send_message(mail)
        except Exception as exc:
            error = _classify(exc, self.name, self.config.password_env)
            raise DeliveryError(
                scrub(str(error), [credentials[1]] if credentials else []), retryable=error.retryable
            ) from None
        return {"message_id": str(mail["Message-ID"])}


def _classify(exc: Exception, name: str, password_env: str | None) -> DeliveryError:
    what = f"email {name}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"{what}: login refused ({exc.smtp_code}) — check the username and {password_env}",
            retryable=False,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return DeliveryError(
            f"{what}: recipients refused: {', '.join(sorted(exc.recipients))}", retryable=False
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(
            f"{what}: the server does not support this ({exc}) — check `security`", retryable=False
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return DeliveryError(f"{what}: SMTP {exc.smtp_code} {text}", retryable=400 <= exc.smtp_code < 500)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(
            f"{what}: TLS certificate not trusted ({exc.verify_message}) — set ca_file", retryable=False
        )
    if isinstance(exc, smtplib.SMTPException | OSError):
        return DeliveryError(f"{what}: {type(exc).__name__}: {exc}", retryable=True)
    return DeliveryError(f"{what}: {type(exc).__name__}", retryable=True)
