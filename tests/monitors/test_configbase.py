"""YAML as configs and plans read it: duplicate keys are errors, and keys stay the text written."""

from __future__ import annotations

import pytest
import yaml

from monitors.configbase import load_yaml


def test_a_key_given_twice_is_an_error() -> None:
    with pytest.raises(yaml.YAMLError, match="duplicate key 'sources'"):
        load_yaml("sources: []\nbucket: 5m\nsources: [x]\n")


def test_yes_no_on_off_keys_stay_text_and_values_stay_booleans() -> None:
    # YAML 1.1 reads yes / no / on / off as booleans: a property named `on` became True
    got = load_yaml("yes: 1\nOn: 2\nno: [a]\n'off': 3\ntrue: 4\nenabled: yes\nnested: {off: on, y: n}\n")
    assert got == {"yes": 1, "On": 2, "no": ["a"], "off": 3, True: 4, "enabled": True, "nested": {"off": True, "y": "n"}}
