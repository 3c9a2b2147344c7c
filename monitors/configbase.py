"""Base for every config section: strict (unknown keys are errors), immutable."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config section. Unknown keys are rejected; values are validated on load."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML keeps the last one
    silently: a second ``sources:`` would quietly replace the first)."""


_BOOL_TAG = "tag:yaml.org,2002:bool"


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        # YAML 1.1 reads the keys yes / no / on / off as booleans: a property or event named `on`
        # would become True. As keys they stay the text written (true / false still are booleans).
        if (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _BOOL_TAG and not key_node.style
                and key_node.value.lower() not in ("true", "false")):  # fmt: skip
            key_node.tag = "tag:yaml.org,2002:str"
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_mapping(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str) -> Any:
    """Parse YAML (or JSON) text; a key given twice in one mapping is an error (``yaml.YAMLError``)."""
    return yaml.load(text, Loader=_StrictLoader)
