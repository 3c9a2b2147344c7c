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


def _ci(pattern: str) -> str:
    return _s("(?i)" + pattern)


def _email_test(e: str, cfg: LeakageConfig) -> str:
    domains = "[" + ", ".join(_s(d.lower()) for d in cfg.test_email_domains) + "]::VARCHAR[]"
    domain = f"split_part({e}, '@', 2)"
    return (
        f"CASE WHEN contains({e}, '@') THEN list_contains({domains}, lower({domain})) "
        f"OR regexp_matches({domain}, {_ci(cfg.test_domain_pattern)}) "
        f"OR regexp_matches(split_part({e}, '@', 1), {_ci(cfg.test_email_local_pattern)}) END"
    )


def _matches(column: str, pattern: str) -> str:
    """Whether ``column`` matches ``pattern`` (case-insensitive), a missing value counting as ''.

    Written as a CASE so the pattern runs only on the rows that have a value (DuckDB evaluates a
    CASE branch only for the rows it selects) unless the pattern matches the empty string."""
    if re.search(pattern, "", re.IGNORECASE):
        return f"regexp_matches(coalesce({column}, ''), {_ci(pattern)})"
    return f"CASE WHEN {column} IS NOT NULL THEN regexp_matches({column}, {_ci(pattern)}) END"


def leak_flags_sql(cfg: LeakageConfig) -> str:
    """SQL over the normalised row ``n`` (context fields ``n.cx_*``, ``n.lx_email``) giving the leak bits.

    Written without lambdas, with case-insensitive patterns and with every test inside a CASE on
    its inputs being present: it runs for every message, and most context fields are missing."""
    uid_email = "CASE WHEN contains(n.user_id, '@') THEN n.user_id END"
    email_test = " OR ".join(f"coalesce({_email_test(e, cfg)}, false)" for e in ("n.lx_email", "n.cx_email", uid_email))
    hosts = " OR ".join(f"coalesce({_matches(f'n.{c}', cfg.nonprod_host_pattern)}, false)" for c in ("cx_url", "cx_ref"))
    builds = " OR ".join(
        f"coalesce({_matches(f'n.{c}', cfg.dev_build_pattern)}, false)" for c in ("cx_build", "cx_version", "cx_namespace")
    )
    envs = "[" + ", ".join(_s(e.lower()) for e in cfg.production_environments) + "]::VARCHAR[]"
    env_value = "coalesce(n.cx_env, n.cx_env2)"
    env = f"CASE WHEN {env_value} IS NOT NULL THEN NOT list_contains({envs}, lower({env_value})) END"
    qa = "[" + ", ".join(_s(q) for q in cfg.qa_identities) + "]::VARCHAR[]"
    qa_test = (
        f"list_contains({qa}, n.user_id) OR list_contains({qa}, n.anon_id) OR list_contains({qa}, n.lx_email)"
        if cfg.qa_identities else "false"
    )  # fmt: skip
    uid = _matches("n.user_id", cfg.test_user_id_pattern)
    tests = [email_test, uid, hosts, builds, env, qa_test]
    return " + ".join(f"(CAST(coalesce({t}, false) AS BIGINT) << {LEAK_BASE + i})" for i, t in enumerate(tests))


# Context fields the signals look at, as (column, JSON path in context, reader struct path).
CONTEXT_FIELDS = (
    ("cx_email", "$.traits.email"),
    ("cx_url", "$.page.url"),
    ("cx_ref", "$.page.referrer"),
    ("cx_build", "$.app.build"),
    ("cx_version", "$.app.version"),
    ("cx_namespace", "$.app.namespace"),
    ("cx_env", "$.environment"),
    ("cx_env2", "$.env"),
)
# The fast reader parses ``context`` straight into this struct (other context keys are skipped).
CONTEXT_STRUCT = (
    "STRUCT(traits STRUCT(email VARCHAR), page STRUCT(url VARCHAR, referrer VARCHAR), "
    "app STRUCT(build VARCHAR, version VARCHAR, namespace VARCHAR), environment VARCHAR, env VARCHAR)"
)


def context_columns_fast() -> str:
    """The context fields from the reader's struct."""
    refs = ("context.traits.email", "context.page.url", "context.page.referrer", "context.app.build",
            "context.app.version", "context.app.namespace", "context.environment", "context.env")  # fmt: skip
    return ", ".join(f"{ref} AS {col}" for ref, (col, _) in zip(refs, CONTEXT_FIELDS, strict=True))


def context_columns_exact(ctx: str, batch_ctx: str | None = None) -> str:
    """The context fields from a JSON ``context`` (one parse); with ``batch_ctx``, a field the
    message's own context lacks comes from its batch's context (Segment merges the two)."""
    paths = "[" + ", ".join(_s(p) for _, p in CONTEXT_FIELDS) + "]"
    if batch_ctx is None:
        return ", ".join(f"json_extract_string({ctx}, {paths})[{i + 1}] AS {col}" for i, (col, _) in enumerate(CONTEXT_FIELDS))
    return ", ".join(
        f"coalesce(json_extract_string({ctx}, {paths})[{i + 1}], json_extract_string({batch_ctx}, {paths})[{i + 1}]) AS {col}"
        for i, (col, _) in enumerate(CONTEXT_FIELDS)
    )


def leak_fields_sql() -> str:
    """Column ``lx_email``: the email in identify traits (the context fields are columns already)."""
    return "CASE WHEN checked AND msg_type = 'identify' AND is_obj THEN json_extract_string(props, '$.email') END AS lx_email"


def signals_of(flags: int) -> list[str]:
    """Names of the leak signals set in a row's flags."""
    return [name for i, name in enumerate(SIGNALS) if flags >> (LEAK_BASE + i) & 1]
