"""Tracking plan: planned vs seen events and properties, coverage, and near-duplicate names
(``Order Completed`` / ``order_completed`` / ``OrderCompleted``) that usually mean a rename or
a second tracking call site."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import pandas as pd

from monitors.plan import Plan
from monitors.ui.window import Window
from storage import Store

SEEN_TYPES = {"VARCHAR": "string", "DOUBLE": "number", "FLOAT": "number", "DECIMAL": "number", "BIGINT": "integer",
              "INTEGER": "integer", "UBIGINT": "integer", "HUGEINT": "integer", "BOOLEAN": "boolean",
              "ARRAY": "array", "LIST": "array", "STRUCT": "object", "OBJECT": "object", "MAP": "object",
              "JSON": "object", "NULL": "null", "string": "string", "number": "number", "integer": "integer",
              "boolean": "boolean", "array": "array", "object": "object", "null": "null"}  # fmt: skip
SIMILARITY = 0.85


@dataclass(frozen=True)
class PlanView:
    """The page's data."""

    name: str
    events: pd.DataFrame
    """event, planned, seen, count, status (ok | not seen | unplanned)"""
    properties: pd.DataFrame
    """event, property, planned, required, planned_types, seen_types, count, status"""
    coverage: dict[str, float]
    near_duplicates: pd.DataFrame
    """a, b, reason"""


def normalise(name: str) -> str:
    """Lower case, letters and digits only: ``Order Completed`` → ``ordercompleted``."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def near_duplicates(names: list[str]) -> pd.DataFrame:
    """Pairs of different names that normalise alike or are nearly identical."""
    rows = []
    ordered = sorted(set(names))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            na, nb = normalise(a), normalise(b)
            if na and na == nb:
                rows.append((a, b, "same letters (case, spaces or punctuation differ)"))
            elif na and nb and difflib.SequenceMatcher(None, na, nb).ratio() >= SIMILARITY:
                rows.append((a, b, f"{difflib.SequenceMatcher(None, na, nb).ratio():.0%} similar"))
    return pd.DataFrame(rows, columns=["a", "b", "reason"])


def _seen_type(json_type: str) -> str:
    return SEEN_TYPES.get(json_type, SEEN_TYPES.get(json_type.upper(), json_type.lower()))


def _events(plan: Plan, seen: pd.Series) -> pd.DataFrame:
    names = sorted(set(plan.events) | set(seen.index))
    rows = []
    for name in names:
        planned, count = name in plan.events, int(seen.get(name, 0))
        status = "ok" if planned and count else ("not seen" if planned else "unplanned")
        rows.append((name, planned, count > 0, count, status))
    return pd.DataFrame(rows, columns=["event", "planned", "seen", "count", "status"])


def _properties(plan: Plan, stats: pd.DataFrame) -> pd.DataFrame:
    seen: dict[tuple[str, str], tuple[set[str], int]] = {}
    for r in stats.itertuples(index=False):
        types, count = seen.get((r.event, r.property), (set(), 0))
        seen[(r.event, r.property)] = (types | {_seen_type(str(r.json_type))}, count + int(r.count))
    rows = []
    for name, spec in plan.events.items():
        for prop in spec.spec.props.values():
            types, count = seen.pop((name, prop.name), (set(), 0))
            wrong = bool(types - set(prop.types) - {"null"} - ({"integer"} if "number" in prop.types else set()))
            status = "not seen" if not count else ("type differs" if wrong else "ok")
            rows.append((name, prop.name, True, prop.required, "|".join(sorted(prop.types)), "|".join(sorted(types)),
                         count, status))  # fmt: skip
    for (name, prop_name), (types, count) in sorted(seen.items()):
        if name in plan.events:
            rows.append((name, prop_name, False, False, "", "|".join(sorted(types)), count, "unplanned"))
    cols = ["event", "property", "planned", "required", "planned_types", "seen_types", "count", "status"]
    return pd.DataFrame(rows, columns=cols)


def plan_view(store: Store, plan: Plan, win: Window) -> PlanView:
    """Compare the plan with what the window's traffic carried (``$identify`` and friends excluded)."""
    totals = store.ui_series_totals(win.since, win.until, width=win.width)
    tracked = totals[~totals["event"].str.startswith("$")] if not totals.empty else totals
    seen = tracked.groupby("event")["count"].sum() if not tracked.empty else pd.Series(dtype="int64")
    events = _events(plan, seen)
    stats = store.ui_property_stats(win.since, win.until)
    props = _properties(plan, stats[~stats["event"].str.startswith("$")] if not stats.empty else stats)
    planned_props = props[props["planned"]]
    seen_events = int((events["seen"]).sum())
    coverage = {
        "planned_events_seen": float((events["planned"] & events["seen"]).sum() / max(1, events["planned"].sum())),
        "seen_events_planned": float((events["planned"] & events["seen"]).sum() / max(1, seen_events)),
        "planned_properties_seen": float((planned_props["count"] > 0).sum() / max(1, len(planned_props))),
        "traffic_planned": float(events.loc[events["planned"], "count"].sum() / max(1, events["count"].sum())),
    }
    return PlanView(plan.name, events, props, coverage, near_duplicates(list(events["event"])))
