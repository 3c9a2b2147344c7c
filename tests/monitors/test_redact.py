from __future__ import annotations

from monitors.redact import redact_line, redact_text


def test_emails_and_phones_are_masked_but_ip_addresses_and_domains_kept() -> None:
    out = redact_text("ip 203.0.113.77 mail jane.doe@example.com call +1 (415) 555-0100")
    assert out == "ip 203.0.113.77 mail j***@example.com call <phone:…00>"


def test_secret_keys_are_dropped_and_long_values_cut() -> None:
    out = redact_line('{"api_key": "abc", "note": "' + "x" * 300 + '"}')
    assert '"api_key":"<redacted>"' in out and "…(+100 chars)" in out
