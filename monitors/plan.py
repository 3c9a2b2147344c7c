"""Tracking plan: load a YAML plan (or a JSON Schema per event) and compile it to checks.

YAML shape::

    name: D2C retention contract
    version: 1
    events:
      Added to Cart:
        entity_id: cart_id                 # missing → missing_entity_id
        required: {cart_id: string, items: {type: array, items: {required: {...}}}, cart_value: number}
        optional: {currency: string}
      Order Completed:
        json_schema: {...}                 # or json_schema_file: schemas/order.json
    identify:
      required: {}
      optional: {email: string, ...}

Types: string, number, integer, boolean, array, object, or a union such as ``integer|string``.
JSON Schemas are translated to the same model (``type``, ``properties``, ``required``, ``items``);
Segment Protocols exports (event properties under ``properties.properties``) are recognised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from monitors.configbase import load_yaml
from monitors.errors import PlanError

TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
ENTITY_DEFAULTS = {"cart": "cart_id", "checkout": "cart_id", "order": "order_id"}


@dataclass(frozen=True)
class PropSpec:
    """One planned property: its allowed types, whether required, and an item schema for arrays."""

    name: str
    types: frozenset[str]
    required: bool
    items: ObjectSpec | None = None


@dataclass(frozen=True)
class ObjectSpec:
    """The planned properties of an event, of identify traits, or of array items."""

    props: dict[str, PropSpec] = field(default_factory=dict)

    @property
    def required(self) -> list[PropSpec]:
        """Required properties, in plan order."""
        return [p for p in self.props.values() if p.required]


@dataclass(frozen=True)
class EventSpec:
    """A planned event."""

    name: str
    spec: ObjectSpec
    entity_id: str | None = None


@dataclass(frozen=True)
class Plan:
    """A compiled tracking plan."""

    name: str
    version: str
    events: dict[str, EventSpec]
    identify: ObjectSpec
    origin: str = "<builtin>"

    def property_names(self) -> list[str]:
        """Every planned property name of every event (union, sorted)."""
        names = {p for ev in self.events.values() for p in ev.spec.props}
        return sorted(names)


def _types(value: Any, where: str) -> frozenset[str]:
    parts = [p.strip() for p in str(value).split("|")]
    bad = [p for p in parts if p not in TYPES]
    if bad or not parts:
        raise PlanError(f"{where}: unknown type {value!r} (use one of {', '.join(sorted(TYPES))}, or a union a|b)")
    return frozenset(parts)


def _prop(name: str, raw: Any, required: bool, where: str) -> PropSpec:
    if isinstance(raw, str):
        return PropSpec(name, _types(raw, where), required)
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: expected a type name or a mapping with `type`")
    unknown = set(raw) - {"type", "items", "description"}
    if unknown:
        raise PlanError(f"{where}: unknown keys {sorted(unknown)}")
    types = _types(raw.get("type", "string"), where)
    items = None
    if "items" in raw:
        if "array" not in types:
            raise PlanError(f"{where}: `items` is only allowed on arrays")
        items = _object(raw["items"], f"{where}.items")
    return PropSpec(name, types, required, items)


def _object(raw: Any, where: str) -> ObjectSpec:
    if raw is None:
        return ObjectSpec()
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: expected a mapping with `required` / `optional`")
    unknown = set(raw) - {"required", "optional"}
    if unknown:
        raise PlanError(f"{where}: unknown keys {sorted(unknown)} (expected `required`, `optional`)")
    props: dict[str, PropSpec] = {}
    for kind in ("required", "optional"):
        section = raw.get(kind) or {}
        if not isinstance(section, dict):
            raise PlanError(f"{where}.{kind}: expected a mapping of property → type")
        for name, spec in section.items():
            props[str(name)] = _prop(str(name), spec, kind == "required", f"{where}.{kind}.{name}")
    return ObjectSpec(props)


def _schema_types(schema: dict[str, Any]) -> frozenset[str]:
    raw = schema.get("type", "string")
    values = raw if isinstance(raw, list) else [raw]
    kept = frozenset(str(v) for v in values if v != "null") & TYPES
    return kept or frozenset({"string"})


def object_from_json_schema(schema: dict[str, Any]) -> ObjectSpec:
    """Translate a JSON Schema object to the plan model (Segment Protocols wrappers unwrapped)."""
    props = schema.get("properties") or {}
    inner = props.get("properties")
    if isinstance(inner, dict) and isinstance(inner.get("properties"), dict):
        schema, props = inner, inner["properties"]
    required = set(schema.get("required") or [])
    out: dict[str, PropSpec] = {}
    for name, sub in props.items():
        sub = sub if isinstance(sub, dict) else {}
        types = _schema_types(sub)
        items = None
        if "array" in types and isinstance(sub.get("items"), dict) and sub["items"].get("properties"):
            items = object_from_json_schema(sub["items"])
        out[name] = PropSpec(name, types, name in required, items)
    return ObjectSpec(out)


def _load_schema(raw: dict[str, Any], base: Path, where: str) -> dict[str, Any]:
    if "json_schema_file" in raw:
        path = base / str(raw["json_schema_file"])
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PlanError(f"{where}: cannot read JSON Schema {path}: {exc}") from exc
    else:
        schema = raw["json_schema"]
    if not isinstance(schema, dict):
        raise PlanError(f"{where}: a JSON Schema must be an object")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise PlanError(f"{where}: invalid JSON Schema: {exc.message}") from exc
    return schema


def _event(name: str, raw: Any, base: Path) -> EventSpec:
    where = f"events.{name}"
    raw = raw or {}
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: expected a mapping")
    allowed = {"required", "optional", "entity_id", "json_schema", "json_schema_file", "description"}
    unknown = set(raw) - allowed
    if unknown:
        raise PlanError(f"{where}: unknown keys {sorted(unknown)}")
    if "json_schema" in raw or "json_schema_file" in raw:
        spec = object_from_json_schema(_load_schema(raw, base, where))
    else:
        spec = _object({k: raw[k] for k in ("required", "optional") if k in raw}, where)
    entity = raw.get("entity_id")
    if entity is None:
        lowered = name.lower()
        entity = next((v for k, v in ENTITY_DEFAULTS.items() if k in lowered and v in spec.props), None)
    return EventSpec(name, spec, str(entity) if entity else None)


def parse_plan(data: Any, origin: str = "<plan>", base: Path | None = None) -> Plan:
    """Compile a decoded plan document."""
    if not isinstance(data, dict):
        raise PlanError(f"plan {origin}: expected a mapping with `events`")
    unknown = set(data) - {"name", "version", "events", "identify", "description"}
    if unknown:
        raise PlanError(f"plan {origin}: unknown keys {sorted(unknown)}")
    events_raw = data.get("events") or {}
    if not isinstance(events_raw, dict):
        raise PlanError(f"plan {origin}: `events` must map event names to specs")
    base = base or Path(".")
    try:
        events = {str(n): _event(str(n), spec, base) for n, spec in events_raw.items()}
        identify_raw = data.get("identify")
        if isinstance(identify_raw, dict) and ("json_schema" in identify_raw or "json_schema_file" in identify_raw):
            identify = object_from_json_schema(_load_schema(identify_raw, base, "identify"))
        else:
            identify = _object(identify_raw, "identify")
    except PlanError as exc:
        raise PlanError(f"plan {origin}: {exc}") from exc
    return Plan(str(data.get("name", origin)), str(data.get("version", "1")), events, identify, origin)


def load_plan(path: str | Path | None = None) -> Plan:
    """Load a plan file (YAML or JSON); ``None`` gives the built-in D2C plan."""
    if path is None:
        text = resources.files("monitors.plans").joinpath("d2c.yaml").read_text(encoding="utf-8")
        return parse_plan(yaml.safe_load(text), "builtin:d2c.yaml")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = load_yaml(text)
    except OSError as exc:
        raise PlanError(f"cannot read tracking plan {p}: {exc.strerror or exc} — check --plan") from exc
    except yaml.YAMLError as exc:
        raise PlanError(f"tracking plan {p} is not valid YAML/JSON: {exc}") from exc
    return parse_plan(data, str(p), p.parent)
