"""Label matchers shared by routes, silences and inhibition rules.

A matcher maps a label to one glob pattern or a list of alternatives (``event: "Order *"``,
``kind: [silence, volume_drop]``). A label with several values (``journey``) matches when any
value does; ``journey: "*"`` therefore means "puts at least one journey at risk".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

Patterns = str | Sequence[str]


def alternatives(patterns: Patterns) -> list[str]:
    """The patterns as a list."""
    return [patterns] if isinstance(patterns, str) else list(patterns)


def label_matches(values: Sequence[str], patterns: Patterns) -> bool:
    """Whether any value matches any pattern (case-sensitive globs; ``""`` matches only empty)."""
    return any(fnmatchcase(v, p) for v in values for p in alternatives(patterns))


def matches(matchers: Mapping[str, Patterns], labels: Mapping[str, Sequence[str]]) -> bool:
    """Whether every matcher matches the labels. No matchers match everything."""
    return all(label_matches(labels.get(name, []), pats) for name, pats in matchers.items())


def parse_matcher(text: str) -> tuple[str, str]:
    """Parse ``label=pattern`` (as given on the command line)."""
    name, sep, pattern = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"not a matcher: {text!r} (use label=pattern, e.g. event='Order *')")
    return name.strip(), pattern.strip()


def describe(matchers: Mapping[str, Patterns]) -> str:
    """``kind=volume_drop, event=Order *`` for people."""
    return (
        ", ".join(f"{k}={'|'.join(alternatives(v))}" for k, v in sorted(matchers.items())) or "(everything)"
    )
