"""Detectors: one module per detector, registered by module name.

A module of this package is a detector when it defines ``create(config: DetectorsConfig) ->
Detector`` (see :mod:`monitors.detectors.base`); the other modules are its helpers.
:func:`registry` imports them all and returns the enabled detectors sorted by ``order``, so a
new detector (rename, leakage, schema drift…) only has to add its module.
"""

from __future__ import annotations

import importlib
import pkgutil

from monitors.detectors.base import Detector
from monitors.detectors.config import DetectorsConfig


def available() -> list[str]:
    """Names of every detector module (sorted)."""
    names = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "create", None)):
            names.append(info.name)
    return sorted(names)


def create(name: str, config: DetectorsConfig) -> Detector:
    """The detector of module ``name``."""
    module = importlib.import_module(f"{__name__}.{name}")
    detector: Detector = module.create(config)
    return detector


def registry(config: DetectorsConfig | None = None, only: list[str] | None = None) -> list[Detector]:
    """The enabled detectors (or those named in ``only``), in running order."""
    config = config or DetectorsConfig()
    names = [n for n in available() if n not in config.disabled and (only is None or n in only)]
    return sorted((create(n, config) for n in names), key=lambda d: (d.order, d.name))


__all__ = ["available", "create", "registry"]
