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

Other spellings compile to the same checks: a ``properties`` section whose mappings say
``required: true`` (default optional); ``items[].product_id: string`` for the items of an array
(at any depth); identify's ``traits`` for its ``properties``; ``events`` as a list of specs with a
``name``.

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


def _prop(name: str, raw: Any, required: bool | None, where: str) -> PropSpec:
    """One property; ``required``: its section's say (``None``: a ``properties`` section, where a
    mapping's own ``required: true`` decides and the default is optional)."""
    if isinstance(raw, str):
        return PropSpec(name, _types(raw, where), bool(required))
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: expected a type name or a mapping with `type`")
    unknown = set(raw) - {"type", "items", "description", "required"}
    if unknown:
        raise PlanError(f"{where}: unknown keys {sorted(map(str, unknown))}")
    own = raw.get("required")
    if own is not None and not isinstance(own, bool):
        raise PlanError(f"{where}.required: expected true or false")
    if own is not None and required is not None and own != required:
        section = "required" if required else "optional"
        raise PlanError(f"{where}: `required: {str(own).lower()}` in the `{section}` section (move it, or drop the flag)")
    types = _types(raw.get("type", "string"), where)
    items = None
    if "items" in raw:
        if "array" not in types:
            raise PlanError(f"{where}: `items` is only allowed on arrays")
        items = _object(raw["items"], f"{where}.items")
    return PropSpec(name, types, bool(required if own is None else own), items)


# Sections of an object spec and whether they make a property required (None: its own flag says).
_SECTIONS: dict[str, bool | None] = {"required": True, "optional": False, "properties": None}


def _object(raw: Any, where: str, *, aliases: dict[str, str] | None = None) -> ObjectSpec:
    """An object spec: ``required`` / ``optional`` / ``properties`` sections of property → type or
    mapping. A key ``arr[].prop`` plans ``prop`` in the items of array ``arr`` (declared as an
    optional array when it is not listed itself). ``aliases``: other names of sections (identify's
    ``traits`` is its ``properties``)."""
    if raw is None:
        return ObjectSpec()
    aliases = aliases or {}
    if not isinstance(raw, dict):
        raise PlanError(f"{where}: expected a mapping with `required` / `optional`")
    known = [*_SECTIONS, *aliases]
    unknown = set(raw) - set(known)
    if unknown:
        raise PlanError(f"{where}: unknown keys {sorted(map(str, unknown))} (expected {', '.join(f'`{k}`' for k in known)})")
    props: dict[str, PropSpec] = {}
    nested: dict[str, dict[str, dict[str, Any]]] = {}  # array → section → {item key → spec}
    for key in known:
        section, kind = raw.get(key) or {}, aliases.get(key, key)
        if not isinstance(section, dict):
            raise PlanError(f"{where}.{key}: expected a mapping of property → type")
        for name, spec in section.items():
            name = str(name)
            array, sep, rest = name.partition("[].")
            if sep and array and rest:
                nested.setdefault(array, {}).setdefault(kind, {})[rest] = spec
                continue
            if name in props:
                raise PlanError(f"{where}.{key}.{name}: planned twice")
            props[name] = _prop(name, spec, _SECTIONS[kind], f"{where}.{key}.{name}")
    for array, sections in nested.items():
        declared = props.get(array) or PropSpec(array, frozenset({"array"}), False)
        if "array" not in declared.types:
            raise PlanError(f"{where}: `{array}[]` items planned, but `{array}` is not an array")
        items = _object(sections, f"{where}.{array}[]")
        if declared.items is not None:
            twice = sorted(set(declared.items.props) & set(items.props))
            if twice:
                raise PlanError(f"{where}.{array}[]: {', '.join(twice)} planned twice")
            items = ObjectSpec({**declared.items.props, **items.props})
        props[array] = PropSpec(array, declared.types, declared.required, items)
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
    allowed = {*_SECTIONS, "entity_id", "json_schema", "json_schema_file", "description"}
    unknown = set(raw) - allowed
    if unknown:
        raise PlanError(f"{where}: unknown keys {sorted(map(str, unknown))}")
    if "json_schema" in raw or "json_schema_file" in raw:
        spec = object_from_json_schema(_load_schema(raw, base, where))
    else:
        spec = _object({k: raw[k] for k in _SECTIONS if k in raw}, where)
    entity = raw.get("entity_id")
    if entity is None:
        lowered = name.lower()
        entity = next((v for k, v in ENTITY_DEFAULTS.items() if k in lowered and v in spec.props), None)
    return EventSpec(name, spec, str(entity) if entity else None)


def _named(specs: list[Any], origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            raise PlanError(f"plan {origin}: events[{i}]: expected a mapping with a `name`")
        if spec["name"] in out:
            raise PlanError(f"plan {origin}: events[{i}]: {spec['name']!r} is planned twice")
        out[spec["name"]] = {k: v for k, v in spec.items() if k != "name"}
    return out


def parse_plan(data: Any, origin: str = "<plan>", base: Path | None = None) -> Plan:
    """Compile a decoded plan document."""
    if not isinstance(data, dict):
        raise PlanError(f"plan {origin}: expected a mapping with `events`")
    unknown = set(data) - {"name", "version", "events", "identify", "description"}
    if unknown:
        raise PlanError(f"plan {origin}: unknown keys {sorted(map(str, unknown))}")
    events_raw = data.get("events") or {}
    if isinstance(events_raw, list):  # a list of specs, each with its `name`
        events_raw = _named(events_raw, origin)
    if not isinstance(events_raw, dict):
        raise PlanError(f"plan {origin}: `events` must map event names to specs (or list specs with a `name`)")
    base = base or Path(".")
    try:
        events = {str(n): _event(str(n), spec, base) for n, spec in events_raw.items()}
        identify_raw = data.get("identify")
        if isinstance(identify_raw, dict) and ("json_schema" in identify_raw or "json_schema_file" in identify_raw):
            identify = object_from_json_schema(_load_schema(identify_raw, base, "identify"))
        else:
            identify = _object(identify_raw, "identify", aliases={"traits": "properties"})
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
