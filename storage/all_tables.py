"""Imports every module that defines tables, so the shared metadata is complete."""

from storage import (  # noqa: F401
    tables,
    tables_alerts,
    tables_customerio,
    tables_detectors,
    tables_findings,
    tables_jobs,
    tables_warehouse,
)
