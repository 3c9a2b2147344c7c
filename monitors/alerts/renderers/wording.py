"""Wording shared by every renderer: state labels, headlines, evidence lines, the footer."""

from __future__ import annotations

from typing import Any

from monitors.alerts.message import Item, Message, MessageKind, State

PRODUCT = "Event Health Monitor"
MAX_ITEMS = 10
MAX_EVIDENCE = 6


def state_label(message: Message) -> str:
    """``FIRING · CRITICAL``, ``RESOLVED``, ``TEST``, ``REPORT`` (with ``· REPEAT`` for reminders)."""
    if message.kind is MessageKind.TEST:
        return "TEST"
    if message.kind is MessageKind.REPORT:
        return "REPORT"
    label = message.state.value.upper()
    if message.state is State.FIRING:
        label += f" · {message.severity.value.upper()}"
    return label + (" · REPEAT" if message.repeat else "")


def item_label(item: Item) -> str:
    """``FIRING · WARNING`` for one item."""
    label = item.state.value.upper()
    return label + (f" · {item.severity.value.upper()}" if item.state is State.FIRING else "")


def headline(message: Message) -> str:
    """``[FIRING · CRITICAL] Order Completed stopped arriving`` — subject lines and fallbacks."""
    return f"[{state_label(message)}] {message.title}"


def where(item: Item) -> str:
    """``web/production · silence · Order Completed.cart_id``."""
    what = item.event + (f".{item.subject}" if item.subject else "")
    return " · ".join(p for p in (item.where, item.kind, what) if p)


def number(value: float | None) -> str:
    """``1,234`` / ``0.93`` / ``–`` for people."""
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.1f}"


def _short(value: Any) -> str:
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, int | float):
        text = number(value)
    else:
        text = str(value)
    return truncate(text, 80)


def evidence_lines(item: Item, limit: int = MAX_EVIDENCE) -> list[str]:
    """Up to ``limit`` ``key: value`` lines of scalar evidence (nested values are left to the dashboard)."""
    lines = []
    for key in sorted(item.evidence):
        value = item.evidence[key]
        if isinstance(value, str | int | float | bool):
            lines.append(f"{key}: {_short(value)}")
    return lines[:limit]


def journey_lines(message: Message) -> list[str]:
    """``Cart recovery (exit: Order Completed)`` for every journey at risk."""
    return [j.describe() for j in message.journeys]


def footer(message: Message) -> str:
    """``Event Health Monitor · route oncall``."""
    return PRODUCT + (f" · route {message.route}" if message.route else "")


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
