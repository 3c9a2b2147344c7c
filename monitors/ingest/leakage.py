"""Signals of staging or test data in production traffic, computed per message in the hot path.

Each signal is a flag bit; counts per (series, bucket, signal) are stored (vtype ``leak``), so the
leak rate per event and bucket is known and the leakage detector can compare it with its baseline.
Patterns are configurable (``leakage:`` in the config); the defaults cover the usual cases.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from monitors.configbase import StrictModel

LEAK_BASE = 40
SIGNALS = ("test_email", "test_user_id", "nonprod_host", "dev_build", "nonprod_environment", "qa_identity")

DEFAULT_DOMAINS = [
    "example.com", "example.org", "example.net", "test.com", "test.de", "mailinator.com", "guerrillamail.com",
    "10minutemail.com", "yopmail.com", "tempmail.com", "temp-mail.org", "sharklasers.com", "trashmail.com",
    "maildrop.cc", "dispostable.com", "getnada.com", "fakeinbox.com", "throwawaymail.com",
]  # fmt: skip


class LeakageConfig(StrictModel):
    """The ``leakage:`` section: what marks a message as test or staging data."""

    test_email_domains: list[str] = Field(default_factory=lambda: list(DEFAULT_DOMAINS))
    test_email_local_pattern: str = r"(^|[._+-])(test|qa|dummy|fake)([._+-]|\d|$)"
    test_domain_pattern: str = r"(^|\.)(test|staging|example|invalid|localhost)(\.|$)"
    test_user_id_pattern: str = r"^(test|qa|dummy|fake|demo|staging)([_.:-]|\d|$)"
    nonprod_host_pattern: str = (
        r"^(https?://)?([^/]*[.-])?(localhost|127\.0\.0\.1|0\.0\.0\.0|staging|stage|stg|dev|develop|preview|qa|uat|test|sandbox)"
        r"([.:/-]|$)|\.local(:|/|$)|\.ngrok(-free)?\.(io|app)|\.vercel\.app|\.netlify\.app"
    )
    dev_build_pattern: str = r"(debug|dev|staging|snapshot|qa|internal)"
    production_environments: list[str] = Field(default_factory=lambda: ["production", "prod", "live"])
    qa_identities: list[str] = Field(default_factory=list)

    @field_validator(
        "test_email_local_pattern", "test_domain_pattern", "test_user_id_pattern", "nonprod_host_pattern", "dev_build_pattern"
    )
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value


def _s(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def leak_flags_sql(cfg: LeakageConfig) -> str:
    """SQL over the normalised row ``n`` (with ``n.lx``: the leak fields list) giving the leak bits."""
    emails = "[n.lx[1], n.lx[2], CASE WHEN n.user_id LIKE '%@%' THEN n.user_id END]"
    domains = "[" + ", ".join(_s(d.lower()) for d in cfg.test_email_domains) + "]::VARCHAR[]"
    email_test = (
        f"list_bool_or(list_transform(list_filter({emails}, lambda e: e IS NOT NULL AND contains(e, '@')), lambda e: "
        f"list_contains({domains}, lower(split_part(e, '@', 2))) "
        f"OR regexp_matches(lower(split_part(e, '@', 2)), {_s(cfg.test_domain_pattern)}) "
        f"OR regexp_matches(lower(split_part(e, '@', 1)), {_s(cfg.test_email_local_pattern)})))"
    )
    hosts = f"list_bool_or(list_transform([n.lx[3], n.lx[4]], lambda u: u IS NOT NULL AND regexp_matches(lower(u), {_s(cfg.nonprod_host_pattern)})))"
    builds = f"list_bool_or(list_transform([n.lx[5], n.lx[6], n.lx[7]], lambda b: b IS NOT NULL AND regexp_matches(lower(b), {_s(cfg.dev_build_pattern)})))"
    envs = "[" + ", ".join(_s(e.lower()) for e in cfg.production_environments) + "]::VARCHAR[]"
    env = f"coalesce(n.lx[8], n.lx[9]) IS NOT NULL AND NOT list_contains({envs}, lower(coalesce(n.lx[8], n.lx[9])))"
    qa = "[" + ", ".join(_s(q) for q in cfg.qa_identities) + "]::VARCHAR[]"
    qa_test = f"list_contains({qa}, n.user_id) OR list_contains({qa}, n.anon_id) OR list_contains({qa}, n.lx[1])" if cfg.qa_identities else "false"
    uid = f"regexp_matches(lower(coalesce(n.user_id, '')), {_s(cfg.test_user_id_pattern)})"
    tests = [email_test, uid, hosts, builds, env, qa_test]
    return " + ".join(f"(CAST(coalesce({t}, false) AS BIGINT) << {LEAK_BASE + i})" for i, t in enumerate(tests))


LEAK_FIELDS_CONTEXT = ["$.traits.email", "$.page.url", "$.page.referrer", "$.app.build", "$.app.version", "$.app.namespace",
                       "$.environment", "$.env"]  # fmt: skip


def leak_fields_sql() -> str:
    """Column ``lx``: [email in properties/traits, context.traits.email, page url, page referrer,
    app build, app version, app namespace, context.environment, context.env] — one parse of context."""
    ctx = "[" + ", ".join(_s(p) for p in LEAK_FIELDS_CONTEXT) + "]"
    return (
        "CASE WHEN checked THEN list_concat("
        "[CASE WHEN is_obj THEN json_extract_string(props, '$.email') END], "
        f"CASE WHEN ctx IS NOT NULL THEN json_extract_string(ctx, {ctx}) ELSE [NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL]::VARCHAR[] END) END AS lx"
    )


def signals_of(flags: int) -> list[str]:
    """Names of the leak signals set in a row's flags."""
    return [name for i, name in enumerate(SIGNALS) if flags >> (LEAK_BASE + i) & 1]
