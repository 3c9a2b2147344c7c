"""Redaction of payload samples shown to people: emails and phone numbers masked, secrets
dropped, long values cut. Email domains are kept (they are evidence of test data)."""

from __future__ import annotations

import json
import re
from typing import Any

EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")
"""An email from the start of its run of address characters (a match can start only there, so a long
run without ``@`` is scanned once, not once per character)."""
URL_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9._+\-])[A-Za-z0-9._%+\-]*?%40([A-Za-z0-9.\-]+\.[A-Za-z]{2,})", re.I
)
"""An email percent-encoded in a URL or form body (``jane%40example.com``)."""
CARD = re.compile(r"(?<![\w.\-+])\d(?:[ \-]?\d){12,18}(?![\w.\-])")
"""13 to 19 digits, spaced or dashed in groups as cards are written; masked when the Luhn check passes."""
PHONE = re.compile(r"(?<![\w.\-])\+?\d(?:[\s\-().]*\d){6,14}(?![\w.\-])")
"""7 to 15 digits with separators, not inside a word, a number or a dash-joined id (UUIDs)."""
SECRET_KEYS = re.compile(r"pass(word)?|secret|token|api[_-]?key|authori[sz]ation|credit|card_?number|cvv|ssn", re.I)
SECRET_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^\s,}\]]+)')
"""A ``"key": value`` pair in text (a line that is not JSON, say cut short): its value is dropped
when the key looks secret, as :func:`redact_value` drops it in JSON."""
MAX_VALUE = 200
MAX_SAMPLE = 2000


IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2})?$")


def _mask_phone(match: re.Match[str]) -> str:
    if IPV4.match(match.group(0)) or DATE.match(match.group(0)):  # an IP address or a date, not a phone number
        return match.group(0)
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) < 7:
        return match.group(0)
    return "<phone:…" + digits[-2:] + ">"


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "<card:…" + digits[-4:] + ">" if _luhn(digits) else match.group(0)


def _drop_secret(match: re.Match[str]) -> str:
    if not SECRET_KEYS.search(match.group(1)):
        return match.group(0)
    return f'"{match.group(1)}"{match.group(2)}"<redacted>"'


def redact_text(text: str, limit: int = MAX_VALUE) -> str:
    """Drop the values of secret-looking ``"key": value`` pairs, mask emails (``j***@domain``, also
    percent-encoded), card numbers and phone numbers, then cut to ``limit`` characters."""
    text = SECRET_PAIR.sub(_drop_secret, text)
    text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = URL_EMAIL.sub(lambda m: f"{m.group(1)}***%40{m.group(2)}", text)
    text = CARD.sub(_mask_card, text)
    text = PHONE.sub(_mask_phone, text)
    if len(text) > limit:
        text = text[:limit] + f"…(+{len(text) - limit} chars)"
    return text


def redact_value(value: Any, key: str = "") -> Any:
    """Redact a decoded JSON value recursively; values under secret-looking keys are dropped."""
    if key and SECRET_KEYS.search(key):
        return "<redacted>"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(k): redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value[:20]] + ([f"…(+{len(value) - 20} items)"] if len(value) > 20 else [])
    return value


def redact_line(line: str | bytes, limit: int = MAX_SAMPLE) -> str:
    """Redact one raw input line: structurally when it is JSON, textually otherwise."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    try:
        out = json.dumps(redact_value(json.loads(line)), ensure_ascii=False, separators=(",", ":"))
    except (ValueError, RecursionError):  # not JSON, or nested too deep to walk: redacted as text
        out = redact_text(line, limit)
    # Lone surrogates (JSON allows "\ud800") cannot be stored as UTF-8: kept as their escapes.
    out = out.encode("utf-8", "backslashreplace").decode("utf-8")
    return out if len(out) <= limit else out[:limit] + f"…(+{len(out) - limit} chars)"
