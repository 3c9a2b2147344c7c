"""Pure loaders: (store, config, window) in, pandas frames out. No Streamlit here, so tests and
the speed benchmark call them directly; :mod:`monitors.ui.data` wraps them in caches."""

from __future__ import annotations

KEY = ["source", "environment", "event"]
ACTIVE = ("open", "acknowledged")
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
