"""Tracking plans: the spellings a plan may use compile to the same checks; mistakes are clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitors.errors import PlanError
from monitors.plan import PropSpec, load_plan, parse_plan

ITEM = {"required": {"product_id": "string", "quantity": "integer"}, "optional": {"sku": "string"}}
CANONICAL = {
    "version": 3,
    "events": {
        "Added to Cart": {
            "required": {"cart_id": "string", "items": {"type": "array", "items": ITEM}},
            "optional": {"currency": "string"},
        },
    },
    "identify": {"required": {"email": "string"}, "optional": {"accepts_sms": "boolean"}},
}


def _spellings() -> dict[str, dict[str, Any]]:
    return {
        # per-property `required` flags in a `properties` section (JSON-Schema-like plans)
        "properties": {
            "version": 3,
            "events": {"Added to Cart": {"properties": {
                "cart_id": {"type": "string", "required": True},
                "items": {"type": "array", "required": True, "items": {"properties": {
                    "product_id": {"type": "string", "required": True}, "quantity": {"type": "integer", "required": True},
                    "sku": "string"}}},
                "currency": "string"}}},
            "identify": {"traits": {"email": {"type": "string", "required": True}, "accepts_sms": "boolean"}},
        },
        # the items' properties flattened as `items[].name`, the array itself declared beside them
        "flattened": {
            "version": 3,
            "events": {"Added to Cart": {
                "required": {"cart_id": "string", "items": "array", "items[].product_id": "string", "items[].quantity": "integer"},
                "optional": {"currency": "string", "items[].sku": "string"}}},
            "identify": {"required": {"email": "string"}, "optional": {"accepts_sms": "boolean"}},
        },
        # events as a list of specs with their `name`
        "listed": {
            "version": 3,
            "events": [{"name": "Added to Cart", **CANONICAL["events"]["Added to Cart"]}],
            "identify": {"required": {"email": "string"}, "traits": {"accepts_sms": "boolean"}},
        },
    }  # fmt: skip


@pytest.mark.parametrize("spelling", sorted(_spellings()))
def test_every_spelling_compiles_to_the_same_checks(spelling: str) -> None:
    expected = parse_plan(CANONICAL, "p")
    plan = parse_plan(_spellings()[spelling], "p")
    assert plan.events == expected.events
    assert plan.identify == expected.identify
    cart = plan.events["Added to Cart"]
    assert [p.name for p in cart.spec.required] == ["cart_id", "items"] and cart.entity_id == "cart_id"
    items = cart.spec.props["items"].items
    assert items is not None and {n: (sorted(p.types), p.required) for n, p in items.props.items()} == {
        "product_id": (["string"], True), "quantity": (["integer"], True), "sku": (["string"], False)}  # fmt: skip


def test_flattened_items_alone_declare_an_optional_array_and_nest() -> None:
    plan = parse_plan({"events": {"Order Completed": {"required": {"items[].product_id": "string",
                                                                   "items[].options[].name": "string"}}}})  # fmt: skip
    items = plan.events["Order Completed"].spec.props["items"]
    assert (items.types, items.required) == (frozenset({"array"}), False)
    assert items.items is not None and items.items.props["product_id"] == PropSpec("product_id", frozenset({"string"}), True)
    options = items.items.props["options"]
    assert options.items is not None and options.items.props == {"name": PropSpec("name", frozenset({"string"}), True)}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"events": {"A": {"required": {"x": {"type": "string", "required": False}}}}},
         "events.A.required.x: `required: false` in the `required` section"),
        ({"events": {"A": {"required": {"x": "string"}, "properties": {"x": "number"}}}}, "events.A.properties.x: planned twice"),
        ({"events": {"A": {"required": {"x": "string", "x[].y": "string"}}}}, "`x[]` items planned, but `x` is not an array"),
        ({"events": {"A": {"required": {"items": {"type": "array", "items": {"required": {"y": "string"}}},
                                         "items[].y": "number"}}}}, "events.A.items[]: y planned twice"),
        ({"events": {"A": {"properties": {"x": {"type": "string", "required": "yes"}}}}}, "events.A.properties.x.required: expected true or false"),
        ({"events": [{"required": {"x": "string"}}]}, "events[0]: expected a mapping with a `name`"),
        ({"events": [{"name": "A"}, {"name": "A"}]}, "events[1]: 'A' is planned twice"),
        ({"identify": {"trait": {"email": "string"}}}, "identify: unknown keys ['trait'] (expected `required`, `optional`, `properties`, `traits`)"),
        ({"events": {"A": {"traits": {"x": "string"}}}}, "events.A: unknown keys ['traits']"),
        # YAML keys that are not strings (`1:`, `yes:`) among unknown keys: named, not a TypeError
        ({"events": {"A": {2: "x", False: "y", "opt": {}}}}, "events.A: unknown keys ['2', 'False', 'opt']"),
        ({"identify": {None: {}, "required": {}, 2: {}}}, "identify: unknown keys ['2', 'None']"),
        ({"events": {}, 3: 1, "x": 2}, "unknown keys ['3', 'x']"),
    ],
)  # fmt: skip
def test_plan_mistakes_say_where_and_what(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError) as err:
        parse_plan(doc, "p.yaml")
    assert str(err.value).startswith("plan p.yaml: ") and message in str(err.value)


def test_the_built_in_plan_is_the_seed_contract() -> None:
    plan = load_plan()
    assert {n: [p.name for p in e.spec.required] for n, e in plan.events.items()} == {
        "Product Viewed": ["product_id", "variant_id", "category", "price"],
        "Added to Cart": ["cart_id", "items", "cart_value"],
        "Checkout Started": ["cart_id", "checkout_id", "items", "cart_value"],
        "Order Completed": ["order_id", "items", "revenue"],
    }
    assert {n: e.entity_id for n, e in plan.events.items()} == {
        "Product Viewed": None, "Added to Cart": "cart_id", "Checkout Started": "cart_id", "Order Completed": "order_id"}  # fmt: skip
    assert "discount_code" in plan.events["Order Completed"].spec.props
    assert set(plan.identify.props) >= {"email", "phone", "first_name", "accepts_sms", "marketing_opt_in", "first_order_date",
                                        "last_order_date", "lifetime_value"}  # fmt: skip


def test_a_plan_file_in_the_flattened_spelling_loads(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("version: 2\nevents:\n  Order Completed:\n    required:\n      order_id: string\n      items: array\n"
                    "      items[].product_id: string\n", encoding="utf-8")  # fmt: skip
    plan = load_plan(path)
    assert plan.version == "2" and plan.origin == str(path)
    items = plan.events["Order Completed"].spec.props["items"].items
    assert items is not None and list(items.props) == ["product_id"]


def test_properties_named_like_yaml_booleans_keep_their_names(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("events:\n  Toggle Switched:\n    required: {on: boolean, off: boolean}\n    optional: {yes: string}\n",
                    encoding="utf-8")  # fmt: skip
    spec = load_plan(path).events["Toggle Switched"].spec
    assert [(p.name, p.required) for p in spec.props.values()] == [("on", True), ("off", True), ("yes", False)]
