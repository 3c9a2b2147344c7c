"""Imports every module that defines tables, so the shared metadata is complete."""

from storage import tables, tables_alerts, tables_customerio, tables_findings  # noqa: F401
from storage import tables_detectors  # noqa: F401,E402
from storage import tables_warehouse  # noqa: F401
from storage import tables_jobs  # noqa: F401,E402
